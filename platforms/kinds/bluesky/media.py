"""Reading a Bluesky account's own posts with images, for the caption scan.

`app.bsky.feed.getAuthorFeed` (served by the AppView; the PDS proxies it with the session's
token) with `actor` the account's DID, `filter=posts_with_media` and `limit` (1 to 100), newest
first, paged by an opaque `cursor` the answer carries while there is more. Each item is a
`feedViewPost`: `{"post": postView, "reply"?, "reason"?}`. Kept: the account's own posts only.
An item with a `reason` (a repost, `reasonRepost`, or a pinned post, `reasonPin`) is left out, even
the account's own pinned post: it is listed again in its place in time, and a scan that meets a
known post at the top would otherwise stop there. Posts by another author are left out too
(an AppView that ignores the filter lists reposts of them).

A post's images are in its view's `embed`: `app.bsky.embed.images#view` (`images[]`: `thumb`
and `fullsize` CDN URLs, `alt`, `aspectRatio`), or the `media` of an
`app.bsky.embed.recordWithMedia#view` (a quote post with images). A video is not an image; it is
counted as other media.

Bluesky posts cannot be edited, so this client writes no descriptions (`can_write_descriptions`
is False): an image gets its alt text only through a new post (`captions.services.repost`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.bluesky.client import XrpcClient, at_uri_parts
from platforms.kinds.common import DescriptionLimit, PlatformAccount
from platforms.kinds.publishing import connection_timeout

MAX_FEED_PAGE = 100  # app.bsky.feed.getAuthorFeed `limit` maximum
FEED_FILTER = "posts_with_media"
IMAGES_VIEW = "app.bsky.embed.images#view"
RECORD_WITH_MEDIA_VIEW = "app.bsky.embed.recordWithMedia#view"
VIDEO_VIEW = "app.bsky.embed.video#view"
# The Bluesky app's alt-text limit (the lexicon sets none); the same for every account.
ALT_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class FeedImage:
    """One image of a post as its view shows it."""

    fullsize: str
    thumb: str | None
    alt: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class FeedPost:
    """One of the account's own posts with media, from its view."""

    uri: str  # at://did/app.bsky.feed.post/rkey: the post's id
    cid: str | None
    rkey: str
    url: str  # on bsky.app
    text: str
    created_at: str | None
    #: Where the feed sorts it: the earlier of its createdAt (set by the client that posted it)
    #: and indexedAt (set by the AppView), as the AppView does, so a post dated in the future
    #: cannot jump ahead. None when neither is readable.
    sort_at: datetime | None
    langs: tuple[str, ...]
    images: tuple[FeedImage, ...]
    other_media: int  # a video or a link card: media that is not an image
    replies_to_other: bool  # a reply to another account's post


@dataclass(frozen=True)
class FeedPage:
    """One page of the author feed, newest first; `cursor` is None at the end."""

    posts: list[FeedPost]
    cursor: str | None


class BlueskyMediaClient(XrpcClient):
    """One Bluesky account's own media posts (reading only)."""

    can_write_descriptions = False
    #: The feed pages by an opaque cursor, not by post id (captions.services.scan.scan_feed_connection).
    pages_by_cursor = True

    @classmethod
    def from_connection(
        cls,
        connection,
        *,
        timeout: float | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        throttle: HostThrottle | None = None,
        on_session=None,
    ) -> BlueskyMediaClient:
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        return cls(
            base_url=extra.get("pds_url") or connection.instance_url,
            access_token=connection.access_token,
            refresh_token=connection.refresh_token,
            did=extra.get("did"),
            handle=extra.get("handle") or connection.username,
            on_session=on_session,
            timeout=connection_timeout(connection, timeout),
            policy=policy,
            sleep=sleep,
            throttle=throttle,
        )

    def verify(self) -> PlatformAccount:
        """The session's account (`com.atproto.server.getSession`), retried like any read."""
        return self._retrying(self.account)

    def read_description_limit(self) -> DescriptionLimit:
        """Bluesky's alt-text limit: one for every account, nothing to ask."""
        return DescriptionLimit(limit=ALT_TEXT_LIMIT)

    def own_media_posts(
        self, *, cursor: str | None = None, limit: int = MAX_FEED_PAGE, include_replies: bool = True
    ) -> FeedPage:
        """One page of the account's own posts with media, from `cursor` (the top when None).

        `include_replies`: the account's replies to other accounts' posts are kept (replies in its
        own threads always are)."""
        if limit < 1:
            raise ValueError("limit must be at least 1.")
        if not self.did:
            self.verify()
        params: dict[str, Any] = {
            "actor": self.did,
            "filter": FEED_FILTER,
            "limit": min(limit, MAX_FEED_PAGE),
        }
        if cursor:
            params["cursor"] = cursor
        what = "the account's posts"

        def fetch() -> Any:
            response = self.call("GET", "app.bsky.feed.getAuthorFeed", what=what, params=params)
            return self._json(response, what=what)

        body = self._retrying(fetch)
        if not isinstance(body, dict) or not isinstance(body.get("feed"), list):
            raise self._malformed(what, "is not a feed")
        posts: list[FeedPost] = []
        seen: set[str] = set()
        for item in body["feed"]:
            post = self._own_post(item)
            if post is None or post.uri in seen or (post.replies_to_other and not include_replies):
                continue
            if not post.images and not post.other_media:
                continue
            seen.add(post.uri)
            posts.append(post)
        following = body.get("cursor")
        # A cursor that does not move would page forever; an empty page is the end as well.
        if not isinstance(following, str) or not following or following == cursor or not body["feed"]:
            following = None
        return FeedPage(posts=posts, cursor=following)

    def _own_post(self, item: Any) -> FeedPost | None:
        if not isinstance(item, dict) or item.get("reason") is not None:
            return None
        view = item.get("post")
        if not isinstance(view, dict) or not isinstance(view.get("uri"), str):
            return None
        author = view.get("author") if isinstance(view.get("author"), dict) else {}
        if author.get("did") != self.did:
            return None
        try:
            authority, collection, rkey = at_uri_parts(view["uri"])
        except ValueError:
            return None
        if authority != self.did or collection != "app.bsky.feed.post":
            return None
        record = view.get("record") if isinstance(view.get("record"), dict) else {}
        images, other = _media_of(view.get("embed"))
        langs = record.get("langs") if isinstance(record.get("langs"), list) else []
        reply = record.get("reply") if isinstance(record.get("reply"), dict) else None
        parent = (reply or {}).get("parent") if isinstance((reply or {}).get("parent"), dict) else {}
        parent_uri = parent.get("uri") if isinstance(parent.get("uri"), str) else ""
        replies_to_other = bool(reply) and not parent_uri.startswith(f"at://{self.did}/")
        handle = author.get("handle") if isinstance(author.get("handle"), str) else None
        return FeedPost(
            uri=view["uri"],
            cid=view.get("cid") if isinstance(view.get("cid"), str) else None,
            rkey=rkey,
            url=f"https://bsky.app/profile/{handle or self.did}/post/{rkey}",
            text=record.get("text") if isinstance(record.get("text"), str) else "",
            created_at=record.get("createdAt") if isinstance(record.get("createdAt"), str) else None,
            sort_at=_sort_at(record.get("createdAt"), view.get("indexedAt")),
            langs=tuple(lang for lang in langs if isinstance(lang, str) and lang)[:3],
            images=images,
            other_media=other,
            replies_to_other=replies_to_other,
        )


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _sort_at(created_at: Any, indexed_at: Any) -> datetime | None:
    moments = [moment for moment in (_moment(created_at), _moment(indexed_at)) if moment is not None]
    return min(moments) if moments else None


def _media_of(embed: Any) -> tuple[tuple[FeedImage, ...], int]:
    """(the images of a post's embed view, how many other media it carries)."""
    if not isinstance(embed, dict):
        return (), 0
    if embed.get("$type") == RECORD_WITH_MEDIA_VIEW:
        embed = embed.get("media")
        if not isinstance(embed, dict):
            return (), 0
    if embed.get("$type") != IMAGES_VIEW:
        # A video counts as other media; a link card or a quoted post alone carries none.
        return (), int(embed.get("$type") == VIDEO_VIEW)
    images = []
    for image in embed.get("images") or []:
        if not isinstance(image, dict) or not isinstance(image.get("fullsize"), str):
            continue
        ratio = image.get("aspectRatio") if isinstance(image.get("aspectRatio"), dict) else {}
        width, height = ratio.get("width"), ratio.get("height")
        images.append(
            FeedImage(
                fullsize=image["fullsize"],
                thumb=image.get("thumb") if isinstance(image.get("thumb"), str) else None,
                alt=image.get("alt") if isinstance(image.get("alt"), str) else "",
                width=width if isinstance(width, int) and width > 0 else None,
                height=height if isinstance(height, int) and height > 0 else None,
            )
        )
    return tuple(images), 0
