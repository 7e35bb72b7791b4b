"""Fixed-window rate limits counted in the database (`ApiRateLimit`), so limits hold across
processes and machines.

A window is `window_seconds` long and aligned to the Unix epoch; each caller (`bucket`: `key:<id>`,
`user:<id>` or `ip:<address>`) has one row per endpoint scope and window. Counting is one
atomic upsert-and-increment statement that returns the new count: concurrent requests never
lose an update, on PostgreSQL or on SQLite (>= 3.35, for RETURNING).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from accounts.models import ApiRateLimit, User

WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE_PATTERN = re.compile(r"^\s*(?P<limit>\d+)\s*/\s*(?P<count>\d*)\s*(?P<unit>[smhd])\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int


class RateLimitHit(NamedTuple):
    """(count, limit, window_start, window_seconds) of one counted request."""

    count: int
    limit: int
    window_start: datetime
    window_seconds: int

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(seconds=self.window_seconds)

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)


def parse_rate(value: str) -> Rate:
    """ "N/<number?><s|m|h|d>" → Rate: "10/5m" is 10 requests per 5 minutes, "1000/h" 1000 per hour.

    Raises ValueError on anything else (zero requests or a zero-length window included).
    """
    if not isinstance(value, str):  # checked before the cache, which cannot hash a list
        raise ValueError(f"{value!r} is not a rate like '10/5m' or '1000/h' (window unit s, m, h or d).")
    return _parse_rate_text(value)


@lru_cache(maxsize=64)
def _parse_rate_text(value: str) -> Rate:
    match = RATE_PATTERN.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a rate like '10/5m' or '1000/h' (window unit s, m, h or d).")
    limit = int(match["limit"])
    count = int(match["count"]) if match["count"] else 1
    if limit < 1 or count < 1:
        raise ValueError(f"{value!r}: the number of requests and the window must be at least 1.")
    return Rate(limit=limit, window_seconds=count * WINDOW_UNITS[match["unit"]])


def rate_for_scope(scope: str) -> Rate:
    """The configured rate of an endpoint scope (settings.RATE_LIMITS)."""
    limits = getattr(settings, "RATE_LIMITS", {}) or {}
    if scope not in limits:
        raise ImproperlyConfigured(f"No rate limit for scope {scope!r}: add it to settings.RATE_LIMITS.")
    try:
        return parse_rate(limits[scope])
    except ValueError as exc:
        raise ImproperlyConfigured(f"RATE_LIMITS[{scope!r}]: {exc}") from None


def window_start_for(now: datetime, window_seconds: int) -> datetime:
    """The start of the fixed window holding `now` (windows are aligned to the Unix epoch)."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)


_UPSERT = (
    "INSERT INTO {table} (user_id, bucket, endpoint, request_count, window_start) "
    "VALUES (%s, %s, %s, 1, %s) "
    "ON CONFLICT (bucket, endpoint, window_start) "
    "DO UPDATE SET request_count = {table}.request_count + 1 "
    "RETURNING request_count"
)
# The same upsert committed without waiting for its WAL flush, for PostgreSQL in autocommit: the
# statement is its own transaction, and set_config(..., true) changes synchronous_commit for that
# transaction alone. A database crash may then forget the last fraction of a second of counts,
# which a rate limit can afford (PostgreSQL's documentation suggests exactly this for data that
# can be lost); in exchange concurrent requests of one user stop queueing on each other's flush
# of the same counter row (docs/performance.md, `api_list`).
_UPSERT_ASYNC_COMMIT = (
    "INSERT INTO {table} (user_id, bucket, endpoint, request_count, window_start) "
    "SELECT %s, %s, %s, 1, %s FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "
    "ON CONFLICT (bucket, endpoint, window_start) "
    "DO UPDATE SET request_count = {table}.request_count + 1 "
    "RETURNING request_count"
)


def _upsert_statement() -> str:
    # Inside a transaction the setting would reach the caller's other writes: keep them durable.
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _UPSERT_ASYNC_COMMIT
    return _UPSERT


def rate_limit_hit(
    *, bucket: str, scope: str, user: User | None = None, now: datetime | None = None
) -> RateLimitHit:
    """Count one request of `bucket` in `scope`'s current window; return the new count and the limits.

    One statement, no read-modify-write: the database serialises concurrent increments of
    the same row, so N concurrent calls leave exactly N counted. Refused requests are counted
    too (the caller decides what to do with `count > limit`).
    """
    rate = rate_for_scope(scope)
    now = now or timezone.now()
    window_start = window_start_for(now, rate.window_seconds)
    table = connection.ops.quote_name(ApiRateLimit._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            _upsert_statement().format(table=table),
            [
                user.pk if user is not None else None,
                bucket,
                scope,
                connection.ops.adapt_datetimefield_value(window_start),
            ],
        )
        (count,) = cursor.fetchone()
    return RateLimitHit(
        count=count, limit=rate.limit, window_start=window_start, window_seconds=rate.window_seconds
    )


def rate_limit_windows_ended(*, now: datetime, min_age: timedelta = timedelta(0)):
    """Windows that have certainly ended: older than the longest configured window (and than
    `min_age`). Shared by `rate_limits_prune` and the `accounts.rate_limits` retention policy."""
    longest = max(
        (rate_for_scope(scope).window_seconds for scope in getattr(settings, "RATE_LIMITS", {}) or {}),
        default=86400,
    )
    return ApiRateLimit.objects.filter(window_start__lt=now - max(timedelta(seconds=longest), min_age))


def rate_limits_prune(*, now: datetime | None = None) -> int:
    """Delete windows that have certainly ended (older than the longest configured window).

    Returns how many rows went. Ended windows are never read again (a new window is a new row).
    """
    deleted, _ = rate_limit_windows_ended(now=now or timezone.now()).delete()
    return deleted
