"""Racing workers over the same due publishing jobs (PostgreSQL: real row locks and concurrent
transactions). Each thread has its own database connection and closes it when done.

The publisher counts its calls per idempotency key and sleeps a little in each, so the claims of
one worker overlap the publishing of the other.
"""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from platforms.kinds.publishing import Published
from platforms.models import PlatformType
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import AcceptedPlatformStateFactory, PublishingJobFactory
from workflows.models import Platform, PublishingJob, PublishingStatus
from workflows.services import publishing as publishing_module
from workflows.services.publishing import publishing_job_publish, publishing_jobs_dispatch_due

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOBS = 20


class CountingPublisher:
    def __init__(self):
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def publish(self, publication):
        with self._lock:
            self.calls[publication.idempotency_key] += 1
            number = sum(self.calls.values())
        time.sleep(0.01)  # widen the window between one claim and the next
        return Published(post_id=f"post-{number}", url=None, platform_type="mastodon", details={})

    def find_published(self, publication):
        return None


@pytest.fixture
def publisher(monkeypatch):
    counting = CountingPublisher()
    monkeypatch.setattr(publishing_module, "publisher_for", lambda connection, **kwargs: counting)
    return counting


@pytest.fixture
def due_jobs() -> list[PublishingJob]:
    connection = PlatformConnectionFactory(platform_type=PlatformType.MASTODON)
    past = timezone.now() - timedelta(minutes=5)
    jobs = []
    for number in range(JOBS):
        state = AcceptedPlatformStateFactory(platform=Platform.MASTODON, workflow__user=connection.user)
        scheduled = number % 2 == 0
        jobs.append(
            PublishingJobFactory(
                workflow=state.workflow,
                platform=Platform.MASTODON,
                draft=state.active_draft,
                platform_connection=connection,
                status=PublishingStatus.SCHEDULED if scheduled else PublishingStatus.QUEUED,
                scheduled_for=past if scheduled else None,
            )
        )
    return jobs


def race(*targets) -> list:
    barrier = threading.Barrier(len(targets))
    results: list = []
    errors: list = []

    def run(target):
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return results


def assert_each_published_once(jobs, publisher):
    assert sorted(publisher.calls.values()) == [1] * JOBS
    assert set(publisher.calls) == {job.idempotency_key for job in jobs}
    rows = PublishingJob.objects.filter(pk__in=[job.pk for job in jobs])
    assert set(rows.values_list("status", "attempts")) == {(PublishingStatus.PUBLISHED, 1)}


def test_two_dispatchers_racing_publish_each_due_job_exactly_once(due_jobs, publisher):
    results = race(
        lambda: publishing_jobs_dispatch_due(limit=JOBS),
        lambda: publishing_jobs_dispatch_due(limit=JOBS),
    )
    assert sum(results) == JOBS
    assert sum(publisher.calls.values()) == JOBS
    assert_each_published_once(due_jobs, publisher)


def test_a_dispatcher_racing_the_immediate_tasks_publishes_each_job_once(due_jobs, publisher):
    queued_ids = [job.pk for job in due_jobs if job.status == PublishingStatus.QUEUED]

    def immediate_tasks():
        return sum(publishing_job_publish(job_id=job_id) is not None for job_id in queued_ids)

    results = race(lambda: publishing_jobs_dispatch_due(limit=JOBS), immediate_tasks)
    assert sum(results) == JOBS
    assert_each_published_once(due_jobs, publisher)
