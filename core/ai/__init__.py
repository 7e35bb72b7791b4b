"""AI backends chosen in settings (`AI_BACKEND`): `builtin` (offline, rule-based) and `openai`.

Import what callers need from here: `get_backend`, the request/result types and the errors.
The backends themselves import lazily (`core.ai.registry`), so importing this package is cheap.
Category names are plain strings (`ImageCategory`); the package imports no app.
"""

from core.ai.base import (
    AIBackend,
    AIError,
    AIInvalidImage,
    AIRefused,
    AIUnavailable,
    AIUnsupported,
    CaptionRequest,
    CaptionResult,
    Classification,
    ImageCategory,
    ImageInput,
    TextResult,
)
from core.ai.registry import get_backend

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
    "get_backend",
]
