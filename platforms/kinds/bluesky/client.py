"""XRPC, the AT Protocol's HTTP wire format, over the project's HTTP publisher plumbing (the
guarded httpx client, `core.retry`, `core.outbound` pacing), and the session a Bluesky connection
keeps.

Every call is `{base}/xrpc/{NSID}`: queries are GETs with URL parameters, procedures are POSTs with
a JSON body (or raw bytes for `com.atproto.repo.uploadBlob`). Errors are `{"error": Name,
"message": ...}`. A session is two JWTs from `com.atproto.server.createSession`: the access token
(`Authorization: Bearer`, minutes to hours) and the refresh token (days), which
`com.atproto.server.refreshSession` exchanges for a new pair. An expired access token is answered
400 (or 401 through an entryway) with `{"error": "ExpiredToken"}`; the client renews the session
once and asks again, and hands the new tokens to `on_session` so they are stored (by
`platforms.services.connection_session_store`). Rate limits: 429 with `RateLimit-Limit`,
`-Remaining`, `-Reset` (epoch seconds) and `-Policy` (`limit;w=seconds`), and `Retry-After`.

Why not the `atproto` SDK: every outbound request goes through `core.urlguard.guarded_client`,
retried and paced like every other network's; XRPC is small enough to speak directly.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.retry import RetryPolicy, parse_retry_after
from platforms.kinds.common import (
    PlatformAccount,
    PlatformAuthError,
    PlatformError,
    Session,
    platform_error,
)
from platforms.kinds.publishing import HttpPublisher

PDS_SERVICE_ID = "#atproto_pds"
PDS_SERVICE_TYPE = "AtprotoPersonalDataServer"
EXPIRED_TOKEN = "ExpiredToken"  # noqa: S105 -- an XRPC error name, not a credential
SIGN_IN_AGAIN = "sign in again with the handle and an app password"


def profile_url(actor: str) -> str:
    return f"https://bsky.app/profile/{actor}"


def at_uri_parts(uri: str) -> tuple[str, str, str]:
    """(authority, collection, record key) of an `at://` record URI; ValueError otherwise."""
    if not isinstance(uri, str) or not uri.startswith("at://"):
        raise ValueError(f"Not an at:// URI: {uri!r}.")
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"Not the at:// URI of a record: {uri!r}.")
    return parts[0], parts[1], parts[2]


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying it (the server checks its own tokens;
    this only says when to expect a refresh). None when the token says nothing readable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError, OSError):
        return None


def pds_endpoint(did_doc: Any) -> str | None:
    """The account's PDS from a DID document's `#atproto_pds` service (https only), or None."""
    if not isinstance(did_doc, dict) or not isinstance(did_doc.get("service"), list):
        return None
    for service in did_doc["service"]:
        if not isinstance(service, dict):
            continue
        service_id = str(service.get("id") or "")
        if service_id.endswith(PDS_SERVICE_ID) and service.get("type") == PDS_SERVICE_TYPE:
            endpoint = service.get("serviceEndpoint")
            if isinstance(endpoint, str) and urlsplit(endpoint).scheme in ("https", "http"):
                return endpoint.rstrip("/")
    return None


class XrpcClient(HttpPublisher):
    """One account's XRPC calls with session renewal. `on_session(Session)` receives renewed tokens."""

    platform_type = "bluesky"

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str | None = None,
        refresh_token: str | None = None,
        did: str | None = None,
        handle: str | None = None,
        on_session: Callable[[Session], None] | None = None,
        **kwargs,
    ):
        super().__init__(base_url=base_url, **kwargs)
        self._access_token = access_token
        self._refresh_token = refresh_token
        self.did = did or None
        self.handle = (handle or "").lstrip("@") or None
        self._on_session = on_session
        self._learned: dict[str, Any] = {}

    def __repr__(self) -> str:  # never the tokens
        return f"<{type(self).__name__} {self.base_url} {self.handle or ''}>"

    @property
    def repo(self) -> str:
        """The account's repository: its DID, else its handle (XRPC takes either)."""
        return self.did or self.handle or ""

    # Calls ------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        nsid: str,
        *,
        what: str,
        json: Any = None,
        content: bytes | None = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """One XRPC call; with `authenticated`, an expired session is renewed once and asked again."""

        def send() -> httpx.Response:
            sent = dict(headers or {})
            if authenticated:
                sent["Authorization"] = f"Bearer {self._access_token or ''}"
            return self._send(
                method,
                f"{self.base_url}/xrpc/{nsid}",
                what=what,
                json=json,
                content=content,
                params=params,
                headers=sent,
            )

        try:
            return send()
        except PlatformError as exc:
            if not (authenticated and getattr(exc, "xrpc_error", None) == EXPIRED_TOKEN):
                raise
        self.refresh_session()
        return send()

    def refresh_session(self) -> Session:
        """`com.atproto.server.refreshSession` with the refresh token; the new pair replaces the old
        one here and goes to `on_session`. A refused renewal says to sign in again."""
        if not self._refresh_token:
            raise platform_error(
                PlatformAuthError,
                f"The Bluesky session on {self.host} has expired and this connection has no refresh "
                f"token: {SIGN_IN_AGAIN}.",
                reason="expired",
            )
        try:
            response = self._send(
                "POST",
                f"{self.base_url}/xrpc/com.atproto.server.refreshSession",
                what="the session renewal",
                headers={"Authorization": f"Bearer {self._refresh_token}"},
            )
        except PlatformAuthError as exc:
            raise platform_error(
                PlatformAuthError,
                f"The Bluesky session on {self.host} has expired and could not be renewed (HTTP "
                f"{exc.status}{': ' + exc.xrpc_detail if getattr(exc, 'xrpc_detail', None) else ''}): "
                f"{SIGN_IN_AGAIN}.",
                status=exc.status,
                reason="expired",
            ) from None
        session = self.session_from(
            self._json(response, what="the session renewal"), what="the session renewal"
        )
        self._access_token = session.access_token
        self._refresh_token = session.refresh_token
        if self._on_session is not None:
            self._on_session(session)
        return session

    def session_from(self, body: Any, *, what: str) -> Session:
        """A createSession or refreshSession answer as a Session (the PDS from its DID document)."""
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) and body[key]
            for key in ("accessJwt", "refreshJwt", "did", "handle")
        ):
            raise self._malformed(what, "does not describe a session")
        self.did, self.handle = body["did"], body["handle"]
        extra = {"did": body["did"], "handle": body["handle"]}
        pds = pds_endpoint(body.get("didDoc"))
        if pds:
            extra["pds_url"] = pds
        self._learned.update(extra)
        return Session(
            access_token=body["accessJwt"],
            refresh_token=body["refreshJwt"],
            expires_at=jwt_expiry(body["accessJwt"]),
            extra=extra,
        )

    # Verification -----------------------------------------------------------------------------

    def account(self) -> PlatformAccount:
        """`com.atproto.server.getSession`: the session's account (one attempt, renewing once)."""
        what = "the session's account"
        body = self._json(self.call("GET", "com.atproto.server.getSession", what=what), what=what)
        if not isinstance(body, dict) or not body.get("did") or not body.get("handle"):
            raise self._malformed(what, "does not describe an account")
        self.did, self.handle = str(body["did"]), str(body["handle"])
        self._learned.update({"did": self.did, "handle": self.handle})
        pds = pds_endpoint(body.get("didDoc"))
        if pds:
            self._learned["pds_url"] = pds
        return PlatformAccount(
            id=self.did, username=self.handle, acct=self.handle, display_name="", url=profile_url(self.handle)
        )

    def learned_extra(self) -> dict[str, Any]:
        """The DID, handle and PDS address the calls so far told (for the connection's `extra`)."""
        return dict(self._learned)

    # Errors -----------------------------------------------------------------------------------

    def _status_error(self, response: httpx.Response, *, what: str) -> PlatformError:
        name, message = xrpc_error(response)
        detail = ": ".join(part for part in (name, message) if part)[:200] or None
        status = response.status_code
        if status in (400, 401) and name == EXPIRED_TOKEN:
            exc = platform_error(
                PlatformAuthError,
                f"{self.host} says the session has expired ({what}, HTTP {status}).",
                status=status,
            )
        elif status == 401:
            exc = platform_error(
                PlatformAuthError,
                f"{self.host} refused the credentials for {what} (HTTP 401"
                + (f": {detail}" if detail else "")
                + "): they are wrong, expired or revoked.",
                status=401,
            )
        elif status == 413:
            exc = platform_error(
                PlatformAuthError, f"{self.host} refused {what} as too large (HTTP 413).", status=413
            )
        elif status in (400, 409) and message and "already exists" in message.lower():
            exc = platform_error(
                PlatformAuthError,
                f"{self.host} refused {what}: {detail} (HTTP {status}).",
                status=status,
                duplicate=True,
            )
        else:
            exc = self._default_status_error(response, what=what, detail=detail)
        exc.xrpc_error = name
        exc.xrpc_detail = detail
        return exc

    def _rate_limit_wait(self, headers: Mapping[str, str]) -> float | None:
        wait = parse_retry_after(headers.get("Retry-After"))
        if wait is not None:
            return wait
        try:
            reset = float(headers.get("RateLimit-Reset") or "")
        except ValueError:
            return None
        return max(reset - time.time(), 0.0)


def xrpc_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """(error name, message) of an XRPC error body; (None, None) when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    name, message = body.get("error"), body.get("message")
    return (
        name if isinstance(name, str) and name else None,
        message if isinstance(message, str) and message else None,
    )


def create_session(*, base_url: str, identifier: str, password: str, timeout: float) -> Session:
    """`com.atproto.server.createSession`: the handle (or DID, or email) and an app password for a
    session. One attempt, no retry (it runs inside a web request); the password goes nowhere else."""
    with XrpcClient(base_url=base_url, timeout=timeout, policy=RetryPolicy(attempts=1)) as client:
        response = client.call(
            "POST",
            "com.atproto.server.createSession",
            what="the sign-in",
            json={"identifier": identifier, "password": password},
            authenticated=False,
        )
        return client.session_from(client._json(response, what="the sign-in"), what="the sign-in")
