"""Code that talks to the platforms, behind small functions that raise the project's own errors.

Mastodon-compatible instances (Mastodon, Pixelfed, Pleroma/Akkoma, GoToSocial) are reached through
Mastodon.py. Building a client never touches the network (`version_check_mode="none"`); every call
has a timeout; a platform's rate limit is reported, never slept on inside a web request.

Error messages carry the instance and the HTTP status, never a credential.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from core.urlguard import guarded_requests_session, refusal_in

DEFAULT_TIMEOUT = 10.0
USER_AGENT = "socialdesk (+Mastodon.py)"
# The most of a server's own explanation that goes into a message.
SERVER_REASON_CHARS = 300
MIN_SECRET_CHARS = 6


class PlatformError(Exception):
    """A platform call failed; `reason` is a short machine-readable word, `status` the HTTP status."""

    reason = "error"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class PlatformAuthError(PlatformError):
    """The platform refused the credentials (401/403) or the request (other 4xx)."""

    reason = "rejected"


class PlatformUnavailableError(PlatformError):
    """The platform could not answer usefully: timeout, network error, 429, 5xx or a malformed body."""

    reason = "unavailable"


@dataclass(frozen=True)
class PlatformAccount:
    id: str
    username: str
    acct: str
    display_name: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def mastodon_client(*, instance_url: str, access_token: str, timeout: float = DEFAULT_TIMEOUT) -> Mastodon:
    """A Mastodon.py client for one instance; constructing it makes no request."""
    return Mastodon(
        api_base_url=instance_url,
        access_token=access_token,
        request_timeout=timeout,
        version_check_mode="none",
        ratelimit_method="throw",
        user_agent=USER_AGENT,
        session=guarded_requests_session(),
    )


def _http_status(exc: MastodonError) -> int | None:
    # Mastodon.py raises HTTP errors as ('Mastodon API returned error', status, reason, message).
    args = getattr(exc, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def mastodon_verify_credentials(
    *, instance_url: str, access_token: str, timeout: float = DEFAULT_TIMEOUT
) -> PlatformAccount:
    """GET /api/v1/accounts/verify_credentials: the account the token belongs to. A refusal says
    the server's own reason (`server_reason`), e.g. Takahē's "Invalid Bearer token"."""
    client = mastodon_client(instance_url=instance_url, access_token=access_token, timeout=timeout)
    answers: list = []
    client.session.hooks["response"].append(lambda response, *args, **kwargs: answers.append(response))

    def said() -> str:
        reason = server_reason(answers[-1], secrets=[access_token]) if answers else None
        return f" The server said: {reason}" if reason else ""

    try:
        account = client.account_verify_credentials()
    except MastodonUnauthorizedError:
        raise PlatformAuthError(
            f"{instance_url} refused the access token (HTTP 401): it is wrong, expired or revoked." + said(),
            status=401,
        ) from None
    except MastodonNotFoundError:
        raise PlatformAuthError(
            f"{instance_url} has no Mastodon-compatible API at /api/v1/accounts/verify_credentials "
            "(HTTP 404): check the instance URL and platform type.",
            status=404,
        ) from None
    except MastodonRatelimitError:
        raise PlatformUnavailableError(
            f"{instance_url} is rate-limiting requests (HTTP 429); try again later.", status=429
        ) from None
    except MastodonServerError as exc:
        status = _http_status(exc)
        raise PlatformUnavailableError(
            f"{instance_url} answered with a server error (HTTP {status}); try again later.", status=status
        ) from None
    except MastodonNetworkError as exc:
        refused = refusal_in(exc.__context__)
        if refused is not None:
            raise PlatformError(str(refused)) from None
        raise PlatformUnavailableError(
            f"{instance_url} could not be reached within {timeout:g} s (network error or timeout)."
        ) from None
    except MastodonAPIError as exc:
        status = _http_status(exc)
        if status is not None and 400 <= status < 500:
            reason = said()
            guess = " The token may lack the read scope." if status == 403 else ""
            raise PlatformAuthError(
                f"{instance_url} refused the request (HTTP {status}).{reason or guess}",
                status=status,
            ) from None
        raise PlatformUnavailableError(
            f"{instance_url} answered with a body that is not the JSON of an account.", status=status
        ) from None
    except MastodonError:
        raise PlatformUnavailableError(f"{instance_url} could not be asked (client error).") from None
    return _account_from(account, instance_url=instance_url)


def server_reason(response: Any, *, secrets: Iterable[str] = ()) -> str | None:
    """The server's own explanation of a refusal, trimmed and with secrets masked; None if it gave
    none (an HTML error page is not an explanation).

    `response` is a requests or httpx response. JSON bodies: Mastodon's `error` with
    `error_description` (OAuth) or `details` (validation, per field), and `error_details` (Takahē,
    a list of field errors); plain text bodies as they are ("Invalid Bearer token").
    """
    from core.logging import MASK, secret_values

    try:
        text = response.text
    except Exception:  # an undecodable body has no reason to give
        return None
    content_type = (response.headers.get("Content-Type") or "").lower()
    if "html" in content_type or not text or not text.strip():
        return None
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("error", "error_description", "message", "error_details", "details"):
            _collect(body.get(key), parts)
    elif isinstance(body, str):
        parts.append(body)
    else:
        _collect(body, parts)
    unique = list(dict.fromkeys(" ".join(part.split()) for part in parts if part and part.strip()))
    if not unique:
        return None
    # The server knows only what was sent to it: the token is masked wherever it is echoed (and the
    # secret settings, as in every log line). Not the log filter's patterns: they would turn Takahē's
    # "Invalid Bearer token" into "Invalid Bearer ***".
    reason = "; ".join(unique)
    for secret in sorted({*secrets, *secret_values()}, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS:
            reason = reason.replace(secret, MASK)
    if len(reason) > SERVER_REASON_CHARS:
        reason = reason[: SERVER_REASON_CHARS - 1].rstrip() + "…"
    return reason


def _collect(value: Any, parts: list[str], *, field: str | None = None, depth: int = 0) -> None:
    """Error texts from a string, a list of field errors or a {field: [errors]} mapping."""
    if depth > 3 or value is None:
        return
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        parts.append(f"{field}: {value}" if field else str(value))
        return
    if isinstance(value, list):
        for item in value[:10]:
            _collect(item, parts, field=field, depth=depth + 1)
        return
    if isinstance(value, dict):
        message = next(
            (
                value[key]
                for key in ("msg", "message", "description", "detail")
                if isinstance(value.get(key), str)
            ),
            None,
        )
        location = value.get("loc") or value.get("field")
        if message is not None:
            where = ".".join(str(p) for p in location) if isinstance(location, list) else location or field
            parts.append(f"{where}: {message}" if where else message)
            return
        for key, item in list(value.items())[:10]:
            _collect(item, parts, field=str(key), depth=depth + 1)


def _account_from(data, *, instance_url: str) -> PlatformAccount:
    if not isinstance(data, dict) or data.get("id") in (None, "") or not data.get("username"):
        raise PlatformUnavailableError(
            f"{instance_url} answered with JSON that does not describe an account."
        )

    def text(key: str) -> str:
        value = data.get(key)
        return "" if value is None else str(value)

    return PlatformAccount(
        id=text("id"),
        username=text("username"),
        acct=text("acct") or text("username"),
        display_name=text("display_name"),
        url=text("url"),
    )


def mastodon_status_limit(
    *, instance_url: str, access_token: str, timeout: float = DEFAULT_TIMEOUT
) -> int | None:
    """The longest status the instance accepts, in characters, or None when it does not say.

    From /api/v2/instance `configuration.statuses.max_characters`, else /api/v1/instance (same
    place, or Pleroma/Akkoma's top-level `max_toot_chars`). Failures are not errors here: the
    caller falls back to Mastodon's 500.
    """
    client = mastodon_client(instance_url=instance_url, access_token=access_token, timeout=timeout)
    for ask in (client.instance_v2, client.instance_v1):
        try:
            limit = _status_limit_of(ask())
        except MastodonError:
            continue
        if limit is not None:
            return limit
    return None


def _status_limit_of(instance) -> int | None:
    if not isinstance(instance, dict):
        return None
    configuration = instance.get("configuration")
    statuses = configuration.get("statuses") if isinstance(configuration, dict) else None
    candidates = [statuses.get("max_characters") if isinstance(statuses, dict) else None]
    candidates.append(instance.get("max_toot_chars"))  # Pleroma / Akkoma
    for value in candidates:
        if isinstance(value, bool):
            continue
        try:
            limit = int(value)
        except (TypeError, ValueError):
            continue
        if limit > 0:
            return limit
    return None
