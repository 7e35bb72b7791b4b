"""Repost with alt text: for networks whose posts cannot be edited (Bluesky), a new post that
carries the approved captions, and, only when the person asks, the deletion of the old post.

An explicit action, never a side effect of approving or posting. Allowed only when every image
of the post the scan recorded (those whose alt text was missing) has an approved caption; the
post's other images keep the alt text they had. The new post has the old post's text (its facets
are found again by the publisher), its languages, and its images in their order, each downloaded
again from the network's CDN (the stored, smaller copy when the CDN fails or the original is too
large) and uploaded as a new blob with its alt text exactly as approved.

Idempotent end to end: the publication's idempotency key is the same for every attempt on one
post, so the new record's key is too (`richtext.tid_from_key`): a retry after a lost answer finds
the post the first attempt made instead of posting again. A post already reposted is not reposted
again; asking again with `delete_original` only deletes the original (when that failed before).
A failure before the new post exists changes nothing here.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.selectors import visible_to
from accounts.services.audit import audit_log_write
from captions.errors import PostNotFound, RepostFailed, RepostNotReady, RepostUnsupported
from captions.images import ImageError, download_image
from captions.models import Image, ImageStatus, Post
from captions.selectors import CONNECTION_OWNER
from core.locking import row_lock
from core.outbound import platform_throttle
from core.retry import RetryPolicy, call_with_retries
from platforms.kinds.common import PlatformError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, publisher_for

logger = logging.getLogger(__name__)

PublisherFactory = Callable[..., object]
Downloader = Callable[[str], bytes]
DOWNLOAD_POLICY = RetryPolicy()
FILENAME_BY_TYPE = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


def repost_idempotency_key(post: Post) -> str:
    """The same for every attempt to repost one post, so the network sees one post whatever happens."""
    return f"captions-repost-{post.pk}"


@dataclass(frozen=True)
class _Picture:
    data: bytes
    media_type: str
    width: int | None
    height: int | None


def _download(url: str) -> bytes:
    """The image from the network's CDN, retried on transient failures and paced with every other
    request to that host (`core.outbound`), as the caption pipeline downloads it."""

    def fetch() -> bytes:
        return platform_throttle().call(
            url,
            lambda: download_image(url=url).data,
            retry_after_of=lambda exc: getattr(exc, "retry_after", None),
        )

    data, _ = call_with_retries(
        fetch,
        policy=DOWNLOAD_POLICY,
        is_transient=lambda exc: bool(getattr(exc, "transient", False)),
        retry_after_of=lambda exc: getattr(exc, "retry_after", None),
    )
    return data


def _picture(data: bytes) -> _Picture | None:
    """The bytes' type and size as Pillow reads the header; None when they are no image."""
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            media_type = PILImage.MIME.get(opened.format or "")
            width, height = opened.size
    except (OSError, ValueError, SyntaxError):
        return None
    return (
        _Picture(data=data, media_type=media_type or "", width=width, height=height) if media_type else None
    )


def _stored(image: Image | None) -> bytes | None:
    if image is None or not image.local_path:
        return None
    try:
        with default_storage.open(image.local_path, "rb") as handle:
            return handle.read() or None
    except OSError:
        return None


def _image_bytes(*, url: str, image: Image | None, rules, position: int, downloader: Downloader) -> _Picture:
    """The image as the network showed it (its CDN copy), else the stored copy; each must be a
    type and size the network takes."""
    problems = []
    try:
        candidates = [downloader(url)]
    except ImageError as exc:
        candidates = []
        problems.append(exc.reason)
    stored = _stored(image)
    if stored is not None:
        candidates.append(stored)
    for data in candidates:
        picture = _picture(data)
        if picture is None:
            problems.append("the file is not an image")
        elif not rules.accepts(picture.media_type):
            problems.append(f"{picture.media_type} is not accepted")
        elif len(data) > rules.max_bytes(picture.media_type):
            problems.append(f"{len(data)} bytes is more than {rules.max_bytes(picture.media_type)}")
        else:
            return picture
    raise RepostFailed(
        f"Image {position} of the post could not be read again ({'; '.join(problems) or 'no copy'}); "
        "nothing was posted."
    )


def _publication(*, post: Post, images: dict[int, Image], rules, downloader: Downloader) -> Publication:
    details = post.platform_details if isinstance(post.platform_details, dict) else {}
    listed = details.get("images") if isinstance(details.get("images"), list) else []
    media = []
    for index, entry in enumerate(listed):
        entry = entry if isinstance(entry, dict) else {}
        image = images.get(index)
        alt = image.final_caption if image is not None else str(entry.get("alt") or "")
        url = image.image_url if image is not None else str(entry.get("url") or "")
        picture = _image_bytes(url=url, image=image, rules=rules, position=index + 1, downloader=downloader)
        media.append(
            MediaItem(
                key=f"post-{post.pk}-image-{index}",
                media_type=picture.media_type,
                filename=f"image-{index + 1}.{FILENAME_BY_TYPE.get(picture.media_type, 'img')}",
                size=len(picture.data),
                read=lambda data=picture.data: data,
                alt_text=alt,
                width=picture.width,
                height=picture.height,
            )
        )
    langs = [lang for lang in details.get("langs") or [] if isinstance(lang, str)][:3]
    return Publication(
        text=post.post_content or "",
        idempotency_key=repost_idempotency_key(post),
        media=tuple(media),
        options={"langs": langs} if langs else {},
    )


def _check_ready(post: Post) -> dict[int, Image]:
    """The post's recorded images by position, when every one has an approved caption."""
    connection = post.platform_connection
    if connection.describes_media:
        raise RepostUnsupported(
            f"{connection.get_platform_type_display()} posts can be edited: post the approved captions "
            "back instead."
        )
    details = post.platform_details if isinstance(post.platform_details, dict) else {}
    if not connection.has_caption_scan or not details.get("images"):
        raise RepostUnsupported(
            "This post cannot be reposted with alt text: scan the connection again so its images are known."
        )
    images = list(post.images.order_by("attachment_index", "pk"))
    if not images:
        raise RepostNotReady("The post has no image waiting for alt text.")
    waiting = [image for image in images if image.status != ImageStatus.APPROVED or not image.final_caption]
    if waiting:
        names = ", ".join(
            f"image {image.attachment_index + 1} ({image.get_status_display().lower()})" for image in waiting
        )
        raise RepostNotReady(f"Every image needs an approved caption first; not yet: {names}.")
    return {image.attachment_index: image for image in images}


def post_repost_with_alt_text(
    *,
    post: Post,
    actor: User,
    delete_original: bool,
    meta: RequestMeta | None = None,
    publisher_factory: PublisherFactory = publisher_for,
    downloader: Downloader = _download,
) -> Post:
    """Create a new post with the approved captions as alt text (once), then, only when
    `delete_original`, delete the old post. Returns the post row with `repost_uri` set.

    PostNotFound for a post the actor may not see; RepostUnsupported (409) where captions are
    posted back instead; RepostNotReady (409) while an image lacks an approved caption;
    RepostFailed (502) when the network failed (the message says whether the new post exists)."""
    if not visible_to(Post.objects.filter(pk=post.pk), user=actor, owner_field=CONNECTION_OWNER).exists():
        raise PostNotFound()
    post = Post.objects.select_related("platform_connection").get(pk=post.pk)
    connection = post.platform_connection
    if post.repost_uri is None:
        images = _check_ready(post)
        publication = _publication(
            post=post,
            images=images,
            rules=connection.kind.media_for(extra=connection.extra),
            downloader=downloader,
        )
        try:
            with publisher_factory(connection) as publisher:
                published = publisher.publish(publication)
        except PlatformError as exc:
            audit_log_write(
                action="caption.repost_failed",
                actor=actor,
                target=post,
                meta=meta,
                details={"reason": getattr(exc, "reason", "error"), "status": getattr(exc, "status", None)},
            )
            maybe = (
                " It may have been made; asking again finds it instead of posting twice."
                if getattr(exc, "ambiguous", False)
                else " Nothing was posted."
            )
            raise RepostFailed(f"The new post could not be made: {exc}{maybe}") from None
        post = _record_repost(post=post, images=images, published=published, actor=actor, meta=meta)
    if delete_original and post.original_deleted_at is None:
        post = _delete_original(post=post, actor=actor, meta=meta, publisher_factory=publisher_factory)
    return post


def _record_repost(*, post: Post, images: dict[int, Image], published, actor: User, meta) -> Post:
    now = timezone.now()
    with transaction.atomic():
        post = row_lock(row=post)
        if post.repost_uri is None:
            post.repost_uri, post.repost_url, post.reposted_at = published.post_id, published.url, now
            post.save(update_fields=["repost_uri", "repost_url", "reposted_at", "updated_at"])
            Image.objects.filter(pk__in=[image.pk for image in images.values()]).update(
                status=ImageStatus.POSTED, posted_at=now, processing_error=None, updated_at=now
            )
            type(post.platform_connection).objects.filter(pk=post.platform_connection_id).update(
                last_used=now
            )
            audit_log_write(
                action="caption.reposted",
                actor=actor,
                target=post,
                meta=meta,
                details={
                    "new_post": published.post_id,
                    "images": sorted(image.pk for image in images.values()),
                    "recovered": bool(published.details.get("recovered")),
                },
            )
    return post


def _delete_original(*, post: Post, actor: User, meta, publisher_factory: PublisherFactory) -> Post:
    try:
        with publisher_factory(post.platform_connection) as publisher:
            publisher.delete_post(uri=post.post_id)
    except (PlatformError, ValueError) as exc:
        audit_log_write(
            action="caption.original_delete_failed",
            actor=actor,
            target=post,
            meta=meta,
            details={"reason": getattr(exc, "reason", "error"), "status": getattr(exc, "status", None)},
        )
        raise RepostFailed(
            f"The new post was made ({post.repost_url or post.repost_uri}), but deleting the original "
            f"failed: {exc} Ask again to delete it; nothing is posted twice."
        ) from None
    now = timezone.now()
    with transaction.atomic():
        Post.objects.filter(pk=post.pk, original_deleted_at__isnull=True).update(
            original_deleted_at=now, updated_at=now
        )
        audit_log_write(
            action="caption.original_deleted",
            actor=actor,
            target=post,
            meta=meta,
            details={"original": post.post_id, "new_post": post.repost_uri},
        )
    return Post.objects.select_related("platform_connection").get(pk=post.pk)
