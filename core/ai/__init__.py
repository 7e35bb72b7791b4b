"""AI backends chosen in settings (`AI_BACKEND`): `builtin` (offline, rule-based) and `openai`.

Import what callers need from here: `get_backend`, `backend_for(user=...)` (a person's work: it
honours their builtin-only preference), `ai_disclosure`, the request/result types and the errors.
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
from core.ai.disclosure import AIDisclosure, ai_disclosure
from core.ai.registry import backend_for, backend_name_for, get_backend

__all__ = [
    "AIBackend",
    "AIDisclosure",
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
    "ai_disclosure",
    "backend_for",
    "backend_name_for",
    "get_backend",
]
