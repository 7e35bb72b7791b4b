"""core.pacing's database turns (OUTBOUND_PACING="database", what production runs): one row per
host, taken with one atomic statement, committed at once. Across real processes:
tests/scraping/test_pacing_workers.py."""

import itertools
import multiprocessing
import threading
import time
import uuid

import pytest
from django.db import OperationalError, transaction

from core import pacing
from core.models import HostPace
from core.outbound import HostThrottle
from core.pacing import DatabasePace

# Turns are read off the database's clock between calls, within 50 ms: run alone (`timing`).
pytestmark = [pytest.mark.timing, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def database_pacing(settings):
    settings.OUTBOUND_PACING = "database"
    yield
    pacing.close_connection()  # before the test database is emptied or dropped


def new_key() -> str:
    return f"test:{uuid.uuid4().hex}.example"


def test_turns_are_spaced_by_the_interval():
    pace, key = DatabasePace(), new_key()
    waits = [pace.reserve(key, interval=0.5) for _ in range(3)]

    assert waits[0] == pytest.approx(0.0, abs=0.05)
    assert waits[1] == pytest.approx(0.5, abs=0.05)
    assert waits[2] == pytest.approx(1.0, abs=0.05)
    assert HostPace.objects.filter(host=key).count() == 1


def test_hosts_take_turns_independently():
    pace, first, second = DatabasePace(), new_key(), new_key()
    pace.reserve(first, interval=5.0)
    assert pace.reserve(second, interval=5.0) == pytest.approx(0.0, abs=0.05)


def test_a_pause_holds_the_next_turn_and_never_shortens_one():
    pace, key = DatabasePace(), new_key()
    pace.pause(key, seconds=3.0)
    pace.pause(key, seconds=1.0)  # a shorter Retry-After later does not cut the first short
    assert pace.reserve(key, interval=0.0) == pytest.approx(3.0, abs=0.05)


def test_a_crawl_delay_spaces_workers_that_ask_for_less():
    pace, key = DatabasePace(), new_key()
    pace.set_min_interval(key, seconds=2.0)
    waits = [pace.reserve(key, interval=0.0) for _ in range(2)]
    assert waits == [pytest.approx(2.0, abs=0.05), pytest.approx(4.0, abs=0.05)]

    pace.set_min_interval(key, seconds=0.0)  # the site dropped its Crawl-delay
    assert HostPace.objects.get(host=key).min_interval == 0.0


def test_concurrent_reservations_never_share_a_turn():
    pace, key, interval = DatabasePace(), new_key(), 0.1
    starts: list[float] = []
    lock = threading.Lock()

    def take_turns():
        for _ in range(4):
            start = pace.reserve(key, interval=interval) + time.time()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=take_turns) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 24 turns, each its own: 0.1 s after the one before (a few ms of slack for reading the
    # clock after the statement returned).
    starts.sort()
    assert len(starts) == 24
    assert min(later - earlier for earlier, later in itertools.pairwise(starts)) >= interval - 0.03
    assert starts[-1] - starts[0] == pytest.approx(23 * interval, abs=0.05)


@pytest.mark.postgres
def test_a_turn_taken_inside_a_transaction_is_seen_by_other_workers_at_once():
    pace, key = DatabasePace(), new_key()
    seen: list[bool] = []

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        pace.reserve(key, interval=5.0)
        # Another worker (its own connection) sees the turn while this transaction is open...
        other = threading.Thread(target=lambda: seen.append(HostPace.objects.filter(host=key).exists()))
        other.start()
        other.join()
        raise Undone
    assert seen == [True]
    # ... and it stays taken when the caller's transaction rolls back.
    assert pace.reserve(key, interval=5.0) == pytest.approx(5.0, abs=0.1)


def test_without_the_database_pacing_goes_on_in_this_process(monkeypatch, caplog):
    def unavailable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(pacing, "_own_connection", unavailable)
    pace, key = DatabasePace(), new_key()
    waits = [pace.reserve(key, interval=0.5) for _ in range(2)]

    assert waits == [pytest.approx(0.0, abs=0.05), pytest.approx(0.5, abs=0.05)]
    assert "Shared host pacing unavailable" in caplog.text


def test_two_platform_throttles_share_turns_and_retry_after_pauses():
    """Two HostThrottles stand for two worker processes: they share nothing but the database."""
    slept: list[float] = []
    first = HostThrottle(rate=2.0, sleep=slept.append)
    second = HostThrottle(rate=2.0, sleep=slept.append)
    host = new_key()

    assert first.wait(host) == pytest.approx(0.0, abs=0.05)
    assert second.wait(host) == pytest.approx(0.5, abs=0.05)
    first.pause(host, 4.0)
    assert second.wait(host) == pytest.approx(4.0, abs=0.05)


@pytest.mark.postgres
def test_a_forked_worker_takes_turns_on_its_own_connection():
    """django-q forks its workers: a child must not use the parent's pacing connection."""
    pace, key = DatabasePace(), new_key()
    assert pace.reserve(key, interval=0.5) == pytest.approx(0.0, abs=0.05)  # the parent connects
    started = time.monotonic()  # turns are 0.5 s apart from the first one; waits shrink as time passes
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()

    def child():
        child_end.send(DatabasePace().reserve(key, interval=0.5))
        pacing.close_connection()

    process = context.Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0
    child_wait = parent_end.recv()
    # The parent's own connection is intact and sees the child's turn: its own is the third.
    parent_wait = pace.reserve(key, interval=0.5)
    elapsed = time.monotonic() - started  # forking and connecting: 0.1-0.2 s on a slow machine
    assert 0.5 - elapsed - 0.05 <= child_wait <= 0.55
    assert 1.0 - elapsed - 0.05 <= parent_wait <= 1.05
