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

Images go up first, in order, each once per publisher (remembered by `MediaItem.key`, so a
retried post reuses them): POST /rest/images?action=initializeUpload with the author as owner
answers an `uploadUrl` and the image's URN; the bytes are PUT to that URL (another LinkedIn host in
reality: only the API's own origin or an https linkedin.com host is trusted with the token); GET
/rest/images/{urn} is asked until the image is AVAILABLE. The post names one image as
`content.media` ({"id", "altText"}) and 2-20 as `content.multiImage.images`, in order, with the
alt text exact. A failed upload is never ambiguous: nothing was posted.

LinkedIn has no idempotency key; after a lost answer the author's last 10 posts are read (GET
/rest/posts?q=author) and the one with the same commentary is returned instead of posting twice
(when this publisher uploaded the images, a post with other images is not ours).
A 422 "duplicate" right after a lost answer means the same.
"""

import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from platforms.kinds.common import (
    PlatformAccount,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
    platform_error,
)
from platforms.kinds.linkedin import KIND
from platforms.kinds.media import MediaItem
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
#: How often an uploaded image's status is asked before giving up for now, and the wait between.
IMAGE_POLLS = 10
IMAGE_POLL_WAIT = 1.0
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
        #: Image URNs of what this publisher uploaded, by `MediaItem.key`, and the keys LinkedIn
        #: reported AVAILABLE: a retried post uploads nothing twice.
        self.uploaded: dict[str, str] = {}
        self._available: set[str] = set()

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
        self._refuse_unfit_media(publication.media, rules=KIND.media, network="LinkedIn")
        author = self._author()
        images = self._upload_all(publication.media, author=author)
        payload: dict[str, Any] = {
            "author": author,
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
        if len(images) == 1:
            payload["content"] = {"media": images[0]}
        elif images:
            payload["content"] = {"multiImage": {"images": images}}
        response = self._send("POST", f"{self.base_url}/rest/posts", what="the new post", json=payload)
        urn = (response.headers.get("x-restli-id") or "").strip()
        if not urn.startswith("urn:li:"):
            raise self._malformed(
                "the new post",
                "came without an x-restli-id header naming the post",
                status=response.status_code,
                ambiguous=True,
            )
        details: dict[str, Any] = {"status": response.status_code}
        if images:
            details["images"] = [image["id"] for image in images]
        return Published(
            post_id=urn,
            url=linkedin_post_url(urn),
            platform_type=self.platform_type,
            details=details,
        )

    # Images ---------------------------------------------------------------------------------------

    def _upload_all(self, media: tuple[MediaItem, ...], *, author: str) -> list[dict[str, str]]:
        """{"id", "altText"} of each item in order, uploading what is not up yet. A failure here
        never leaves a post behind, so it is never ambiguous."""
        images = []
        for position, item in enumerate(media, start=1):
            what = f"the upload of image {position} of {len(media)} ({item.filename})"
            try:
                urn = self.uploaded.get(item.key)
                if urn is None:
                    urn = self._upload(item, author=author, what=what)
                    self.uploaded[item.key] = urn
                if item.key not in self._available:
                    self._wait_until_available(urn, what=what)
                    self._available.add(item.key)
            except PlatformError as exc:
                exc.ambiguous = False
                raise
            image = {"id": urn}
            if item.alt_text:
                image["altText"] = item.alt_text
            images.append(image)
        return images

    def _upload(self, item: MediaItem, *, author: str, what: str) -> str:
        body = self._json(
            self._send(
                "POST",
                f"{self.base_url}/rest/images?action=initializeUpload",
                what=what,
                json={"initializeUploadRequest": {"owner": author}},
            ),
            what=what,
        )
        value = body.get("value") if isinstance(body, dict) else None
        upload_url = value.get("uploadUrl") if isinstance(value, dict) else None
        urn = value.get("image") if isinstance(value, dict) else None
        if not isinstance(upload_url, str) or not isinstance(urn, str) or not urn.startswith("urn:li:image:"):
            raise self._malformed(what, "has no uploadUrl and image URN")
        self._check_upload_url(upload_url, what=what)
        self._send(
            "PUT",
            upload_url,
            what=what,
            content=item.read(),
            headers={"Content-Type": "application/octet-stream"},
        )
        return urn

    def _check_upload_url(self, url: str, *, what: str) -> None:
        """The token goes only to the API's own origin or to a LinkedIn host over https."""
        parts, own = urlsplit(url), urlsplit(self.base_url)
        host = (parts.hostname or "").lower()
        if (parts.scheme, parts.netloc) == (own.scheme, own.netloc) or (
            parts.scheme == "https" and (host == "linkedin.com" or host.endswith(".linkedin.com"))
        ):
            return
        raise platform_error(
            PlatformAuthError,
            f"{self.host} answered {what} with an upload URL on another host ({host or 'none'}); "
            "nothing was sent there.",
            reason="refused",
            retryable=False,
        )

    def _wait_until_available(self, urn: str, *, what: str) -> None:
        url = f"{self.base_url}/rest/images/{quote(urn, safe='')}"
        for poll in range(IMAGE_POLLS):
            if poll:
                self._sleep(IMAGE_POLL_WAIT)
            body = self._json(self._send("GET", url, what=what), what=what)
            status = body.get("status") if isinstance(body, dict) else None
            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                raise platform_error(
                    PlatformAuthError,
                    f"{self.host} could not process {what} (PROCESSING_FAILED): LinkedIn refused the file.",
                    reason="media",
                )
        raise platform_error(
            PlatformUnavailableError,
            f"{self.host} was still processing {what}; try again later.",
            reason="processing",
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
            if (
                same_text(commentary, wanted) or same_text(commentary, publication.text)
            ) and self._same_images(element, publication):
                urn = str(element["id"])
                return Published(
                    post_id=urn,
                    url=linkedin_post_url(urn),
                    platform_type=self.platform_type,
                    details={"status": None},
                )
        return None

    def _same_images(self, element: dict, publication: Publication) -> bool:
        """False when this publisher knows its images and the post names others."""
        ours = [self.uploaded.get(item.key) for item in publication.media]
        if not ours or None in ours:
            return True  # the commentary is all there is to go by
        content = element.get("content") if isinstance(element.get("content"), dict) else {}
        media = content.get("media")
        multi = content.get("multiImage")
        if isinstance(media, dict):
            theirs = [media.get("id")]
        elif isinstance(multi, dict) and isinstance(multi.get("images"), list):
            theirs = [image.get("id") for image in multi["images"] if isinstance(image, dict)]
        else:
            theirs = []
        return theirs == ours

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
