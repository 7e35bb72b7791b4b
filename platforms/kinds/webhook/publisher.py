"""Publishing to any blog through a signed webhook: POST {connection.instance_url} with JSON.

Request (what a receiver implements):

    POST <instance_url>
    Content-Type: application/json
    Idempotency-Key: <key>                      # the same for every attempt of one publication
    X-Socialdesk-Timestamp: <unix seconds>      # of this attempt
    X-Socialdesk-Signature: sha256=<hex>        # HMAC-SHA256(key=access_token,
                                                #             msg=f"{timestamp}.{raw body}")
    {"idempotency_key": "...", "title": "..." | null, "content": "<markdown>",
     "content_html": "<html>", "sent_at": "<ISO 8601 of the first attempt>",
     "images": [{"url": "https://<PUBLIC_BASE_URL>/media/signed/<token>/", "alt_text": "...",
                 "media_type": "image/png", "width": 1200 | null, "height": 800 | null,
                 "position": 1}, ...]}

`images` lists the publication's media in order (`position` counts from 1; a video, where the
kind's rules allow one, is listed too, with its `video/...` media_type). The bytes do not travel:
`url` is a signed link (core.signed_media) the receiver fetches without credentials, valid for
SIGNED_MEDIA_MAX_AGE seconds (7 days by default; expired: 410 Gone), so a receiver should copy the
files when it receives the post. `alt_text` is exactly what a person approved, line breaks kept.
The list is empty for a text-only post. The signature covers the whole body, images included.

The receiver must check the signature over the raw body (constant-time compare) and may refuse
timestamps older than a few minutes; it must dedupe by Idempotency-Key: a key it has already
seen gets the same answer and no second post. That contract is what makes a lost answer safe to
retry, so the request is re-sent with the same key and body (a fresh timestamp and signature).
Any 2xx means published; its JSON body may carry {"id", "url"} (id defaults to the idempotency
key). 401/403/4xx are refusals; 429 (Retry-After honoured), 408 and 5xx are retried.

`find_published` returns None: a webhook cannot be asked what it has.
"""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import markdown

from core.webhook_signing import webhook_signature
from platforms.kinds.common import PlatformAuthError, platform_error
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import HttpPublisher, Publication, Published, connection_timeout

MARKDOWN_EXTENSIONS = ("extra", "sane_lists")


class WebhookPublisher(HttpPublisher):
    platform_type = "webhook"
    idempotent_post = True

    def __init__(self, *, url: str, secret: str, clock: Callable[[], float] = time.time, **kwargs):
        super().__init__(base_url=url, **kwargs)
        self._secret = secret
        self._clock = clock
        self._bodies: dict[str, bytes] = {}

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "WebhookPublisher":
        return cls(
            url=connection.instance_url,
            secret=connection.access_token,
            timeout=connection_timeout(connection, timeout),
            **kwargs,
        )

    def _body(self, publication: Publication) -> bytes:
        # Built once per publication, so every attempt sends the same bytes (and sent_at).
        key = publication.idempotency_key
        if key not in self._bodies:
            payload = {
                "idempotency_key": key,
                "title": publication.title,
                "content": publication.text,
                "content_html": markdown.markdown(
                    publication.text or "", extensions=list(MARKDOWN_EXTENSIONS)
                ),
                "sent_at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                "images": self._images(publication.media),
            }
            self._bodies[key] = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self._bodies[key]

    def _images(self, media: tuple[MediaItem, ...]) -> list[dict]:
        """The `images` of the payload, in order; every item must come with its signed URL."""
        missing = [position for position, item in enumerate(media, start=1) if not item.url]
        if missing:
            # The workflows app signs each attachment's URL; without one the receiver could not
            # fetch the file, so nothing is sent rather than a post with a hole in it.
            raise platform_error(
                PlatformAuthError,
                f"Media item {', '.join(map(str, missing))} of this post has no URL for the webhook "
                f"at {self.host} to fetch it from; nothing was sent.",
                reason="media",
                retryable=False,
            )
        return [
            {
                "url": item.url,
                "alt_text": item.alt_text,
                "media_type": item.media_type,
                "width": item.width,
                "height": item.height,
                "position": position,
            }
            for position, item in enumerate(media, start=1)
        ]

    def _post_once(self, publication: Publication) -> Published:
        body = self._body(publication)
        timestamp = str(int(self._clock()))
        response = self._send(
            "POST",
            self.base_url,
            what="the webhook",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": publication.idempotency_key,
                "X-Socialdesk-Timestamp": timestamp,
                "X-Socialdesk-Signature": webhook_signature(
                    secret=self._secret, timestamp=timestamp, body=body
                ),
            },
        )
        answer = {}
        if response.content.strip():
            try:
                parsed = response.json()
            except ValueError:
                parsed = None  # a 2xx is what counts; the body is optional
            if isinstance(parsed, dict):
                answer = parsed
        post_id = answer.get("id")
        url = answer.get("url")
        return Published(
            post_id=str(post_id) if post_id not in (None, "") else publication.idempotency_key,
            url=str(url) if isinstance(url, str) and url else None,
            platform_type=self.platform_type,
            details={"status": response.status_code},
        )

    def find_published(self, publication: Publication) -> Published | None:
        return None
