"""Code that talks to the platforms, behind small functions that raise the project's own errors.

Mastodon-compatible instances (Mastodon, Pixelfed, Pleroma/Akkoma, GoToSocial) are reached through
Mastodon.py. Building a client never touches the network (`version_check_mode="none"`); every call
has a timeout; a platform's rate limit is reported, never slept on inside a web request.

Error messages carry the instance and the HTTP status, never a credential.
"""

from dataclasses import asdict, dataclass

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
    """GET /api/v1/accounts/verify_credentials: the account the token belongs to."""
    client = mastodon_client(instance_url=instance_url, access_token=access_token, timeout=timeout)
    try:
        account = client.account_verify_credentials()
    except MastodonUnauthorizedError:
        raise PlatformAuthError(
            f"{instance_url} refused the access token (HTTP 401): it is wrong, expired or revoked.",
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
            raise PlatformAuthError(
                f"{instance_url} refused the request (HTTP {status}): the token may lack the read scope.",
                status=status,
            ) from None
        raise PlatformUnavailableError(
            f"{instance_url} answered with a body that is not the JSON of an account.", status=status
        ) from None
    except MastodonError:
        raise PlatformUnavailableError(f"{instance_url} could not be asked (client error).") from None
    return _account_from(account, instance_url=instance_url)


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
