"""Publishing a status on a Mastodon-compatible server (Mastodon, Pixelfed, Pleroma/Akkoma,
GoToSocial): POST {instance}/api/v1/statuses.

Every attempt carries the same `Idempotency-Key` (the publication's), and the server answers a
repeated key with the status it already created (Mastodon keeps keys for an hour), so a lost answer
is simply retried: no lookup is needed in between. `find_published` (the account's last 20 statuses
with the same plain text) is for a job taken up again later, when the hour may have passed.

Built on `platforms.kinds.publishing.HttpPublisher` like every publisher (the same error mapping,
ambiguity rules, pacing and statistics), over httpx like the rest of this network's client.
"""

from urllib.parse import quote

from platforms.kinds.mastodon.client import rate_limit_wait
from platforms.kinds.publishing import (
    HttpPublisher,
    Publication,
    Published,
    connection_timeout,
    html_to_text,
    same_text,
)

VISIBILITIES = ("public", "unlisted", "private", "direct")
LOOKUP_LIMIT = 20


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
        payload = {"status": publication.text, "visibility": self.visibility}
        if self.language:
            payload["language"] = self.language
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
