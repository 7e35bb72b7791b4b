"""Posting approved captions back to the platform as the image's alt text.

Idempotent end to end: an image already `posted` is not sent again, and the client itself
does nothing when the platform already carries the description (a retry after a lost answer).
A failure leaves the image in `error` with the reason; nothing else changes.

A server may save the description and change something else of the post with it (Takahē's edit
makes an unlisted post public). That is not `posted`: the image goes to `error` with what changed,
the connection's latest processing run gets a warning, the audit log a `caption.post_changed` row,
and the returned image carries `post_changes` so the caller can tell the person.

A network whose posts cannot be edited (Bluesky) cannot take a description on an existing post:
posting is refused with PostingUnsupported (409) before anything changes, and the person is sent
to the explicit repost (`captions.services.repost`).
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from captions.errors import PostingUnsupported
from captions.models import Image, ImageStatus, ProcessingRun
from captions.services.review import caption_approve, ensure_transition
from platforms.kinds.common import PlatformError
from platforms.kinds.mastodon.client import MastodonApi, PostChangedError
from platforms.kinds.registry import media_client_for
from platforms.models import PlatformConnection

ApiFactory = Callable[..., MastodonApi]


def posting_refusal(connection: PlatformConnection) -> str | None:
    """Why approved captions cannot be posted back on this connection's posts; None when they can."""
    if connection.describes_media:
        return None
    label = connection.get_platform_type_display()
    if connection.has_caption_scan:
        return f"{label} posts cannot be edited; use Repost with alt text."
    return f"{label} connections cannot receive image descriptions."


def ensure_postable(connection: PlatformConnection) -> None:
    """PostingUnsupported (409) when captions cannot be posted back on this connection."""
    refusal = posting_refusal(connection)
    if refusal is not None:
        raise PostingUnsupported(refusal)


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
    api_factory: ApiFactory = media_client_for,
) -> Image:
    """Write the approved caption to the platform, read it back, and mark the image posted.

    The platform call runs outside the database transaction (it may take seconds); the row is
    re-checked before and written after it. PostingUnsupported (409) on a network whose posts
    cannot be edited (Bluesky), before anything changes.
    """
    ensure_postable(image.platform_connection)
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
    except PostChangedError as exc:
        _record_changed_post(image=image, exc=exc, actor=actor, meta=meta)
        changed = Image.objects.get(pk=image.pk)
        changed.post_changes = exc.changes
        return changed
    except PlatformError as exc:
        with transaction.atomic():
            Image.objects.filter(pk=image.pk).update(
                status=ImageStatus.ERROR, processing_error=f"Posting failed: {exc}", updated_at=timezone.now()
            )
            audit_log_write(
                action="caption.post_failed",
                actor=actor,
                target=image,
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
        audit_log_write(action="caption.posted", actor=actor, target=image, meta=meta, details={})
    return Image.objects.get(pk=image.pk)


def _record_changed_post(*, image: Image, exc: PostChangedError, actor: User | None, meta) -> None:
    """The description is on the platform, but the post changed: say so on the image and the run."""
    now = timezone.now()
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(
            status=ImageStatus.ERROR, processing_error=str(exc), updated_at=now
        )
        # Posting runs outside any task; the run that last scanned the connection is where its
        # owner looks at what went wrong with it.
        run = (
            ProcessingRun.objects.select_for_update()
            .filter(platform_connection_id=image.platform_connection_id)
            .order_by("-started_at", "-pk")
            .first()
        )
        if run is not None:
            run.warnings = [*(run.warnings or []), f"Image {image.pk}: {exc}"]
            run.save(update_fields=["warnings"])
        audit_log_write(
            action="caption.post_changed",
            actor=actor,
            target=image,
            meta=meta,
            details={"changes": exc.changes, "run": run.pk if run is not None else None},
        )


def caption_approve_and_post(
    *,
    image: Image,
    reviewer: User,
    text: str | None = None,
    meta: RequestMeta | None = None,
    api_factory: ApiFactory = media_client_for,
) -> Image:
    ensure_postable(image.platform_connection)  # before the approval: nothing changes
    image = caption_approve(image=image, reviewer=reviewer, text=text, meta=meta)
    return caption_post(image=image, actor=reviewer, meta=meta, api_factory=api_factory)
