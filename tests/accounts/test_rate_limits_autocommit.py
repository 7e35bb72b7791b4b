"""The rate limiter as production runs it: outside any transaction.

Requests run in autocommit (no ATOMIC_REQUESTS), and the counting statement is chosen by whether
a transaction is open (`_upsert_statement`: on PostgreSQL autocommit commits the count without
waiting for its flush). The suite's ordinary tests all run inside the test's transaction and so
never reach that branch; these run each behaviour both ways, committing for real
(`transaction=True`) in autocommit, on whichever database the suite runs on. The limits are the
documented defaults (README, `RATE_LIMIT_*`): "auth" 10 per 5 minutes, "api" 1000 per hour.
"""

import sqlite3
import threading
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import throttling
from accounts.models import ApiRateLimit
from accounts.services import rate_limits
from accounts.services.rate_limits import rate_limit_hit
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"  # tests.factories.accounts.UserFactory
# 05:20:20 UTC: 20 s into a 5-minute window (05:20-05:25) and 1220 s into an hour.
T0 = datetime(2026, 3, 4, 5, 20, 20, tzinfo=UTC)
FIVE_MINUTE_WINDOW = datetime(2026, 3, 4, 5, 20, tzinfo=UTC)
HOUR_WINDOW = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def documented_limits(settings):
    # README, "RATE_LIMIT_*" defaults.
    settings.RATE_LIMITS = {"auth": "10/5m", "api": "1000/h", "search": "50/5m", "admin": "500/h"}


@pytest.fixture(
    # Inside a transaction the test's own (rolled back) transaction will do, and is much faster to
    # clean up than the committed rows of `transaction=True`.
    params=["autocommit", pytest.param("atomic", marks=pytest.mark.django_db)]
)
def mode(request):
    """Run the test body outside any transaction, or inside one (as a service calling in would)."""
    with transaction.atomic() if request.param == "atomic" else nullcontext():
        yield request.param


@pytest.fixture
def clock(monkeypatch):
    holder = SimpleNamespace(now=T0)
    stub = SimpleNamespace(now=lambda: holder.now)
    monkeypatch.setattr(rate_limits, "timezone", stub)
    monkeypatch.setattr(throttling, "timezone", stub)
    return holder


def async_commit_expected(mode: str) -> bool:
    """The statement that skips the flush runs on PostgreSQL in autocommit, nowhere else."""
    return connection.vendor == "postgresql" and mode == "autocommit"


def hit(mode: str, **kwargs):
    """One `rate_limit_hit`, checking that it ran in `mode` and with the statement `mode` calls for."""
    assert connection.in_atomic_block is (mode == "atomic")
    with CaptureQueriesContext(connection) as queries:
        result = rate_limit_hit(**kwargs)
    (query,) = queries.captured_queries
    assert ("set_config('synchronous_commit', 'off', true)" in query["sql"]) is async_commit_expected(mode)
    return result


def test_the_first_request_opens_a_window_of_one(mode):
    user = UserFactory()
    first = hit(mode, bucket=f"user:{user.pk}", scope="api", user=user, now=T0)
    assert first == (1, 1000, HOUR_WINDOW, 3600)
    assert (first.allowed, first.remaining) == (True, 999)
    assert first.window_end == datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    row = ApiRateLimit.objects.get()
    assert (row.user, row.bucket, row.endpoint, row.request_count, row.window_start) == (
        user,
        f"user:{user.pk}",
        "api",
        1,
        HOUR_WINDOW,
    )


def test_an_anonymous_first_request_records_no_user(mode):
    first = hit(mode, bucket="ip:192.0.2.10", scope="auth", now=T0)
    assert first == (1, 10, FIVE_MINUTE_WINDOW, 300)
    assert ApiRateLimit.objects.get().user is None


@pytest.mark.parametrize(("scope", "limit"), [("auth", 10), ("api", 1000)])
def test_the_limit_is_reached_exactly_at_the_documented_count(mode, scope, limit):
    for _ in range(limit - 1):
        rate_limit_hit(bucket="ip:192.0.2.11", scope=scope, now=T0)
    at_limit = hit(mode, bucket="ip:192.0.2.11", scope=scope, now=T0)
    assert (at_limit.count, at_limit.limit, at_limit.allowed, at_limit.remaining) == (limit, limit, True, 0)
    over = hit(mode, bucket="ip:192.0.2.11", scope=scope, now=T0)
    assert (over.count, over.allowed, over.remaining) == (limit + 1, False, 0)
    assert ApiRateLimit.objects.get().request_count == limit + 1


def test_the_window_rolls_over_at_its_last_second(mode):
    # 05:24:59 is the last second of the 05:20 window, 05:25:00 the first of the next one.
    for _ in range(10):
        hit(mode, bucket="ip:192.0.2.12", scope="auth", now=T0)
    last = hit(mode, bucket="ip:192.0.2.12", scope="auth", now=datetime(2026, 3, 4, 5, 24, 59, tzinfo=UTC))
    assert (last.count, last.window_start, last.allowed) == (11, FIVE_MINUTE_WINDOW, False)
    fresh = hit(mode, bucket="ip:192.0.2.12", scope="auth", now=datetime(2026, 3, 4, 5, 25, tzinfo=UTC))
    assert (fresh.count, fresh.window_start, fresh.allowed) == (
        1,
        datetime(2026, 3, 4, 5, 25, tzinfo=UTC),
        True,
    )
    assert sorted(ApiRateLimit.objects.values_list("request_count", flat=True)) == [1, 11]


def test_scopes_and_buckets_count_apart(mode):
    assert hit(mode, bucket="ip:192.0.2.13", scope="auth", now=T0).count == 1
    assert hit(mode, bucket="ip:192.0.2.13", scope="api", now=T0).count == 1
    assert hit(mode, bucket="ip:192.0.2.14", scope="auth", now=T0).count == 1
    assert hit(mode, bucket="ip:192.0.2.13", scope="auth", now=T0).count == 2


def test_without_a_time_the_current_window_is_counted(mode, clock):
    assert hit(mode, bucket="ip:192.0.2.15", scope="auth").window_start == FIVE_MINUTE_WINDOW
    clock.now = datetime(2026, 3, 4, 5, 25, tzinfo=UTC)
    later = hit(mode, bucket="ip:192.0.2.15", scope="auth")
    assert (later.count, later.window_start) == (1, datetime(2026, 3, 4, 5, 25, tzinfo=UTC))


def test_counts_are_committed_in_autocommit():
    """Each count is its own committed statement: another connection sees it at once."""
    hit("autocommit", bucket="ip:192.0.2.16", scope="auth", now=T0)
    hit("autocommit", bucket="ip:192.0.2.16", scope="auth", now=T0)
    seen = []

    def read():
        try:
            seen.append(ApiRateLimit.objects.get(bucket="ip:192.0.2.16").request_count)
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=30)
    assert seen == [2]


# --- through real requests ---------------------------------------------------------------------


@pytest.fixture
def counted_in(monkeypatch):
    """Whether each request's count ran inside a transaction (the throttle's own call, spied on)."""
    seen: list[bool] = []

    def spy(**kwargs):
        seen.append(connection.in_atomic_block)
        return rate_limit_hit(**kwargs)

    monkeypatch.setattr(throttling, "rate_limit_hit", spy)
    return seen


def sign_in(username: str, ip: str):
    return APIClient().post(
        "/api/v1/auth/login/", {"username": username, "password": PASSWORD}, format="json", REMOTE_ADDR=ip
    )


def test_sign_in_is_refused_at_the_eleventh_request_in_five_minutes(clock, counted_in):
    user = UserFactory()
    for remaining in range(9, -1, -1):  # 10 sign-ins per 5 minutes and IP address
        response = sign_in(user.username, "192.0.2.20")
        assert response.status_code == 200, response.content
        assert response["X-RateLimit-Limit"] == "10"
        assert response["X-RateLimit-Remaining"] == str(remaining)
        assert response["X-RateLimit-Reset"] == str(int(datetime(2026, 3, 4, 5, 25, tzinfo=UTC).timestamp()))
    clock.now = T0 + timedelta(seconds=100)  # 120 s into the window: 180 s left
    refused = sign_in(user.username, "192.0.2.20")
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused["Retry-After"] == "180"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert counted_in == [False] * 11  # every request was counted in autocommit

    assert sign_in(user.username, "192.0.2.21").status_code == 200  # another address
    clock.now = datetime(2026, 3, 4, 5, 25, tzinfo=UTC)  # the next window
    again = sign_in(user.username, "192.0.2.20")
    assert again.status_code == 200
    assert again["X-RateLimit-Remaining"] == "9"
    rows = ApiRateLimit.objects.filter(bucket="ip:192.0.2.20").order_by("window_start")
    assert [(row.window_start, row.request_count) for row in rows] == [
        (FIVE_MINUTE_WINDOW, 11),
        (datetime(2026, 3, 4, 5, 25, tzinfo=UTC), 1),
    ]


def test_an_api_request_is_refused_past_a_thousand_an_hour(clock, counted_in):
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    # 998 requests counted already this hour (the ORM writes the row the upsert then counts on).
    ApiRateLimit.objects.create(
        user=user, bucket=f"user:{user.pk}", endpoint="api", window_start=HOUR_WINDOW, request_count=998
    )
    for remaining in (1, 0):
        response = client.get("/api/v1/api-keys/")
        assert response.status_code == 200, response.content
        assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("1000", str(remaining))
    refused = client.get("/api/v1/api-keys/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(3600 - 1220)
    assert counted_in == [False] * 3
    assert ApiRateLimit.objects.get().request_count == 1001


# --- concurrent first requests ----------------------------------------------------------------


@pytest.fixture
def thread_database(tmp_path):
    """Settings for the worker threads' own connections: the test database itself on PostgreSQL
    (the test commits, so they see it); on SQLite a file copy of it, as a real install uses, since
    the in-memory test database makes threads fail on each other's locks instead of waiting."""
    if connection.vendor != "sqlite":
        return dict(connection.settings_dict)
    path = tmp_path / "rate-limits.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return {**connection.settings_dict, "NAME": str(path)}


@pytest.mark.parametrize("threads_mode", ["autocommit", "atomic"])
def test_concurrent_first_requests_lose_no_count(thread_database, threads_mode):
    """A threaded server: 20 requests opening the same window at once, each counted outside any
    transaction or inside its own (tests/accounts/test_rate_limit_concurrency.py has more on
    PostgreSQL)."""
    wrapper_class = type(connections["default"])
    workers = 20
    barrier = threading.Barrier(workers)
    hits, errors = [], []

    def request() -> None:
        own = wrapper_class(thread_database, "default")
        connections["default"] = own  # this thread's default connection only
        try:
            barrier.wait(timeout=30)
            with transaction.atomic() if threads_mode == "atomic" else nullcontext():
                hits.append(rate_limit_hit(bucket="ip:192.0.2.30", scope="auth", now=T0))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=request) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(h.count for h in hits) == list(range(1, workers + 1))
    assert sum(h.allowed for h in hits) == 10  # "auth": 10 per 5 minutes
    reader = wrapper_class(thread_database, "reader")
    try:
        with reader.cursor() as cursor:
            cursor.execute("SELECT bucket, request_count FROM api_rate_limits")
            assert cursor.fetchall() == [("ip:192.0.2.30", workers)]
    finally:
        reader.close()
