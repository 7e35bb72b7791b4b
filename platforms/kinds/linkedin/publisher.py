"""Publishing a post on LinkedIn through the Posts API: POST {base}/rest/posts as the connection's
author (`extra["author_urn"]`: urn:li:person:... or urn:li:organization:..., learned by verifying
the connection when absent).

Headers: Bearer token, `LinkedIn-Version` (202411 unless `extra["linkedin_version"]`) and
`X-Restli-Protocol-Version: 2.0.0`. The answer is a 201 whose `x-restli-id` header names the new
post (urn:li:share:... or urn:li:ugcPost:...); the body may be empty.

Commentary is LinkedIn's "little text" format, where | { } @ [ ] ( ) < > # \\ * _ ~ are markup
(mentions, hashtags, templates): a bare one can truncate or garble the post. Every one is escaped
with a backslash, except that a hashtag (#word) becomes LinkedIn's hashtag template
`{hashtag|\\#|word}`, so it stays a clickable hashtag.

LinkedIn has no idempotency key; after a lost answer the author's last 10 posts are read (GET
/rest/posts?q=author) and the one with the same commentary is returned instead of posting twice.
A 422 "duplicate" right after a lost answer means the same.
"""

import re
from urllib.parse import quote

import httpx

from platforms.kinds.common import PlatformAccount, PlatformAuthError, platform_error
from platforms.kinds.publishing import (
    HttpPublisher,
    Publication,
    Published,
    connection_timeout,
    same_text,
)

DEFAULT_VERSION = "202411"
AUTHOR_URN = re.compile(r"^urn:li:(person|organization):[A-Za-z0-9_-]+$")
LOOKUP_LIMIT = 10
_RESERVED = re.compile(r"([|{}@\[\]()<>#\\*_~])")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


def linkedin_commentary(text: str) -> str:
    """`text` as little-text commentary: markup characters escaped, #hashtags as templates."""
    parts = []
    last = 0
    for match in _HASHTAG.finditer(text):
        parts.append(_RESERVED.sub(r"\\\1", text[last : match.start()]))
        parts.append("{hashtag|\\#|" + _RESERVED.sub(r"\\\1", match.group(1)) + "}")
        last = match.end()
    parts.append(_RESERVED.sub(r"\\\1", text[last:]))
    return "".join(parts)


def linkedin_post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


class LinkedInPublisher(HttpPublisher):
    platform_type = "linkedin"

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        author_urn: str | None,
        version: str | None = None,
        **kwargs,
    ):
        super().__init__(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {access_token}",
                "LinkedIn-Version": str(version or DEFAULT_VERSION),
                "X-Restli-Protocol-Version": "2.0.0",
            },
            **kwargs,
        )
        self.author_urn = author_urn or None

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "LinkedInPublisher":
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        return cls(
            base_url=connection.instance_url,
            access_token=connection.access_token,
            author_urn=extra.get("author_urn"),
            version=extra.get("linkedin_version"),
            timeout=connection_timeout(connection, timeout),
            **kwargs,
        )

    def account(self) -> PlatformAccount:
        """The member of the token from OpenID Connect's GET /v2/userinfo (one attempt). `acct` is
        the member's author URN, urn:li:person:{sub}."""
        what = "the member of the token"
        body = self._json(self._send("GET", f"{self.base_url}/v2/userinfo", what=what), what=what)
        sub = body.get("sub") if isinstance(body, dict) else None
        if not isinstance(sub, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", sub):
            raise self._malformed(what, "has no usable OpenID subject (sub)")
        return PlatformAccount(
            id=sub,
            username=sub,
            acct=f"urn:li:person:{sub}",
            display_name=str(body.get("name") or ""),
            url="",
        )

    def _author(self) -> str:
        if not self.author_urn or not AUTHOR_URN.match(str(self.author_urn)):
            raise platform_error(
                PlatformAuthError,
                f"The LinkedIn connection for {self.host} has no valid author URN (extra.author_urn, "
                "urn:li:person:... or urn:li:organization:...): verify the connection or set it.",
            )
        return str(self.author_urn)

    def _post_once(self, publication: Publication) -> Published:
        payload = {
            "author": self._author(),
            "commentary": linkedin_commentary(publication.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        response = self._send("POST", f"{self.base_url}/rest/posts", what="the new post", json=payload)
        urn = (response.headers.get("x-restli-id") or "").strip()
        if not urn.startswith("urn:li:"):
            raise self._malformed(
                "the new post",
                "came without an x-restli-id header naming the post",
                status=response.status_code,
                ambiguous=True,
            )
        return Published(
            post_id=urn,
            url=linkedin_post_url(urn),
            platform_type=self.platform_type,
            details={"status": response.status_code},
        )

    def _find_once(self, publication: Publication) -> Published | None:
        author = quote(self._author(), safe="")
        # Built by hand: Rest.li 2.0 wants the URN's colons percent-encoded.
        url = f"{self.base_url}/rest/posts?q=author&author={author}&count={LOOKUP_LIMIT}&sortBy=LAST_MODIFIED"
        body = self._json(
            self._send("GET", url, what="the author's posts", headers={"X-RestLi-Method": "FINDER"}),
            what="the author's posts",
        )
        elements = body.get("elements") if isinstance(body, dict) else None
        if not isinstance(elements, list):
            raise self._malformed("the author's posts", "has no list of elements")
        wanted = linkedin_commentary(publication.text)
        for element in elements:
            if not isinstance(element, dict) or not str(element.get("id") or "").startswith("urn:li:"):
                continue
            commentary = str(element.get("commentary") or "")
            if same_text(commentary, wanted) or same_text(commentary, publication.text):
                urn = str(element["id"])
                return Published(
                    post_id=urn,
                    url=linkedin_post_url(urn),
                    platform_type=self.platform_type,
                    details={"status": None},
                )
        return None

    def _status_error(self, response: httpx.Response, *, what: str):
        detail = self._detail(response)
        if response.status_code == 422 and detail and "duplicate" in detail.lower():
            return platform_error(
                PlatformAuthError,
                f"{self.host} refused {what} as a duplicate (HTTP 422).",
                status=422,
                duplicate=True,
            )
        return self._default_status_error(response, what=what, detail=detail)
