"""Posting approved captions back to the platform as the image's alt text.

Idempotent end to end: an image already `posted` is not sent again, and the client itself
does nothing when the platform already carries the description (a retry after a lost answer).
A failure leaves the image in `error` with the reason; nothing else changes.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from captions.models import Image, ImageStatus
from captions.services.review import audit_image_change, caption_approve, ensure_transition
from platforms.clients import PlatformError
from platforms.mastodon import MastodonApi

ApiFactory = Callable[..., MastodonApi]


def _claim(image: Image) -> Image | None:
    """Lock the row and check it may be posted; None when it already was."""
    image = Image.objects.select_for_update().select_related("post", "platform_connection").get(pk=image.pk)
    if image.status == ImageStatus.POSTED:
        return None
    ensure_transition(image, ImageStatus.POSTED)
    return image


def caption_post(
    *,
    image: Image,
    actor: User | None,
    meta: RequestMeta | None = None,
    api_factory: ApiFactory = MastodonApi.from_connection,
) -> Image:
    """Write the approved caption to the platform, read it back, and mark the image posted.

    The platform call runs outside the database transaction (it may take seconds); the row is
    re-checked before and written after it.
    """
    with transaction.atomic():
        claimed = _claim(image)
    if claimed is None:
        return Image.objects.get(pk=image.pk)
    image = claimed
    try:
        with api_factory(image.platform_connection) as api:
            api.set_media_description(
                status=image.post.post_id, media_id=image.image_post_id, description=image.final_caption
            )
    except PlatformError as exc:
        with transaction.atomic():
            Image.objects.filter(pk=image.pk).update(
                status=ImageStatus.ERROR, processing_error=f"Posting failed: {exc}", updated_at=timezone.now()
            )
            audit_image_change(
                action="caption.post_failed",
                actor=actor,
                image=image,
                meta=meta,
                details={"reason": getattr(exc, "reason", "error"), "status": getattr(exc, "status", None)},
            )
        return Image.objects.get(pk=image.pk)

    now = timezone.now()
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(
            status=ImageStatus.POSTED, posted_at=now, processing_error=None, updated_at=now
        )
        connection = image.platform_connection
        type(connection).objects.filter(pk=connection.pk).update(last_used=now)
        audit_image_change(action="caption.posted", actor=actor, image=image, meta=meta, details={})
    return Image.objects.get(pk=image.pk)


def caption_approve_and_post(
    *,
    image: Image,
    reviewer: User,
    text: str | None = None,
    meta: RequestMeta | None = None,
    api_factory: ApiFactory = MastodonApi.from_connection,
) -> Image:
    image = caption_approve(image=image, reviewer=reviewer, text=text, meta=meta)
    return caption_post(image=image, actor=reviewer, meta=meta, api_factory=api_factory)
