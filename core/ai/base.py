"""The small, typed contract every AI backend keeps.

Callers (caption scans, image captions, later text features) depend only on this module, so the
backend can be swapped in settings (`AI_BACKEND`) without touching them. Errors are split by what
the caller should do next: `AIUnavailable` means "try again later", `AIRefused` means "this input
will not be answered", anything else `AIError` means "fix the configuration or the input".
Error messages name the server and the HTTP status, never a credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "AIBackend",
    "AIError",
    "AIInvalidImage",
    "AIRefused",
    "AIUnavailable",
    "AIUnsupported",
    "CaptionRequest",
    "CaptionResult",
    "Classification",
    "ImageCategory",
    "ImageInput",
    "TextResult",
]

DEFAULT_TEXT_MAX_TOKENS = 512


@dataclass(frozen=True, kw_only=True)
class ImageInput:
    """Image bytes as stored (JPEG/PNG after normalisation) and their MIME type."""

    data: bytes
    mime_type: str

    def __repr__(self) -> str:  # never dump megabytes into logs or tracebacks
        return f"ImageInput(mime_type={self.mime_type!r}, size={len(self.data)})"


@dataclass(frozen=True, kw_only=True)
class CaptionRequest:
    """One caption to write.

    `prompt` is the user prompt (per image category, chosen by the caller); `language` a BCP 47
    code or None for "whatever the model picks"; `max_length` the caller's character budget, a
    hint to the backend (the caller still cuts at a sentence boundary); `model` overrides the
    configured vision model (the fallback chain's backup model); `system` overrides the backend's
    default system prompt.
    """

    image: ImageInput
    prompt: str
    language: str | None = None
    max_length: int = 1500
    model: str | None = None
    system: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaptionResult:
    text: str
    model: str
    backend: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TextResult:
    text: str
    model: str
    backend: str
    metadata: dict[str, Any] = field(default_factory=dict)


class ImageCategory:
    """The categories `classify_image` answers with, as plain strings.

    The kernel imports no app, so this list is the contract: captions.models.ImageCategory (the
    column's choices, with their labels) keeps exactly these values, and a test there checks it.
    """

    PHOTO_PEOPLE = "photo_people"
    LANDSCAPE = "landscape"
    FOOD = "food"
    ANIMAL = "animal"
    OBJECT = "object"
    ARTWORK = "artwork"
    SCREENSHOT_TEXT = "screenshot_text"
    CHART = "chart"
    OTHER = "other"
    values: tuple[str, ...] = (
        PHOTO_PEOPLE,
        LANDSCAPE,
        FOOD,
        ANIMAL,
        OBJECT,
        ARTWORK,
        SCREENSHOT_TEXT,
        CHART,
        OTHER,
    )


class Classification(NamedTuple):
    """`classify_image`'s answer; unpacks as `(category, confidence)`, confidence 0.0-1.0."""

    category: str  # one of ImageCategory.values
    confidence: float


@runtime_checkable
class AIBackend(Protocol):
    name: str

    def caption_image(self, request: CaptionRequest) -> CaptionResult: ...

    def classify_image(self, image: ImageInput, *, model: str | None = None) -> Classification: ...

    def complete_text(
        self,
        *,
        system: str,
        prompt: str,
        model: str | None = None,
        max_tokens: int = DEFAULT_TEXT_MAX_TOKENS,
    ) -> TextResult: ...


class AIError(Exception):
    """An AI call failed for a reason retrying will not fix (configuration, credentials, input)."""

    reason = "error"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class AIUnavailable(AIError):
    """Transient: timeout, connection error, 408/429/5xx, or a malformed answer.

    `retry_after` (seconds) is what the server asked for, when it said so; `retry_reason` a short
    label for retry statistics ("timeout", "connection", "malformed"; the HTTP status when None).
    """

    reason = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retry_reason: str | None = None,
    ):
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.retry_reason = retry_reason


class AIRefused(AIError):
    """The model or the server's moderation refused this input; asking again will not help."""

    reason = "refused"


class AIUnsupported(AIError):
    """The configured backend cannot do this kind of work at all."""

    reason = "unsupported"


class AIInvalidImage(AIError):
    """The image could not be read or is too large to analyse."""

    reason = "invalid_image"
