"""Pacing of outbound requests per host, shared by every worker thread, process and machine.

Caption tasks and publishers talk to one instance from several workers at once. Each retrying on
its own would keep hammering a host that asked everyone to wait, so requests to a host take
turns at most `rate` a second, and a Retry-After from the host pauses every worker's next
request to it, not only the one that received it. The turns are kept where every worker sees
them (`core.pacing`, the database), not in this process's memory.

A pause is capped at `max_pause` (30 s, the retry policy's longest wait): a worker does not sleep
for minutes inside a task whose timeout is a few minutes. A caller whose retries run out with a
longer Retry-After reschedules its work for then instead (publishing jobs do).
"""

import time
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar
from urllib.parse import urlsplit

from django.conf import settings

from core.pacing import pace_store

T = TypeVar("T")
# Platform turns are their own: a site's scraping Crawl-delay does not slow its API.
_KEY_PREFIX = "platform:"


class HostThrottle:
    def __init__(
        self,
        *,
        rate: float,
        max_pause: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive (requests a second).")
        self.interval = 1.0 / rate
        self.max_pause = max_pause
        self._sleep = sleep
        # `clock` times the turns only with OUTBOUND_PACING="local" (tests); shared turns use the
        # workers' wall clocks.
        self._pace = pace_store(clock=clock)

    def wait(self, host: str) -> float:
        """Block until `host` may be sent the next request; returns the seconds waited."""
        delay = self._pace.reserve(_KEY_PREFIX + host, interval=self.interval)
        if delay > 0:
            self._sleep(delay)
        return delay

    def pause(self, host: str, seconds: float) -> None:
        """The host asked to wait (Retry-After): nobody sends to it for `seconds`."""
        if seconds <= 0:
            return
        self._pace.pause(_KEY_PREFIX + host, seconds=min(seconds, self.max_pause))

    def call(
        self,
        url_or_host: str,
        fn: Callable[[], T],
        *,
        retry_after_of: Callable[[BaseException], float | None],
    ) -> T:
        """Run `fn` in `host`'s turn; a failure carrying a Retry-After pauses the host for everyone."""
        host = host_of(url_or_host)
        self.wait(host)
        try:
            return fn()
        except Exception as exc:
            retry_after = retry_after_of(exc)
            if retry_after:
                self.pause(host, retry_after)
            raise


def host_of(url_or_host: str) -> str:
    parts = urlsplit(url_or_host if "//" in url_or_host else f"//{url_or_host}")
    return (parts.hostname or url_or_host).lower() + (f":{parts.port}" if parts.port else "")


@lru_cache(maxsize=1)
def platform_throttle() -> HostThrottle:
    """The throttle for fediverse instances and their media hosts (turns shared by all workers)."""
    return HostThrottle(rate=float(settings.PLATFORM_REQUESTS_PER_SECOND))
