"""Publishing a status on a Mastodon-compatible server (Mastodon, Pixelfed, Pleroma/Akkoma,
GoToSocial): POST {instance}/api/v1/statuses.

Every attempt carries the same `Idempotency-Key` (the publication's), and the server answers a
repeated key with the status it already created (Mastodon keeps keys for an hour), so a lost answer
is simply retried: no lookup is needed in between. `find_published` (the account's last 20 statuses
with the same plain text) is for a job taken up again later, when the hour may have passed.

Media (docs.joinmastodon.org/methods/media): before the status, each `MediaItem` in order is
uploaded with POST /api/v2/media (multipart: `file`, `description` = the approved alt text exactly,
`focus` "x,y" when known). 200 means processed; 202 (Mastodon for video and large images, Pixelfed
always) means `url` is null until processing ends, so GET /api/v1/media/{id} is asked until it
answers 200 with a `url` (206: still processing), waiting at most `PROCESSING_WAIT_FACTOR`
timeouts in all. The status then carries `media_ids` in the same order. Uploads are remembered per
publication (its idempotency key) in this publisher, so a retried status reuses the same media
ids; an upload is not a post, so a failed upload is never "the post may exist".

Built on `platforms.kinds.publishing.HttpPublisher` like every publisher (the same error mapping,
ambiguity rules, pacing and statistics), over httpx like the rest of this network's client.
"""

from urllib.parse import quote

import httpx

from platforms.kinds.common import PlatformError, PlatformUnavailableError, platform_error
from platforms.kinds.mastodon.client import rate_limit_wait
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import (
    HttpPublisher,
    Publication,
    Published,
    connection_timeout,
    html_to_text,
    same_text,
)
from platforms.kinds.registry import kind_of

VISIBILITIES = ("public", "unlisted", "private", "direct")
LOOKUP_LIMIT = 20
#: How long processing may take in all, in timeouts (10 s each by default: a minute).
PROCESSING_WAIT_FACTOR = 6
#: Seconds between asks while the server processes an upload (the last one repeats).
PROCESSING_POLL_WAITS = (1.0, 2.0, 3.0, 5.0)


class MastodonPublisher(HttpPublisher):
    idempotent_post = True

    def __init__(
        self,
        *,
        instance_url: str,
        access_token: str,
        platform_type: str = "mastodon",
        visibility: str = "public",
        language: str | None = None,
        **kwargs,
    ):
        super().__init__(
            base_url=instance_url,
            platform_type=platform_type,
            headers={"Authorization": f"Bearer {access_token}"},
            **kwargs,
        )
        self.visibility = visibility if visibility in VISIBILITIES else "public"
        self.language = language or None
        # Where the server is not known to honour the key, a lost answer is looked up before any
        # second POST (HttpPublisher.publish); the key is sent either way.
        self.idempotent_post = kind_of(self.platform_type).honours_idempotency_key
        # {publication's idempotency key: {MediaItem.key: media id}}, and the ids processed.
        self._uploaded: dict[str, dict[str, str]] = {}
        self._processed: set[str] = set()

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "MastodonPublisher":
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        return cls(
            instance_url=connection.instance_url,
            access_token=connection.access_token,
            platform_type=connection.platform_type,
            visibility=str(extra.get("visibility") or "public"),
            language=extra.get("language") or None,
            timeout=connection_timeout(connection, timeout),
            **kwargs,
        )

    def _post_once(self, publication: Publication) -> Published:
        media_ids = self._upload_media(publication)
        payload = {"status": publication.text, "visibility": self.visibility}
        if self.language:
            payload["language"] = self.language
        if media_ids:
            payload["media_ids"] = media_ids
        response = self._send(
            "POST",
            f"{self.base_url}/api/v1/statuses",
            what="the new status",
            json=payload,
            headers={"Idempotency-Key": publication.idempotency_key},
        )
        status = self._json(response, what="the new status", ambiguous=True)
        if not isinstance(status, dict) or status.get("id") in (None, ""):
            raise self._malformed("the new status", "does not describe a status", ambiguous=True)
        return self._published(status, http_status=response.status_code)

    # Media ------------------------------------------------------------------------------------

    def _upload_media(self, publication: Publication) -> list[str]:
        """The media ids of the publication's items, in order: uploaded (and processed) once each.
        A failure here happened before any status was sent, so it never says the post may exist."""
        uploaded = self._uploaded.setdefault(publication.idempotency_key, {})
        total = len(publication.media)
        ids = []
        for position, item in enumerate(publication.media, start=1):
            what = f"{'video' if item.is_video else 'image'} {position} of {total} ({item.filename})"
            try:
                media_id = uploaded.get(item.key)
                if media_id is None:
                    media_id, ready = self._upload_once(item, what=what)
                    uploaded[item.key] = media_id
                    if ready:
                        self._processed.add(media_id)
                if media_id not in self._processed:
                    self._wait_processed(media_id, what=what)
                    self._processed.add(media_id)
            except PlatformError as exc:
                exc.ambiguous = False
                raise
            ids.append(media_id)
        return ids

    def _upload_once(self, item: MediaItem, *, what: str) -> tuple[str, bool]:
        """POST /api/v2/media: (the media id, whether it is processed already)."""
        fields = {"description": item.alt_text}
        if item.focus is not None:
            fields["focus"] = f"{item.focus[0]:.2f},{item.focus[1]:.2f}"
        # httpx writes the multipart body (file, then the fields as UTF-8, line breaks untouched).
        form = httpx.Request(
            "POST",
            f"{self.base_url}/api/v2/media",
            data=fields,
            files={"file": (item.filename, item.read(), item.media_type)},
        )
        try:
            response = self._send(
                "POST",
                f"{self.base_url}/api/v2/media",
                what=what,
                content=form.read(),
                headers={"Content-Type": form.headers["Content-Type"]},
            )
        except PlatformError as exc:
            if exc.status == 413:
                raise platform_error(
                    type(exc),
                    f"{self.host} refused {what} (HTTP 413): the file is larger than the server takes.",
                    status=413,
                ) from None
            raise
        media = self._json(response, what=what)
        if not isinstance(media, dict) or media.get("id") in (None, ""):
            raise self._malformed(what, "does not describe an upload", status=response.status_code)
        return str(media["id"]), bool(media.get("url"))

    def _wait_processed(self, media_id: str, *, what: str) -> None:
        """Ask GET /api/v1/media/{id} until the server has processed the upload (200 with a `url`;
        206 or no `url`: not yet), for at most PROCESSING_WAIT_FACTOR timeouts of waiting."""
        budget = self.timeout * PROCESSING_WAIT_FACTOR
        waited = 0.0
        asks = 0
        while waited < budget:
            pause = PROCESSING_POLL_WAITS[min(asks, len(PROCESSING_POLL_WAITS) - 1)]
            self._sleep(pause)
            waited += pause
            asks += 1
            url = f"{self.base_url}/api/v1/media/{quote(media_id, safe='')}"
            response = self._send("GET", url, what=f"{what} being processed")
            media = self._json(response, what=f"{what} being processed")
            if response.status_code != 206 and isinstance(media, dict) and media.get("url"):
                return
        raise platform_error(
            PlatformUnavailableError,
            f"{self.host} was still processing {what} after {waited:g} s; nothing was posted. "
            "Try again later (the server may be busy) or use a smaller file.",
            reason="processing",
            retryable=False,
        )

    def _find_once(self, publication: Publication) -> Published | None:
        account = self._json(
            self._send("GET", f"{self.base_url}/api/v1/accounts/verify_credentials", what="the account"),
            what="the account",
        )
        if not isinstance(account, dict) or account.get("id") in (None, ""):
            raise self._malformed("the account", "does not describe an account")
        account_id = quote(str(account["id"]), safe="")
        statuses = self._json(
            self._send(
                "GET",
                f"{self.base_url}/api/v1/accounts/{account_id}/statuses",
                what="the account's statuses",
                params={"limit": LOOKUP_LIMIT, "exclude_reblogs": "true"},
            ),
            what="the account's statuses",
        )
        if not isinstance(statuses, list):
            raise self._malformed("the account's statuses", "is not a list of statuses")
        for status in statuses:
            if (
                isinstance(status, dict)
                and status.get("id") not in (None, "")
                and not status.get("reblog")
                and same_text(html_to_text(str(status.get("content") or "")), publication.text)
                and len(status.get("media_attachments") or []) == len(publication.media)
            ):
                return self._published(status, http_status=None)
        return None

    def _rate_limit_wait(self, headers):
        # Retry-After, else X-RateLimit-Reset, read as the captions client reads them.
        return rate_limit_wait(headers)

    def _published(self, status: dict, *, http_status: int | None) -> Published:
        return Published(
            post_id=str(status["id"]),
            url=status.get("url") or status.get("uri") or None,
            platform_type=self.platform_type,
            details={"status": http_status},
        )
