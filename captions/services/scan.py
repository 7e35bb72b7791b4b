"""Scanning a connection's own posts for images without alt text.

Each run spends at most `max_posts` posts: first those newer than the newest seen (resuming
inside that gap if the last run stopped there), then the backlog of older posts, so repeated
runs reach further back instead of rereading the newest N. Posts and images are upserted by
their platform ids; a rescan never touches a caption already being worked on.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from captions.alt_text import alt_text_missing
from captions.models import Image, Post, ScanCursor
from platforms.kinds.mastodon.client import MAX_PAGE_SIZE, MastodonApi
from platforms.models import PlatformConnection


@dataclass
class ScanResult:
    posts_seen: int = 0
    posts_created: int = 0
    images_created: int = 0
    images_refreshed: int = 0
    images_skipped: int = 0
    backlog_done: bool = False


def _newer(status_id: str, than: str) -> bool:
    """Status ids sort by age: numerically where both are numbers (Mastodon, Pixelfed), else as text."""
    if status_id.isdigit() and than.isdigit():
        return int(status_id) > int(than)
    return (len(status_id), status_id) > (len(than), than)


def _record_status(
    *,
    connection: PlatformConnection,
    status: dict[str, Any],
    account_id: str,
    reprocess: bool,
    result: ScanResult,
) -> None:
    post, created = Post.objects.update_or_create(
        post_id=status["id"],
        platform_connection=connection,
        defaults={
            "platform_user_id": account_id,
            "post_url": status.get("url") or "",
            "post_content": status.get("content") or "",
            "platform_type": connection.platform_type,
            "instance_url": connection.instance_url,
            "language": (status.get("language") or "")[:16] or None,
        },
    )
    result.posts_seen += 1
    result.posts_created += int(created)
    posted_on = parse_datetime(status["created_at"]) if status.get("created_at") else None
    for index, media in enumerate(status.get("media_attachments") or []):
        if media.get("type") != "image" or not media.get("url") or not media.get("id"):
            result.images_skipped += 1
            continue
        existing = Image.objects.filter(image_post_id=media["id"], platform_connection=connection).first()
        if existing is not None:
            # Facts from the platform are refreshed; the caption's review state is not.
            Image.objects.filter(pk=existing.pk).update(
                image_url=media["url"],
                attachment_index=index,
                original_caption=media.get("description"),
                original_post_date=posted_on,
                updated_at=timezone.now(),
            )
            result.images_refreshed += 1
            continue
        if not (reprocess or alt_text_missing(media.get("description"))):
            result.images_skipped += 1
            continue
        Image.objects.create(
            post=post,
            platform_connection=connection,
            image_url=media["url"],
            local_path="",
            image_post_id=media["id"],
            attachment_index=index,
            original_caption=media.get("description"),
            original_post_date=posted_on,
            platform_type=connection.platform_type,
            instance_url=connection.instance_url,
        )
        result.images_created += 1


def scan_connection(
    *,
    connection: PlatformConnection,
    api: MastodonApi,
    max_posts: int,
    reprocess_existing: bool = False,
    include_replies: bool = True,
    account_id: str | None = None,
) -> ScanResult:
    """Record up to `max_posts` of the account's media posts and their images lacking alt text.

    `account_id`: the account `api.verify()` just returned, when the caller has verified already;
    without it the scan verifies itself. Every platform call waits its turn with the instance
    (`core.outbound`), so a second verification would cost a whole turn.

    `include_replies`: the account's own posts that reply to other accounts are scanned too (they
    are the user's own images; the caption setting of the same name, on by default).
    A post is counted and recorded once, even when the server lists it again.
    """
    if max_posts < 1:
        raise ValueError("max_posts must be at least 1.")
    account_id = account_id or api.verify().id
    cursor, _ = ScanCursor.objects.get_or_create(platform_connection=connection)
    result = ScanResult()
    budget = max_posts
    recorded: set[str] = set()

    def page_of(max_id):
        return api.own_media_statuses(
            max_id=max_id, limit=min(MAX_PAGE_SIZE, budget), include_replies=include_replies
        )

    def record(status) -> bool:
        """Record a status; False (and nothing spent) when this run recorded it already."""
        if status["id"] in recorded:
            return False
        recorded.add(status["id"])
        with transaction.atomic():
            _record_status(
                connection=connection,
                status=status,
                account_id=account_id,
                reprocess=reprocess_existing,
                result=result,
            )
        return True

    # 1. Posts newer than the newest seen, from the top (or from where the last run stopped).
    if cursor.newest_post_id:
        max_id, closed = cursor.gap_max_id, False
        while budget > 0:
            page = page_of(max_id)
            for status in page.statuses:
                if not _newer(status["id"], cursor.newest_post_id):
                    closed = True
                    break
                cursor.gap_top_id = cursor.gap_top_id or status["id"]
                budget -= int(record(status))
                max_id = status["id"]
                if budget == 0:
                    break
            if closed or (budget > 0 and page.next_max_id is None):
                closed = True
                break
            if budget > 0:
                max_id = page.next_max_id
        if closed:
            cursor.newest_post_id = cursor.gap_top_id or cursor.newest_post_id
            cursor.gap_top_id = cursor.gap_max_id = None
        else:
            cursor.gap_max_id = max_id

    # 2. The backlog of older posts, from where the last run left it.
    while budget > 0 and not cursor.backlog_done:
        page = page_of(cursor.backlog_max_id)
        for status in page.statuses:
            cursor.newest_post_id = cursor.newest_post_id or status["id"]
            budget -= int(record(status))
            cursor.backlog_max_id = status["id"]
            if budget == 0:
                break
        if budget > 0:
            if page.next_max_id is None:
                cursor.backlog_done = True
            else:
                cursor.backlog_max_id = page.next_max_id

    cursor.last_scan_at = timezone.now()
    cursor.save()
    result.backlog_done = cursor.backlog_done
    return result
