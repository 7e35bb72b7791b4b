"""Scraping jobs outside the run: create (validation, configuration rows, queueing), cancel, retry,
and the stale-job reaper. The run itself is tested in test_runner.py."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLog
from core.reaper import reapers
from scraping.models import ItemStatus, JobConfiguration, JobStatus, JobType, ScrapingJob
from scraping.services import jobs as jobs_module
from scraping.services.jobs import (
    JobNotCancellable,
    JobNotRetryable,
    scraping_job_cancel,
    scraping_job_create,
    scraping_job_retry,
    scraping_jobs_resume_stale,
)
from tests.factories.accounts import UserFactory
from tests.factories.scraping import ScrapingJobFactory, ScrapingJobItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """The job ids handed to django-q (the run itself is not wanted here)."""
    calls = []
    monkeypatch.setattr(
        jobs_module, "async_task", lambda func, job_id, **kwargs: calls.append((func, job_id))
    )
    return calls


# Creating -----------------------------------------------------------------------------------------


def test_create_stores_job_configuration_and_queues_on_commit(queued, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        job = scraping_job_create(
            user=user,
            title="  Energy   policy ",
            job_type=JobType.URL_LIST,
            keywords=["Solar", "solar ", "wind  power"],
            description=" about energy ",
            configuration={"urls": ["https://example.org/a"], "max_items": 5},
        )
        assert queued == []  # not before the commit
    assert queued == [(jobs_module.RUN_TASK, str(job.pk))]
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert job.title == "Energy policy"
    assert job.description == "about energy"
    assert job.keywords == ["Solar", "wind power"]
    assert job.expanded_keywords is None
    rows = dict(JobConfiguration.objects.filter(job=job).values_list("config_key", "config_value"))
    assert json.loads(rows["max_items"]) == 5
    assert json.loads(rows["urls"]) == ["https://example.org/a"]
    assert AuditLog.objects.filter(action="scraping_job.created", resource_id=str(job.pk), user=user).exists()


def test_create_keywords_optional_for_url_lists_required_for_search(queued):
    user = UserFactory()
    job = scraping_job_create(
        user=user,
        title="list",
        job_type=JobType.URL_LIST,
        keywords=[],
        configuration={"urls": ["https://a.test/"]},
    )
    assert job.keywords == []
    for job_type in (JobType.WEB_PAGE, JobType.PAPER):
        with pytest.raises(ValidationError) as caught:
            scraping_job_create(user=user, title="t", job_type=job_type, keywords=[])
        assert "keywords" in caught.value.message_dict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"job_type": "telepathy"}, "job_type"),
        ({"keywords": ["k"] * 0 + [f"k{n}" for n in range(21)]}, "keywords"),
        ({"keywords": ["x" * 101]}, "keywords"),
        ({"keywords": ["  "]}, "keywords"),
        ({"keywords": "solar"}, "keywords"),
        ({"configuration": {"max_items": 0}}, "configuration.max_items"),
        ({"configuration": {"colour": "blue"}}, "configuration.colour"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(queued, kwargs, field):
    arguments = {"user": UserFactory(), "title": "Jobs", "job_type": JobType.WEB_PAGE, "keywords": ["solar"]}
    arguments.update(kwargs)
    with pytest.raises(ValidationError) as caught:
        scraping_job_create(**arguments)
    assert field in caught.value.message_dict
    assert not ScrapingJob.objects.exists()
    assert queued == []


def test_create_reports_every_problem_at_once(queued):
    with pytest.raises(ValidationError) as caught:
        scraping_job_create(
            user=UserFactory(),
            title="",
            job_type=JobType.URL_LIST,
            keywords=[],
            configuration={"crawl_depth": 9},
        )
    assert {"title", "configuration.urls", "configuration.crawl_depth"} <= set(caught.value.message_dict)


# Cancelling ---------------------------------------------------------------------------------------


def test_cancel_pending_job_is_immediate():
    job = ScrapingJobFactory(status=JobStatus.PENDING)
    job = scraping_job_cancel(job=job, actor=job.user)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.completed_at is not None
    assert AuditLog.objects.filter(action="scraping_job.cancelled", resource_id=str(job.pk)).count() == 1
    # Again: nothing changes, no second audit row.
    scraping_job_cancel(job=job, actor=job.user)
    assert AuditLog.objects.filter(action="scraping_job.cancelled", resource_id=str(job.pk)).count() == 1


def test_cancel_running_job_asks_the_runner_to_stop():
    job = ScrapingJobFactory(status=JobStatus.RUNNING)
    scraping_job_cancel(job=job, actor=job.user)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.cancel_requested is True
    assert job.completed_at is None


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED])
def test_cancel_finished_job_is_a_conflict(status):
    job = ScrapingJobFactory(status=status)
    with pytest.raises(JobNotCancellable):
        scraping_job_cancel(job=job, actor=job.user)


# Retrying -----------------------------------------------------------------------------------------


def test_retry_resets_only_failed_items_and_queues(queued, django_capture_on_commit_callbacks):
    job = ScrapingJobFactory(
        status=JobStatus.COMPLETED,
        total_items=4,
        processed_items=2,
        failed_items=2,
        progress=100,
        attempts=2,
        completed_at=timezone.now(),
    )
    stored = ScrapingJobItemFactory.create_batch(2, job=job, status=ItemStatus.STORED)
    failed = ScrapingJobItemFactory.create_batch(
        2, job=job, status=ItemStatus.FAILED, http_status=500, error_message="boom"
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = scraping_job_retry(job=job, actor=job.user)
    assert queued == [(jobs_module.RUN_TASK, str(job.pk))]
    assert job.status == JobStatus.PENDING
    assert (job.failed_items, job.processed_items, job.progress, job.attempts) == (0, 2, 50, 0)
    assert job.completed_at is None
    for item in failed:
        item.refresh_from_db()
        assert (item.status, item.http_status, item.error_message) == (ItemStatus.PENDING, None, None)
    for item in stored:
        item.refresh_from_db()
        assert item.status == ItemStatus.STORED
    assert AuditLog.objects.filter(action="scraping_job.retried", details__failed_items=2).exists()


def test_retry_after_a_discovery_failure_runs_discovery_again(queued):
    job = ScrapingJobFactory(status=JobStatus.FAILED, error_message="Finding URLs failed: no search server")
    job = scraping_job_retry(job=job, actor=job.user)
    assert job.status == JobStatus.PENDING
    assert job.error_message is None


@pytest.mark.parametrize(
    ("status", "item_status"),
    [
        (JobStatus.PENDING, ItemStatus.FAILED),
        (JobStatus.RUNNING, ItemStatus.FAILED),
        (JobStatus.CANCELLED, ItemStatus.FAILED),
        (JobStatus.COMPLETED, ItemStatus.STORED),
        (JobStatus.FAILED, ItemStatus.BLOCKED),
    ],
)
def test_retry_refused_without_failed_items_or_while_active(queued, status, item_status):
    job = ScrapingJobFactory(status=status)
    ScrapingJobItemFactory(job=job, status=item_status)
    with pytest.raises(JobNotRetryable):
        scraping_job_retry(job=job, actor=job.user)
    job.refresh_from_db()
    assert job.status == status
    assert queued == []


# The reaper ---------------------------------------------------------------------------------------


def test_resume_stale_requeues_silent_jobs_and_fails_exhausted_ones(
    settings, queued, django_capture_on_commit_callbacks
):
    settings.SCRAPING_JOB_TIMEOUT = 600
    now = timezone.now()
    old = now - timedelta(seconds=601)
    silent = ScrapingJobFactory(status=JobStatus.RUNNING, heartbeat_at=old, attempts=1)
    exhausted = ScrapingJobFactory(status=JobStatus.RUNNING, heartbeat_at=old, attempts=3)
    alive = ScrapingJobFactory(status=JobStatus.RUNNING, heartbeat_at=now - timedelta(seconds=30), attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert scraping_jobs_resume_stale(now=now) == 2
    for job in (silent, exhausted, alive):
        job.refresh_from_db()
    assert silent.status == JobStatus.PENDING
    assert exhausted.status == JobStatus.FAILED
    assert "stopped responding" in exhausted.error_message
    assert alive.status == JobStatus.RUNNING
    assert queued == [(jobs_module.RUN_TASK, str(silent.pk))]


def test_resume_stale_requeues_pending_jobs_nobody_picked_up(
    settings, queued, django_capture_on_commit_callbacks
):
    settings.SCRAPING_JOB_TIMEOUT = 600
    job = ScrapingJobFactory(status=JobStatus.PENDING)
    fresh = ScrapingJobFactory(status=JobStatus.PENDING)
    ScrapingJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert scraping_jobs_resume_stale() == 0
    assert queued == [(jobs_module.RUN_TASK, str(job.pk))]
    assert fresh.pk not in [job_id for _, job_id in queued]


def test_stale_jobs_are_taken_back_by_the_reaper():
    reaper = next(r for r in reapers() if r.name == "scraping.jobs")
    assert reaper.run is scraping_jobs_resume_stale
