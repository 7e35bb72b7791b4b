"""Which image backend runs: `settings.IMAGE_BACKEND`, or a name the caller passes.

A fresh backend per call, so changed settings and keys take effect at once. The ImageFX backend
needs the user's own labs.google cookie: their active `imagefx` platform connection (the default
one first, then the most recently used).
"""

from __future__ import annotations

from django.conf import settings

from generation.backends.base import ImageBackend, ImageBackendAuthError, ImageBackendError

BACKEND_NAMES = ("builtin", "imagefx", "openai")
NO_CONNECTION = (
    "Add an ImageFX connection (your labs.google cookie) under platform connections to generate "
    "images with ImageFX."
)


def image_backend_for(*, user, name: str | None = None) -> ImageBackend:
    """The backend `name` (default settings.IMAGE_BACKEND) for `user`; always the builtin one when
    `user` chose builtin AI only (`User.ai_builtin_only`): their prompts and reference images stay
    on this machine.

    ImageBackendError for an unknown name; ImageBackendAuthError for imagefx without an active
    connection.
    """
    from core.ai.registry import BUILTIN, builtin_only

    if builtin_only(user):
        name = BUILTIN
    configured = name if name is not None else getattr(settings, "IMAGE_BACKEND", "builtin")
    chosen = (configured or "").strip().lower()
    if chosen == "builtin":
        from generation.backends.builtin import BuiltinImageBackend

        return BuiltinImageBackend()
    if chosen == "openai":
        from generation.backends.openai_images import OpenAIImageBackend

        return OpenAIImageBackend()
    if chosen == "imagefx":
        from generation.backends.imagefx import ImageFXBackend

        connection = imagefx_connection_of(user=user)
        if connection is None:
            raise ImageBackendAuthError(NO_CONNECTION)
        return ImageFXBackend(cookie=connection.access_token)
    raise ImageBackendError(
        f"Unknown image backend {chosen!r} (setting IMAGE_BACKEND); valid names are "
        f"{', '.join(BACKEND_NAMES)}."
    )


def imagefx_connection_of(*, user):
    """The user's active ImageFX connection: the default one first, then the most recently used."""
    from django.db.models import F

    from platforms.models import PlatformConnection, PlatformType

    if user is None or not getattr(user, "pk", None):
        return None
    return (
        PlatformConnection.objects.filter(user=user, platform_type=PlatformType.IMAGEFX, is_active=True)
        .order_by("-is_default", F("last_used").desc(nulls_last=True), "-updated_at")
        .first()
    )
