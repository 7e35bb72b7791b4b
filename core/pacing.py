"""When the next request to a host may start, agreed between every worker process and machine.

Politeness that lives in one process's memory does not hold once there are two workers: two
scraping jobs over one site each kept their own spacing and together sent requests 0.36 s apart
against a `Crawl-delay: 1`. So the next allowed start per host is kept in the database
(`core.HostPace`), and a request takes its turn with one atomic statement:

    INSERT ... ON CONFLICT (host) DO UPDATE
        SET next_allowed_at = GREATEST(next_allowed_at, now) + GREATEST(interval, min_interval)
    RETURNING ...

The statement both reads and moves the host's next start, so two workers can never be given the
same turn (PostgreSQL locks the row for the update; SQLite has one writer at a time). The caller
then sleeps until its turn. A Retry-After moves the host's next start for everyone (`pause`), and
a Crawl-delay read from robots.txt is kept as the host's `min_interval`, so a worker that has not
read robots.txt yet keeps it too.

Each reservation commits at once, even when the caller is inside a transaction (a task in an
atomic block, a test): otherwise other workers would not see the turn until that transaction
ends. It runs on a connection of its own (one per process, used under a lock, re-opened after a
fork). On SQLite inside a transaction it runs on the caller's connection instead: SQLite lets one
writer in at a time, so another worker's reservation waits for that transaction and then sees the
turn; a second connection would wait for the caller, who waits for it.

Times are the database's clock, read inside the statement, so workers on machines whose clocks
differ still agree on the turns. If the database cannot be reached, pacing falls back to this
process's memory for that request and logs a warning: fetching goes on.

`OUTBOUND_PACING = "local"` keeps the turns in each pacer's own memory, on an injected clock: for
tests with fake clocks (tests/settings.py). It is not for production: it is per process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, connections

logger = logging.getLogger(__name__)


class Pace(Protocol):
    def reserve(self, key: str, *, interval: float) -> float:
        """Take the host's next turn; returns the seconds to wait before starting the request.
        The turn after it starts `interval` seconds later (or the host's `min_interval`)."""

    def pause(self, key: str, *, seconds: float) -> None:
        """Nobody starts a request to the host for `seconds` (a Retry-After)."""

    def set_min_interval(self, key: str, *, seconds: float) -> None:
        """The host asks for `seconds` between requests (a Crawl-delay; 0 forgets an old one).
        The next turn is at least that long from now."""


class LocalPace:
    """Turns kept in memory: shared by the threads of one pacer only."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._hosts: dict[str, tuple[float, float]] = {}  # key -> (next allowed start, min interval)

    def reserve(self, key: str, *, interval: float) -> float:
        with self._lock:
            now = self._clock()
            next_at, min_interval = self._hosts.get(key, (now, 0.0))
            start = max(next_at, now)
            self._hosts[key] = (start + max(interval, min_interval), min_interval)
        return start - now

    def pause(self, key: str, *, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            next_at, min_interval = self._hosts.get(key, (until, 0.0))
            self._hosts[key] = (max(next_at, until), min_interval)

    def set_min_interval(self, key: str, *, seconds: float) -> None:
        with self._lock:
            now = self._clock()
            next_at, _ = self._hosts.get(key, (now, 0.0))
            self._hosts[key] = (max(next_at, now + seconds), seconds)


class DatabasePace:
    """Turns kept in `core.HostPace`, shared by every process on every machine (module docstring).

    Time is the database's clock, read inside the statement after the row is locked: a worker
    that waited for the row, or for its connection, does not start on a stale "now", and
    machines whose clocks differ still agree on the turns.
    """

    def reserve(self, key: str, *, interval: float) -> float:
        row = _execute(
            "INSERT INTO {t} (host, next_allowed_at, min_interval) VALUES (%s, {now} + %s, 0) "
            "ON CONFLICT (host) DO UPDATE SET next_allowed_at = "
            "{greatest}({t}.next_allowed_at, {now}) + {greatest}(%s, {t}.min_interval) "
            # The row now holds the turn after ours; ours starts one interval before it.
            "RETURNING next_allowed_at - {greatest}(%s, min_interval) - {now}",
            [key, interval, interval, interval],
        )
        if row is None:
            return _fallback().reserve(key, interval=interval)
        return max(float(row[0]), 0.0)

    def pause(self, key: str, *, seconds: float) -> None:
        row = _execute(
            "INSERT INTO {t} (host, next_allowed_at, min_interval) VALUES (%s, {now} + %s, 0) "
            "ON CONFLICT (host) DO UPDATE SET next_allowed_at = "
            "{greatest}({t}.next_allowed_at, {now} + %s) RETURNING host",
            [key, seconds, seconds],
        )
        if row is None:
            _fallback().pause(key, seconds=seconds)

    def set_min_interval(self, key: str, *, seconds: float) -> None:
        row = _execute(
            "INSERT INTO {t} (host, next_allowed_at, min_interval) VALUES (%s, {now} + %s, %s) "
            "ON CONFLICT (host) DO UPDATE SET min_interval = %s, "
            "next_allowed_at = {greatest}({t}.next_allowed_at, {now} + %s) RETURNING host",
            [key, seconds, seconds, seconds, seconds],
        )
        if row is None:
            _fallback().set_min_interval(key, seconds=seconds)


def pace_store(*, clock: Callable[[], float] | None = None) -> Pace:
    """The pacer settings ask for: the database (default), or in-memory on `clock` ("local")."""
    if getattr(settings, "OUTBOUND_PACING", "database") == "local":
        return LocalPace(clock=clock or time.monotonic)
    return DatabasePace()


# -- the pacing connection ---------------------------------------------------------------------

_lock = threading.Lock()
_connection = None
_connection_pid: int | None = None
_fallback_pace: LocalPace | None = None


def _after_fork_in_child() -> None:
    # The parent's lock may have been held by another thread at the fork, and its connection is
    # the parent's: the child starts with a fresh lock and opens its own connection when needed.
    global _lock, _connection, _connection_pid
    _lock = threading.Lock()
    _connection = None
    _connection_pid = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _fallback() -> LocalPace:
    global _fallback_pace
    with _lock:
        if _fallback_pace is None:
            _fallback_pace = LocalPace(clock=time.time)
        return _fallback_pace


def _sql(template: str, connection) -> str:
    from core.models import HostPace

    if connection.vendor == "sqlite":
        # julianday('now') is fixed for the statement, in days; 2440587.5 is 1970-01-01.
        greatest, now = "MAX", "((julianday('now') - 2440587.5) * 86400.0)"
    else:
        greatest, now = "GREATEST", "EXTRACT(EPOCH FROM clock_timestamp())::float8"
    return template.format(t=connection.ops.quote_name(HostPace._meta.db_table), greatest=greatest, now=now)


def _own_connection():
    """This process's pacing connection (autocommit), opened on first use and after a fork."""
    global _connection, _connection_pid
    if _connection is None or _connection_pid != os.getpid():
        # A connection inherited through fork belongs to the parent: leave it alone, open ours.
        default = connections[DEFAULT_DB_ALIAS]
        _connection = type(default)(dict(default.settings_dict), DEFAULT_DB_ALIAS)
        _connection.inc_thread_sharing()  # used by every thread, one at a time under _lock
        _connection_pid = os.getpid()
    return _connection


def _execute(template: str, params: list) -> tuple | None:
    """Run one pacing statement so that it commits at once; None when the database failed."""
    default = connections[DEFAULT_DB_ALIAS]
    try:
        if default.vendor == "sqlite" and default.in_atomic_block:
            with default.cursor() as cursor:
                cursor.execute(_sql(template, default), params)
                return cursor.fetchone()
        with _lock:
            connection = _own_connection()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(_sql(template, connection), params)
                    return cursor.fetchone()
            except Error:
                close_connection(locked=True)
                raise
    except Error as exc:
        logger.warning("Shared host pacing unavailable (%s); pacing this request in this process", exc)
        return None


def close_connection(*, locked: bool = False) -> None:
    """Close this process's pacing connection (tests, before their database is dropped)."""
    if locked:
        _close()
    else:
        with _lock:
            _close()


def _close() -> None:
    global _connection, _connection_pid
    if _connection is not None and _connection_pid == os.getpid():
        with contextlib.suppress(Error):
            _connection.close()
    _connection = None
    _connection_pid = None
