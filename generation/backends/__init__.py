"""Image backends chosen in settings (`IMAGE_BACKEND`): builtin (offline), openai, imagefx.

Import what callers need from here; the backends themselves import lazily (`registry`).
"""

from generation.backends.base import (
    ImageBackend,
    ImageBackendAuthError,
    ImageBackendError,
    ImageBackendRefused,
    ImageBackendUnavailable,
    ImageRequest,
    ImageResult,
)
from generation.backends.registry import image_backend_for

__all__ = [
    "ImageBackend",
    "ImageBackendAuthError",
    "ImageBackendError",
    "ImageBackendRefused",
    "ImageBackendUnavailable",
    "ImageRequest",
    "ImageResult",
    "image_backend_for",
]
