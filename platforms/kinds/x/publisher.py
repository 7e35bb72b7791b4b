"""Publishing a post on X through API v2: POST {base}/2/tweets with {"text": ...} and an OAuth 2.0
user access token (`Authorization: Bearer`).

X has no idempotency key, so an attempt whose answer was lost is followed by a lookup (GET
/2/users/me, then the user's last 10 posts, matched by text) before anything is posted again. X
refuses the same text twice with 403 "duplicate content": normally a rejection, but right after a
lost answer it means our own earlier attempt landed, so the post is looked up and returned.

Matching by text: X answers with links rewritten to t.co and &, <, > as HTML entities, so links
are masked and entities decoded on both sides before comparing.

Errors come as problem details ({"title", "detail", "type"}); a 429 carries `x-rate-limit-reset`
(epoch seconds) and sometimes Retry-After, which wins.
"""

import time
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from core.retry import parse_retry_after
from platforms.kinds.common import PlatformAccount, PlatformAuthError, platform_error
from platforms.kinds.publishing import (
    HttpPublisher,
    Publication,
    Published,
    connection_timeout,
    same_text,
)

LOOKUP_LIMIT = 10


def x_post_url(*, post_id: str, username: str | None) -> str:
    if username:
        return f"https://x.com/{quote(username, safe='')}/status/{post_id}"
    return f"https://x.com/i/web/status/{post_id}"


class XPublisher(HttpPublisher):
    platform_type = "x"

    def __init__(self, *, base_url: str, access_token: str, username: str | None = None, **kwargs):
        super().__init__(base_url=base_url, headers={"Authorization": f"Bearer {access_token}"}, **kwargs)
        self.username = (username or "").lstrip("@") or None

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
        response = self._send(
            "POST", f"{self.base_url}/2/tweets", what="the new post", json={"text": publication.text}
        )
        body = self._json(response, what="the new post", ambiguous=True)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            raise self._malformed("the new post", "does not describe a post", ambiguous=True)
        post_id = str(data["id"])
        return Published(
            post_id=post_id,
            url=x_post_url(post_id=post_id, username=self.username),
            platform_type=self.platform_type,
            details={"status": response.status_code},
        )

    def _find_once(self, publication: Publication) -> Published | None:
        user = self.me()
        user_id = quote(str(user["id"]), safe="")
        body = self._json(
            self._send(
                "GET",
                f"{self.base_url}/2/users/{user_id}/tweets",
                what="the user's posts",
                params={"max_results": LOOKUP_LIMIT},
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
                and same_text(str(post.get("text") or ""), publication.text, mask_urls=True)
            ):
                post_id = str(post["id"])
                return Published(
                    post_id=post_id,
                    url=x_post_url(post_id=post_id, username=str(user["username"])),
                    platform_type=self.platform_type,
                    details={"status": None},
                )
        return None

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
