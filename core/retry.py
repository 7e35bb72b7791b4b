"""Retrying calls to outside services: exponential backoff with jitter, Retry-After, and statistics.

Why a module of our own: every outside call (platforms, AI servers, image downloads) needs the same
policy (ORIGINALS: 3 attempts, 1 s base, x2, 30 s cap, 10 % jitter, honouring Retry-After), the same
care for calls that may have published something, and numbers a `ProcessingRun` can record
(`retry_attempts`, `retry_successes`, `retry_failures`, `retry_total_time`, `retry_stats`).

The module knows nothing about HTTP libraries. The caller says which failures are transient
(`is_transient`), how long the server asked to wait (`retry_after_of`, usually from a Retry-After
header through `parse_retry_after`), and whether the call may be repeated (`idempotent`). A
non-idempotent call is retried only after a failure known not to have taken effect (the request was
never sent, or the server refused it before acting: 408, 429); after an ambiguous failure (a timeout
once the request was sent, a 5xx) it is not retried, because only the caller can check whether the
first try landed. Exceptions say which kind they are with an `ambiguous` attribute; without one a
failure counts as ambiguous.

Delays go through an injectable `sleep`, so tests never wait.
"""

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. `attempts` counts the first call; delays are in seconds.

    The n-th retry waits `base_delay * factor ** (n - 1)`, capped at `max_delay`, spread by
    +/- `jitter` (a fraction) so many clients that failed together do not return together.
    """

    attempts: int = 3
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("A retry policy needs at least one attempt.")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("Retry delays cannot be negative.")
        if self.factor < 1:
            raise ValueError("The backoff factor must be at least 1.")
        if not 0 <= self.jitter < 1:
            raise ValueError("Jitter is a fraction between 0 and 1.")

    def delay(
        self, retry: int, *, retry_after: float | None = None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry).

        A server's Retry-After wins over the computed backoff (it knows when it will answer), but
        never beyond `max_delay`: a worker does not sleep for minutes; the caller can requeue.
        """
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), self.max_delay)
        backoff = min(self.max_delay, self.base_delay * self.factor ** max(retry - 1, 0))
        spread = backoff * self.jitter
        return min(self.max_delay, max(0.0, backoff + spread * (2 * rand() - 1)))


@dataclass
class RetryStats:
    """What retrying cost, for one call or (added together) for a whole run.

    - attempts: calls of the function, first tries included;
    - retries: calls beyond the first;
    - successes_after_retry: operations that succeeded after at least one retry;
    - failures: operations that still failed after retrying, or failed transiently and could not
      be retried (attempts exhausted, or not idempotent); permanent errors on the first try
      (401, 404...) are errors of the caller's row, not retry failures;
    - total_wait_seconds: time slept between attempts;
    - reasons: transient failures seen, by kind ("429", "503", "timeout", ...).
    """

    attempts: int = 0
    retries: int = 0
    successes_after_retry: int = 0
    failures: int = 0
    total_wait_seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: "RetryStats") -> "RetryStats":
        """Add another call's statistics into these (in place) and return self."""
        self.attempts += other.attempts
        self.retries += other.retries
        self.successes_after_retry += other.successes_after_retry
        self.failures += other.failures
        self.total_wait_seconds += other.total_wait_seconds
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for `ProcessingRun.retry_stats`."""
        return {
            "attempts": self.attempts,
            "retries": self.retries,
            "successes_after_retry": self.successes_after_retry,
            "failures": self.failures,
            "total_wait_seconds": round(self.total_wait_seconds, 3),
            "reasons": dict(sorted(self.reasons.items())),
        }

    def as_run_fields(self) -> dict[str, Any]:
        """The `ProcessingRun` columns these statistics fill."""
        return {
            "retry_attempts": self.retries,
            "retry_successes": self.successes_after_retry,
            "retry_failures": self.failures,
            "retry_total_time": round(self.total_wait_seconds),
            "retry_stats": self.as_dict(),
        }


def parse_retry_after(value: str | float | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date. None when absent or unreadable.

    A date in the past (or a negative number) means "now": 0.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: "Nov 99999999999"
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def is_ambiguous(exc: BaseException) -> bool:
    """Whether a failure may have taken effect on the server. Unknown failures count as ambiguous."""
    return bool(getattr(exc, "ambiguous", True))


def failure_reason(exc: BaseException) -> str:
    """A short label for statistics: the exception's `retry_reason`, its HTTP status, or its class."""
    reason = getattr(exc, "retry_reason", None)
    if reason:
        return str(reason)
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return str(status)
    return type(exc).__name__


def _attach(exc: BaseException, stats: RetryStats) -> None:
    with contextlib.suppress(AttributeError):  # exceptions with __slots__
        exc.retry_stats = stats  # type: ignore[attr-defined]


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    retry_after_of: Callable[[BaseException], float | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    idempotent: bool = True,
    ambiguous: Callable[[BaseException], bool] = is_ambiguous,
    rand: Callable[[], float] = random.random,
) -> tuple[T, RetryStats]:
    """Call `fn` until it succeeds, fails permanently, or `policy.attempts` are used up.

    Returns `(result, stats)`. On failure the last exception propagates with the statistics of this
    call attached as `exc.retry_stats`, so the caller can record them either way.

    `is_transient(exc)` decides whether a failure is worth retrying (timeouts, 408, 429, 5xx,
    network errors). `retry_after_of(exc)` gives the seconds the server asked for, if any.
    With `idempotent=False`, a transient failure for which `ambiguous(exc)` is true is not
    retried: the request may have been applied, and only the caller can check before trying again.
    """
    stats = RetryStats()
    attempt = 0
    while True:
        attempt += 1
        stats.attempts += 1
        try:
            result = fn()
        except Exception as exc:
            transient = is_transient(exc)
            if transient:
                reason = failure_reason(exc)
                stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
            retryable = transient and (idempotent or not ambiguous(exc))
            if not retryable or attempt >= policy.attempts:
                if transient or stats.retries:
                    stats.failures += 1
                _attach(exc, stats)
                raise
            retry_after = retry_after_of(exc) if retry_after_of is not None else None
            wait = policy.delay(attempt, retry_after=retry_after, rand=rand)
            logger.info(
                "Attempt %d of %d failed (%s); retrying in %.2f s",
                attempt,
                policy.attempts,
                failure_reason(exc),
                wait,
            )
            if wait > 0:
                sleep(wait)
            stats.total_wait_seconds += wait
            stats.retries += 1
            continue
        if stats.retries:
            stats.successes_after_retry += 1
        return result, stats
