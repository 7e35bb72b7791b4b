"""N concurrent requests against a limit of L on PostgreSQL: exactly L pass and none is lost."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import ApiRateLimit
from accounts.services.rate_limits import rate_limit_hit
from tests.factories.accounts import UserFactory

N = 20
LIMIT = 7

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(worker) -> list:
    """Run `worker(i)` in N threads released at once; each thread closes its own DB connection."""
    barrier = threading.Barrier(N)
    results: list = [None] * N
    errors: list = []

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = worker(index)
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_concurrent_increments_are_never_lost(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": f"{LIMIT}/h"}
    now = datetime(2026, 3, 4, 5, 20, tzinfo=UTC)
    hits = run_together(lambda i: rate_limit_hit(bucket="ip:203.0.113.7", scope="api", now=now))

    assert sorted(hit.count for hit in hits) == list(range(1, N + 1))  # each count handed out once
    assert sum(hit.count <= hit.limit for hit in hits) == LIMIT
    row = ApiRateLimit.objects.get()
    assert row.request_count == N


@pytest.mark.urls("tests.accounts.test_rate_limits")
def test_exactly_the_limit_of_concurrent_requests_pass(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": f"{LIMIT}/h"}
    user = UserFactory()
    if 3600 - time.time() % 3600 < 15:  # do not straddle two hourly windows
        time.sleep(3600 - time.time() % 3600 + 1)

    def request(index: int) -> tuple[int, str]:
        client = APIClient()
        client.force_authenticate(user)
        response = client.get("/probe/api/")
        return response.status_code, response["X-RateLimit-Remaining"]

    results = run_together(request)

    statuses = [status for status, _ in results]
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == N - LIMIT, statuses
    assert sorted(int(remaining) for status, remaining in results if status == 200) == list(range(LIMIT))
    row = ApiRateLimit.objects.get(bucket=f"user:{user.pk}", endpoint="api")
    assert row.request_count == N


def _synchronous_commit() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_a_hit_in_autocommit_is_committed_without_waiting_and_changes_nothing_after_it():
    now = datetime(2026, 3, 4, 5, 20, tzinfo=UTC)
    with CaptureQueriesContext(connections["default"]) as queries:
        assert rate_limit_hit(bucket="ip:203.0.113.8", scope="api", now=now).count == 1
    assert rate_limit_hit(bucket="ip:203.0.113.8", scope="api", now=now).count == 2

    assert "set_config('synchronous_commit', 'off', true)" in queries[0]["sql"]
    assert _synchronous_commit() == "on"  # the setting lived as long as the statement's transaction


def test_a_hit_inside_a_transaction_leaves_that_transaction_durable():
    now = datetime(2026, 3, 4, 5, 20, tzinfo=UTC)
    with transaction.atomic():
        with CaptureQueriesContext(connections["default"]) as queries:
            assert rate_limit_hit(bucket="ip:203.0.113.9", scope="api", now=now).count == 1
        assert _synchronous_commit() == "on"
    assert "set_config" not in queries[0]["sql"]
