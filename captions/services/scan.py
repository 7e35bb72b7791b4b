"""Scanning a connection's own posts for images without alt text.

Each run spends at most `max_posts` posts: first those newer than the newest seen (resuming
inside that gap if the last run stopped there), then the backlog of older posts, so repeated
runs reach further back instead of rereading the newest N. Posts and images are upserted by
their platform ids; a rescan never touches a caption already being worked on.

A feed paged by an opaque cursor (Bluesky's author feed) has no post ids to page by and cannot
be resumed in the middle of a page: `scan_feed_connection` asks for pages no larger than what is
left of the budget, so a run always ends on a page boundary whose cursor it keeps. Its first part
reads from the top until it meets a post an earlier run recorded, or one the feed sorts at or
below the newest recorded (`feed_newest_at`: posts are listed newest first; the time also holds
when retention removed the rows of posts without images); a run whose budget runs out before that
keeps the cursor there (`feed_gap_cursor`) and the next run resumes from it. The backlog continues
from `feed_cursor`.
Bluesky posts cannot be edited, so only images whose alt text is missing are recorded, with the
post's whole list of images (`Post.platform_details`) for a repost with alt text.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from captions.alt_text import alt_text_missing
from captions.models import Image, Post, ScanCursor
from platforms.kinds.bluesky.media import MAX_FEED_PAGE, BlueskyMediaClient, FeedPost
from platforms.kinds.mastodon.client import MAX_PAGE_SIZE, MastodonApi
from platforms.models import PlatformConnection

IMAGE_ID_CHARS = Image._meta.get_field("image_post_id").max_length


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


# Feeds paged by cursor (Bluesky) ------------------------------------------------------------------


def feed_image_id(*, rkey: str, index: int) -> str:
    """An image's id on a post that cannot be edited: the post's record key and its position (a
    record key too long for the column, which the protocol allows but posts do not use, by its
    digest)."""
    image_id = f"{rkey}/{index}"
    if len(image_id) <= IMAGE_ID_CHARS:
        return image_id
    return f"sha256:{hashlib.sha256(rkey.encode()).hexdigest()[:40]}/{index}"


def _record_feed_post(
    *,
    connection: PlatformConnection,
    post: FeedPost,
    account_id: str,
    reprocess: bool,
    result: ScanResult,
) -> None:
    details = {
        "cid": post.cid,
        "langs": list(post.langs),
        "images": [
            {"url": image.fullsize, "alt": image.alt, "width": image.width, "height": image.height}
            for image in post.images
        ],
    }
    row, created = Post.objects.update_or_create(
        post_id=post.uri,
        platform_connection=connection,
        defaults={
            "platform_user_id": account_id,
            "post_url": post.url,
            "post_content": post.text,
            "platform_type": connection.platform_type,
            "instance_url": connection.instance_url,
            "language": (post.langs[0] if post.langs else "")[:16] or None,
            "platform_details": details,
        },
    )
    result.posts_seen += 1
    result.posts_created += int(created)
    result.images_skipped += post.other_media
    posted_on = parse_datetime(post.created_at) if post.created_at else None
    for index, image in enumerate(post.images):
        image_id = feed_image_id(rkey=post.rkey, index=index)
        existing = Image.objects.filter(image_post_id=image_id, platform_connection=connection).first()
        if existing is not None:
            Image.objects.filter(pk=existing.pk).update(
                image_url=image.fullsize,
                attachment_index=index,
                original_caption=image.alt,
                original_post_date=posted_on,
                updated_at=timezone.now(),
            )
            result.images_refreshed += 1
            continue
        if not (reprocess or alt_text_missing(image.alt)):
            result.images_skipped += 1
            continue
        Image.objects.create(
            post=row,
            platform_connection=connection,
            image_url=image.fullsize,
            local_path="",
            image_post_id=image_id,
            attachment_index=index,
            original_caption=image.alt,
            original_post_date=posted_on,
            platform_type=connection.platform_type,
            instance_url=connection.instance_url,
        )
        result.images_created += 1


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    return max((moment for moment in (first, second) if moment is not None), default=None)


def _not_after(moment: datetime | None, newest: datetime | None) -> bool:
    """The post sorts at or below the newest post recorded: it is not new."""
    return moment is not None and newest is not None and moment <= newest


def scan_feed_connection(
    *,
    connection: PlatformConnection,
    api: BlueskyMediaClient,
    max_posts: int,
    reprocess_existing: bool = False,
    include_replies: bool = True,
    account_id: str | None = None,
) -> ScanResult:
    """Record up to `max_posts` of the account's media posts from a feed paged by cursor, and
    their images lacking alt text (see the module docstring for how runs continue)."""
    if max_posts < 1:
        raise ValueError("max_posts must be at least 1.")
    account_id = account_id or api.verify().id
    cursor, _ = ScanCursor.objects.get_or_create(platform_connection=connection)
    result = ScanResult()
    budget = max_posts
    recorded: set[str] = set()
    earlier = Post.objects.filter(platform_connection=connection)

    def page_from(position: str | None):
        return api.own_media_posts(
            cursor=position, limit=min(MAX_FEED_PAGE, budget), include_replies=include_replies
        )

    def record(post: FeedPost) -> None:
        recorded.add(post.uri)
        with transaction.atomic():
            _record_feed_post(
                connection=connection,
                post=post,
                account_id=account_id,
                reprocess=reprocess_existing,
                result=result,
            )

    # 1. Posts newer than the last run's, from the top (or from where the last run stopped).
    if cursor.last_scan_at is not None:
        position, closed = cursor.feed_gap_cursor, False
        while budget > 0 and not closed:
            page = page_from(position)
            fresh = [post for post in page.posts if post.uri not in recorded]
            known = set(
                earlier.filter(post_id__in=[post.uri for post in fresh]).values_list("post_id", flat=True)
            )
            for post in fresh:
                if post.uri in known or _not_after(post.sort_at, cursor.feed_newest_at):
                    closed = True
                    break
                cursor.feed_gap_top_at = _latest(cursor.feed_gap_top_at, post.sort_at)
                record(post)
                budget -= 1
            position = page.cursor
            closed = closed or position is None
        if closed:
            cursor.feed_newest_at = _latest(cursor.feed_newest_at, cursor.feed_gap_top_at)
            cursor.feed_gap_cursor = cursor.feed_gap_top_at = None
        else:
            cursor.feed_gap_cursor = position

    # 2. The backlog of older posts, from where the last run left it.
    while budget > 0 and not cursor.backlog_done:
        page = page_from(cursor.feed_cursor)
        for post in page.posts:
            if post.uri not in recorded:
                if cursor.feed_newest_at is None:  # the first post of the first run: the top
                    cursor.feed_newest_at = post.sort_at
                record(post)
                budget -= 1
        if page.cursor is None:
            cursor.backlog_done = True
        else:
            cursor.feed_cursor = page.cursor

    cursor.last_scan_at = timezone.now()
    cursor.save()
    result.backlog_done = cursor.backlog_done
    return result
