"""The admin's scraping job actions (cancel, retry), job page (progress, items), item and artifact pages."""

import hashlib
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from scraping.admin import ITEMS_INLINE_LIMIT
from scraping.models import Artifact, ItemStatus, JobStatus, ScrapingJob, ScrapingJobItem
from scraping.services import jobs as job_services
from tests.factories.accounts import UserFactory
from tests.factories.scraping import ArtifactFactory, ScrapingJobFactory, ScrapingJobItemFactory

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:scraping_scrapingjob_changelist")


def client_of(role) -> Client:
    client = Client()
    client.force_login(user_set_role(user=UserFactory(), role=role))
    return client


@pytest.fixture
def queued(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(job_services, "scraping_job_queue", lambda job_id: calls.append(str(job_id)))
    return calls


def finished(*, failed: int) -> ScrapingJob:
    job = ScrapingJobFactory(
        status=JobStatus.COMPLETED, progress=100, total_items=failed + 1, failed_items=failed
    )
    ScrapingJobItemFactory(job=job, status=ItemStatus.STORED)
    for _ in range(failed):
        ScrapingJobItemFactory(job=job, status=ItemStatus.FAILED, error_message="HTTP 500")
    return job


def test_moderators_cancel_pending_and_running_jobs(queued):
    pending = ScrapingJobFactory(status=JobStatus.PENDING)
    running = ScrapingJobFactory(status=JobStatus.RUNNING)
    done = ScrapingJobFactory(status=JobStatus.COMPLETED)

    response = client_of(Role.MODERATOR).post(
        JOBS,
        {"action": "cancel_selected", "_selected_action": [pending.pk, running.pk, done.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 job(s) cancelled" in response.content.decode()
    for job in (pending, running, done):
        job.refresh_from_db()
    assert pending.status == JobStatus.CANCELLED
    assert running.status == JobStatus.RUNNING and running.cancel_requested
    assert done.status == JobStatus.COMPLETED and not done.cancel_requested
    assert AuditLog.objects.filter(action="scraping_job.cancelled").count() == 2


def test_moderators_retry_the_failed_items_of_finished_jobs(queued, django_capture_on_commit_callbacks):
    with_failures = finished(failed=2)
    without = finished(failed=0)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(Role.MODERATOR).post(
            JOBS,
            {"action": "retry_selected", "_selected_action": [with_failures.pk, without.pk]},
            follow=True,
        )

    assert "1 job(s) queued again" in response.content.decode()
    with_failures.refresh_from_db()
    without.refresh_from_db()
    assert with_failures.status == JobStatus.PENDING
    assert without.status == JobStatus.COMPLETED
    assert ScrapingJobItem.objects.filter(job=with_failures, status=ItemStatus.PENDING).count() == 2
    assert ScrapingJobItem.objects.filter(job=with_failures, status=ItemStatus.STORED).count() == 1
    assert queued == [str(with_failures.pk)]


def test_the_actions_need_the_change_permission(queued):
    # Staff who may look at jobs (their own) but not change them.
    onlooker = UserFactory(role=Role.USER, is_staff=True)
    job = ScrapingJobFactory(status=JobStatus.PENDING, user=onlooker)
    onlooker.user_permissions.add(Permission.objects.get(codename="view_scrapingjob"))
    client = Client()
    client.force_login(onlooker)

    page = client.get(JOBS)
    client.post(JOBS, {"action": "cancel_selected", "_selected_action": [job.pk]}, follow=True)

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [job]  # they see the job ...
    assert "cancel_selected" not in page.content.decode()  # ... but are offered no action on it
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_the_job_page_shows_progress_counters_and_failed_items_first(admin_client):
    job = ScrapingJobFactory(status=JobStatus.RUNNING, progress=40, total_items=5, processed_items=2)
    for n in range(ITEMS_INLINE_LIMIT + 5):
        ScrapingJobItemFactory(job=job, url=f"https://example.org/stored-{n}", status=ItemStatus.STORED)
    ScrapingJobItemFactory(job=job, url="https://example.org/broken", status=ItemStatus.FAILED)
    ScrapingJobItemFactory(job=ScrapingJobFactory(), url="https://example.org/another-job")

    response = admin_client.get(reverse("admin:scraping_scrapingjob_change", args=[job.pk]))
    html = response.content.decode()

    assert response.status_code == 200
    assert '<progress value="40" max="100">' in html
    assert "https://example.org/broken" in html
    assert len(set(re.findall(r"https://example\.org/stored-\d+", html))) == ITEMS_INLINE_LIMIT - 1
    assert "another-job" not in html
    assert f"job__id__exact={job.pk}" in html
    changelist = admin_client.get(JOBS).content.decode()
    assert '<progress value="40" max="100">' in changelist


def test_the_item_pages_are_read_only_and_filter_by_job_and_status(admin_client):
    job = finished(failed=1)
    other = finished(failed=1)
    url = reverse("admin:scraping_scrapingjobitem_changelist")

    html = admin_client.get(f"{url}?job__id__exact={job.pk}&status__exact=failed").content.decode()

    item = ScrapingJobItem.objects.get(job=job, status=ItemStatus.FAILED)
    assert str(item.pk) in html
    assert str(ScrapingJobItem.objects.get(job=other, status=ItemStatus.FAILED).pk) not in html
    assert admin_client.get(reverse("admin:scraping_scrapingjobitem_add")).status_code == 403
    change = admin_client.get(reverse("admin:scraping_scrapingjobitem_change", args=[item.pk]))
    assert change.status_code == 200
    assert change.context["original"] == item
    assert 'name="url"' not in change.content.decode()  # shown, not editable
    assert item.url in change.content.decode()
    assert change.context["show_save"] is False


def test_cancel_requested_is_not_editable_by_hand(admin_client):
    job = ScrapingJobFactory(status=JobStatus.PENDING)
    html = admin_client.get(reverse("admin:scraping_scrapingjob_change", args=[job.pk])).content.decode()
    assert 'name="cancel_requested"' not in html


def test_deleting_an_artifact_in_the_admin_removes_its_file(admin_client, django_capture_on_commit_callbacks):
    content = b"stored bytes"
    content_hash = hashlib.sha256(content).hexdigest()
    artifact = ArtifactFactory(content_hash=content_hash, tags=["energy", "review"])
    key = default_storage.save(
        f"artifacts/{artifact.user_id}/{content_hash[:2]}/{content_hash}", ContentFile(content)
    )
    Artifact.objects.filter(pk=artifact.pk).update(minio_path=key)
    changelist = reverse("admin:scraping_artifact_changelist")
    assert "energy, review" in admin_client.get(changelist).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist,
            {"action": "delete_selected", "_selected_action": [artifact.pk], "post": "yes"},
            follow=True,
        )

    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    assert not default_storage.exists(key)
    assert AuditLog.objects.filter(action="artifact.deleted", resource_id=str(artifact.pk)).exists()


def test_deleting_a_job_in_the_admin_removes_its_stored_files(
    admin_client, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from accounts.models import AuditLog
    from scraping.models import Artifact, JobStatus, ScrapingJob
    from tests.factories.scraping import ArtifactFactory, ScrapingJobFactory

    job = ScrapingJobFactory(status=JobStatus.COMPLETED)
    artifact = ArtifactFactory(job=job, minio_path=f"artifacts/test-delete/{job.pk}")
    default_storage.save(artifact.minio_path, ContentFile(b"stored bytes"))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:scraping_scrapingjob_delete", args=[job.pk]), {"post": "yes"}
        )

    assert response.status_code == 302
    assert not ScrapingJob.objects.filter(pk=job.pk).exists()
    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    assert not default_storage.exists(artifact.minio_path)
    assert AuditLog.objects.filter(action="scraping_job.deleted", resource_id=str(job.pk)).exists()
