"""The small, typed contract every image backend keeps (builtin, openai, imagefx).

Callers (prompt generation, persona images, captions of generated images) depend only on this
module, so the backend can be swapped in settings (`IMAGE_BACKEND`) or per call. Errors are split by
what the caller should do next:
- `ImageBackendUnavailable`: try again later (timeout, 429 with `retry_after`, 5xx, malformed body);
- `ImageBackendRefused`: this prompt or image will not be answered (moderation); do not retry;
- `ImageBackendAuthError`: the cookie or key was rejected or is missing; the user must fix it;
- anything else `ImageBackendError`: configuration or input.
Messages are safe to store on a row and show to the user: they name the server and the HTTP status,
never a cookie, token or key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from generation.models import MAX_IMAGES_PER_PROMPT, AspectRatio, GenerationModel

__all__ = [
    "ImageBackend",
    "ImageBackendAuthError",
    "ImageBackendError",
    "ImageBackendRefused",
    "ImageBackendUnavailable",
    "ImageRequest",
    "ImageResult",
]


@dataclass(frozen=True, kw_only=True)
class ImageRequest:
    """What to draw. `reference` is a base image to make variations of (persona image sets)."""

    prompt: str
    seed: int = 0
    count: int = 1
    aspect_ratio: str = AspectRatio.SQUARE.value
    model: str = GenerationModel.IMAGEN_3.value
    reference: bytes | None = None

    def __post_init__(self) -> None:
        # Programming errors of the caller (the API validates user input before this point).
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ImageBackendError("An image needs a prompt.")
        if not 1 <= int(self.count) <= MAX_IMAGES_PER_PROMPT:
            raise ImageBackendError(f"Between 1 and {MAX_IMAGES_PER_PROMPT} images can be asked for at once.")
        if int(self.seed) < 0:
            raise ImageBackendError("The seed cannot be negative.")
        if self.aspect_ratio not in AspectRatio.values:
            raise ImageBackendError(f"Unknown aspect ratio {self.aspect_ratio!r}.")

    def __repr__(self) -> str:  # never dump a reference image into logs or tracebacks
        reference = f"{len(self.reference)} bytes" if self.reference is not None else None
        return (
            f"ImageRequest(prompt={self.prompt[:40]!r}, seed={self.seed}, count={self.count}, "
            f"aspect_ratio={self.aspect_ratio!r}, model={self.model!r}, reference={reference})"
        )


@dataclass(frozen=True, kw_only=True)
class ImageResult:
    """One image a backend produced, with what the `GeneratedImage` row keeps of it."""

    data: bytes
    mime_type: str
    seed: int | None
    media_generation_id: str
    model: str
    fingerprint_log_record_id: str | None = None
    workflow_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"ImageResult(media_generation_id={self.media_generation_id!r}, mime_type={self.mime_type!r}, "
            f"size={len(self.data)}, seed={self.seed}, model={self.model!r})"
        )


class ImageBackendError(Exception):
    """Configuration or input; the message is safe to show, never a cookie or key."""

    reason = "error"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ImageBackendAuthError(ImageBackendError):
    """The cookie or key is missing, expired or rejected: the user must renew it."""

    reason = "auth"


class ImageBackendUnavailable(ImageBackendError):
    """Transient: timeout, connection error, 429 (`retry_after` seconds when the server said), 5xx,
    malformed body. `retry_reason` labels it for retry statistics."""

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
        self.retry_reason = retry_reason or (str(status) if status is not None else "unavailable")


class ImageBackendRefused(ImageBackendError):
    """The service's moderation or safety filter refused this prompt or image; retrying will not help."""

    reason = "refused"


@runtime_checkable
class ImageBackend(Protocol):
    name: str  # "builtin" | "openai" | "imagefx"

    def generate(self, request: ImageRequest) -> list[ImageResult]: ...

    def caption(self, *, data: bytes, mime_type: str, count: int = 1) -> list[str]: ...
