"""What every network's client shares: the errors they raise, the account a credential belongs
to, and the server's own reason for a refusal. Every call has a timeout; error messages carry the
host and the HTTP status, never a credential.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from core.outbound import HostThrottle
from core.retry import RetryPolicy, RetryStats, call_with_retries

DEFAULT_TIMEOUT = 10.0
# The most of a server's own explanation that goes into a message.
SERVER_REASON_CHARS = 300
MIN_SECRET_CHARS = 6


@dataclass(frozen=True)
class DescriptionLimit:
    """A network's alt-text limit; `problem` is None when the server said it (or the network has
    one fixed limit), else why the limit is a default (what each source answered)."""

    limit: int
    problem: str | None = None


class PlatformError(Exception):
    """A platform call failed; `reason` is a short machine-readable word, `status` the HTTP status."""

    reason = "error"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


def platform_error(
    cls: type[PlatformError],
    message: str,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    ambiguous: bool = False,
    reason: str | None = None,
    retryable: bool = True,
    duplicate: bool = False,
) -> PlatformError:
    """A PlatformError carrying what the retry loop and the publishing service read from it."""
    exc = cls(message, status=status)
    exc.retry_after = retry_after
    exc.ambiguous = ambiguous
    exc.retry_reason = reason or (str(status) if status is not None else cls.reason)
    exc.retryable = retryable
    exc.duplicate = duplicate
    return exc


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


@dataclass(frozen=True, kw_only=True)
class Session:
    """What signing in with an account password gives (Bluesky's createSession and
    refreshSession): tokens to store encrypted, and settings learned for `extra`."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None  # when the access token expires, if it says
    extra: dict[str, Any]  # non-secret: the account's DID, handle, PDS address


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


T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may work: the platform was unavailable, and the failure does
    not say a retry would repeat a side effect (`retryable=False`)."""
    return isinstance(exc, PlatformUnavailableError) and getattr(exc, "retryable", True)


def retry_after_of(exc: BaseException) -> float | None:
    return getattr(exc, "retry_after", None)


def retried_in_turn(
    fn: Callable[[], T],
    *,
    url: str,
    throttle: HostThrottle,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    stats: RetryStats,
) -> T:
    """Run `fn` in the host's turn (pacing shared by every worker), retried by `policy` on
    transient failures; every attempt adds up in `stats`, a final failure's attempts included."""

    def in_turn() -> T:
        return throttle.call(url, fn, retry_after_of=retry_after_of)

    try:
        result, attempts = call_with_retries(
            in_turn, policy=policy, is_transient=is_transient, retry_after_of=retry_after_of, sleep=sleep
        )
    except Exception as exc:
        failed = getattr(exc, "retry_stats", None)
        if failed is not None:
            stats.add(failed)
        raise
    stats.add(attempts)
    return result
