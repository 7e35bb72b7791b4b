"""Publishing a post on X through API v2: POST {base}/2/tweets with {"text": ...} and an OAuth 2.0
user access token (`Authorization: Bearer`).

Media go up first, in order, each once per publisher (remembered by `MediaItem.key`, so a retried
post reuses them): an image in one multipart POST /2/media/upload (`media`, `media_category`
tweet_image); a GIF or a video in chunks (POST /2/media/upload/initialize, .../{id}/append per
chunk, .../{id}/finalize, then GET /2/media/upload?command=STATUS while X processes it). Each
upload's alt text goes through POST /2/media/metadata, exact; the post then names the uploads in
order (`"media": {"media_ids": [...]}`). A failed upload is never ambiguous: nothing was posted.

X has no idempotency key, so an attempt whose answer was lost is followed by a lookup (GET
/2/users/me, then the user's last 10 posts, matched by text) before anything is posted again. X
refuses the same text twice with 403 "duplicate content": normally a rejection, but right after a
lost answer it means our own earlier attempt landed, so the post is looked up and returned.

Matching by text: X answers with links rewritten to t.co and &, <, > as HTML entities, so links
are masked and entities decoded on both sides before comparing; a post with media ends with one
more t.co link (to its media), which is ignored. When this publisher uploaded the media, a post
that names other media (`attachments.media_keys`) is not ours.

Errors come as problem details ({"title", "detail", "type"}); a 429 carries `x-rate-limit-reset`
(epoch seconds) and sometimes Retry-After, which wins.
"""

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from core.retry import parse_retry_after
from platforms.kinds.common import (
    PlatformAccount,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
    platform_error,
)
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import (
    HttpPublisher,
    Publication,
    Published,
    connection_timeout,
    same_text,
)
from platforms.kinds.x import KIND

LOOKUP_LIMIT = 10
#: X takes chunks of at most 5 MB (the documented APPEND limit); a little less leaves headroom.
CHUNK_BYTES = 4 * 1024 * 1024
#: How often X is asked whether a GIF or video is processed, and the longest wait between two asks.
STATUS_POLLS = 60
STATUS_WAIT_CAP = 30.0
OCTETS = "application/octet-stream"
_TRAILING_LINK = re.compile(r"\s*https?://\S+\s*$")


def x_post_url(*, post_id: str, username: str | None) -> str:
    if username:
        return f"https://x.com/{quote(username, safe='')}/status/{post_id}"
    return f"https://x.com/i/web/status/{post_id}"


class XPublisher(HttpPublisher):
    platform_type = "x"

    def __init__(self, *, base_url: str, access_token: str, username: str | None = None, **kwargs):
        super().__init__(base_url=base_url, headers={"Authorization": f"Bearer {access_token}"}, **kwargs)
        self.username = (username or "").lstrip("@") or None
        #: Media ids of what this publisher uploaded, by `MediaItem.key`, and the keys whose alt
        #: text X has: a retried post uploads and describes nothing twice.
        self.uploaded: dict[str, str] = {}
        self._described: set[str] = set()

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "XPublisher":
        return cls(
            base_url=connection.instance_url,
            access_token=connection.access_token,
            username=connection.username,
            timeout=connection_timeout(connection, timeout),
            **kwargs,
        )

    def me(self) -> dict:
        """GET /2/users/me: {"id", "username", "name"} of the token's user (one attempt)."""
        body = self._json(
            self._send("GET", f"{self.base_url}/2/users/me", what="the token's user"), what="the token's user"
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("id") in (None, "") or not data.get("username"):
            raise self._malformed("the token's user", "does not describe a user")
        return data

    def account(self) -> PlatformAccount:
        """The token's user, for verifying the connection (one attempt: no waiting in a request)."""
        user = self.me()
        username = str(user["username"])
        return PlatformAccount(
            id=str(user["id"]),
            username=username,
            acct=username,
            display_name=str(user.get("name") or ""),
            url=f"https://x.com/{quote(username, safe='')}",
        )

    def _post_once(self, publication: Publication) -> Published:
        self._refuse_unfit_media(publication.media, rules=KIND.media, network="X")
        media_ids = self._upload_all(publication.media)
        payload: dict[str, Any] = {"text": publication.text}
        if media_ids:
            payload["media"] = {"media_ids": media_ids}
        response = self._send("POST", f"{self.base_url}/2/tweets", what="the new post", json=payload)
        body = self._json(response, what="the new post", ambiguous=True)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            raise self._malformed("the new post", "does not describe a post", ambiguous=True)
        post_id = str(data["id"])
        details: dict[str, Any] = {"status": response.status_code}
        if media_ids:
            details["media_ids"] = media_ids
        return Published(
            post_id=post_id,
            url=x_post_url(post_id=post_id, username=self.username),
            platform_type=self.platform_type,
            details=details,
        )

    # Media ----------------------------------------------------------------------------------------

    def _upload_all(self, media: tuple[MediaItem, ...]) -> list[str]:
        """The media ids of `media` in order, uploading and describing what is not up yet. A
        failure here never leaves a post behind, so it is never ambiguous."""
        ids = []
        for position, item in enumerate(media, start=1):
            label = f"{_media_word(item)} {position} of {len(media)} ({item.filename})"
            what = f"the upload of {label}"
            try:
                media_id = self.uploaded.get(item.key)
                if media_id is None:
                    media_id = self._upload(item, what=what)
                    self.uploaded[item.key] = media_id
                if item.key not in self._described and item.alt_text:
                    self._describe(media_id, item.alt_text, what=f"the alt text of {label}")
                    self._described.add(item.key)
            except PlatformError as exc:
                exc.ambiguous = False
                raise
            ids.append(media_id)
        return ids

    def _upload(self, item: MediaItem, *, what: str) -> str:
        if item.is_video or item.is_gif:
            return self._upload_in_chunks(item, what=what)
        request = httpx.Request(
            "POST",
            f"{self.base_url}/2/media/upload",
            data={"media_category": "tweet_image", "media_type": item.media_type},
            files={"media": (item.filename, item.read(), item.media_type)},
        )
        response = self._send(
            "POST",
            str(request.url),
            what=what,
            content=request.read(),
            headers={"Content-Type": request.headers["Content-Type"]},
        )
        return self._media_id(self._json(response, what=what), what=what)

    def _upload_in_chunks(self, item: MediaItem, *, what: str) -> str:
        content = item.read()
        started = self._json(
            self._send(
                "POST",
                f"{self.base_url}/2/media/upload/initialize",
                what=what,
                json={
                    "media_type": item.media_type,
                    "total_bytes": len(content),
                    "media_category": "tweet_video" if item.is_video else "tweet_gif",
                },
            ),
            what=what,
        )
        media_id = self._media_id(started, what=what)
        base = f"{self.base_url}/2/media/upload/{quote(media_id, safe='')}"
        for index, start in enumerate(range(0, len(content), CHUNK_BYTES)):
            request = httpx.Request(
                "POST",
                f"{base}/append",
                data={"segment_index": str(index)},
                files={"media": (item.filename, content[start : start + CHUNK_BYTES], OCTETS)},
            )
            self._send(
                "POST",
                str(request.url),
                what=what,
                content=request.read(),
                headers={"Content-Type": request.headers["Content-Type"]},
            )
        finished = self._json(self._send("POST", f"{base}/finalize", what=what), what=what)
        self._wait_for_processing(media_id, finished, what=what)
        return media_id

    def _wait_for_processing(self, media_id: str, answer: Any, *, what: str) -> None:
        """Until X says the upload is processed (`processing_info.state` succeeded, or no
        `processing_info` at all); a failed one is refused, a slow one is unavailable for now."""
        for _ in range(STATUS_POLLS):
            data = answer.get("data") if isinstance(answer, dict) else None
            info = data.get("processing_info") if isinstance(data, dict) else None
            if not isinstance(info, dict) or info.get("state") == "succeeded":
                return
            if info.get("state") == "failed":
                error = info.get("error") if isinstance(info.get("error"), dict) else {}
                reason = error.get("message") or error.get("name") or "X could not process the file"
                raise platform_error(
                    PlatformAuthError, f"{self.host} refused {what}: {str(reason)[:200]}", reason="media"
                )
            try:
                wait = float(info.get("check_after_secs") or 1)
            except (TypeError, ValueError):
                wait = 1.0
            self._sleep(min(max(wait, 0.0), STATUS_WAIT_CAP))
            answer = self._json(
                self._send(
                    "GET",
                    f"{self.base_url}/2/media/upload",
                    what=what,
                    params={"command": "STATUS", "media_id": media_id},
                ),
                what=what,
            )
        raise platform_error(
            PlatformUnavailableError,
            f"{self.host} was still processing {what}; try again later.",
            reason="processing",
        )

    def _describe(self, media_id: str, alt_text: str, *, what: str) -> None:
        self._send(
            "POST",
            f"{self.base_url}/2/media/metadata",
            what=what,
            json={"id": media_id, "metadata": {"alt_text": {"text": alt_text}}},
        )

    def _media_id(self, body: Any, *, what: str) -> str:
        data = body.get("data") if isinstance(body, dict) else None
        media_id = data.get("id") if isinstance(data, dict) else None
        if media_id in (None, "") or not str(media_id).isdigit():
            raise self._malformed(what, "has no media id")
        return str(media_id)

    def _find_once(self, publication: Publication) -> Published | None:
        user = self.me()
        user_id = quote(str(user["id"]), safe="")
        body = self._json(
            self._send(
                "GET",
                f"{self.base_url}/2/users/{user_id}/tweets",
                what="the user's posts",
                params={"max_results": LOOKUP_LIMIT, "tweet.fields": "attachments"},
            ),
            what="the user's posts",
        )
        if not isinstance(body, dict):
            raise self._malformed("the user's posts", "is not an object")
        posts = body.get("data", [])  # absent when the user has no posts
        if not isinstance(posts, list):
            raise self._malformed("the user's posts", "has no list of posts")
        for post in posts:
            if (
                isinstance(post, dict)
                and post.get("id") not in (None, "")
                and self._same_post(post, publication)
            ):
                post_id = str(post["id"])
                return Published(
                    post_id=post_id,
                    url=x_post_url(post_id=post_id, username=str(user["username"])),
                    platform_type=self.platform_type,
                    details={"status": None},
                )
        return None

    def _same_post(self, post: dict, publication: Publication) -> bool:
        text = str(post.get("text") or "")
        # X ends the text of a post with media with a link to them.
        if not same_text(text, publication.text, mask_urls=True) and not (
            publication.media and same_text(_TRAILING_LINK.sub("", text), publication.text, mask_urls=True)
        ):
            return False
        ours = [self.uploaded.get(item.key) for item in publication.media]
        attachments = post.get("attachments")
        keys = attachments.get("media_keys") if isinstance(attachments, dict) else None
        if not publication.media or None in ours or not isinstance(keys, list):
            return True  # the text is all there is to go by
        # A media key is "<type>_<media id>".
        return [str(key).rpartition("_")[2] for key in keys] == ours

    def _detail(self, response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        parts = [body.get("title"), body.get("detail")]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            parts.append(errors[0].get("message") or errors[0].get("detail"))
        text = ": ".join(str(part) for part in parts if isinstance(part, str) and part)
        return text[:200] or None

    def _status_error(self, response: httpx.Response, *, what: str):
        detail = self._detail(response)
        if response.status_code == 403 and detail and "duplicate" in detail.lower():
            return platform_error(
                PlatformAuthError,
                f"{self.host} refused {what} as duplicate content (HTTP 403).",
                status=403,
                duplicate=True,
            )
        return self._default_status_error(response, what=what, detail=detail)

    def _rate_limit_wait(self, headers: Mapping[str, str]) -> float | None:
        wait = parse_retry_after(headers.get("Retry-After"))
        if wait is not None:
            return wait
        try:
            reset = float(headers.get("x-rate-limit-reset") or "")
        except ValueError:
            return None
        return max(reset - time.time(), 0.0)


def _media_word(item: MediaItem) -> str:
    return "video" if item.is_video else "GIF" if item.is_gif else "image"
