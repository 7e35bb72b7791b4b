# ruff: noqa: F811  (fixtures imported from the neighbouring test module)
"""A scraping job's end is told to its owner once, finished or failed, however often its task runs."""

import pytest
from django.core import mail

from accounts.models import Notification, NotificationEvent
from scraping.models import JobStatus
from scraping.tasks import run_scraping_job
from tests.fakes.base import make_httpserver  # noqa: F401
from tests.scraping.services.test_runner import _settings, fast_fetcher, make_job, site  # noqa: F401

pytestmark = pytest.mark.django_db


def told(job):
    return list(Notification.objects.filter(user=job.user, data__job_id=str(job.pk)))


def test_a_finished_job_is_told_once_in_the_admin_only(
    site, fast_fetcher, django_capture_on_commit_callbacks
):
    job = make_job(urls=site.page_urls[:1])
    with django_capture_on_commit_callbacks(execute=True):
        assert run_scraping_job(str(job.pk)) == JobStatus.COMPLETED
        run_scraping_job(str(job.pk))  # redelivered
    [notification] = told(job)
    assert (
        notification.event == NotificationEvent.JOB_FINISHED
        and notification.key == f"scraping:{job.pk}:finished"
    )
    assert notification.title == "The scraping job for “solar” finished"
    assert notification.body == "1 stored, 0 already known, 0 failed."
    assert notification.url == f"/admin/scraping/scrapingjob/{job.pk}/change/"
    assert mail.outbox == []  # email is off for finished jobs by default


def test_a_failed_job_is_told_once_and_emailed(site, fast_fetcher, django_capture_on_commit_callbacks):
    job = make_job(urls=[site.missing_url, site.error_url])
    with django_capture_on_commit_callbacks(execute=True):
        assert run_scraping_job(str(job.pk)) == JobStatus.FAILED
        run_scraping_job(str(job.pk))
    [notification] = told(job)
    assert (
        notification.event == NotificationEvent.JOB_FAILED
        and "All 2 fetched items failed" in notification.body
    )
    assert len(mail.outbox) == 1 and "failed" in mail.outbox[0].subject
