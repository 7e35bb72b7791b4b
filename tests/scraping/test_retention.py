"""scraping.job_items and scraping.artifacts (core.retention, run by `manage.py cleanup`)."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from core.retention import policy_run
from scraping.models import (
    Artifact,
    ContentExtraction,
    ItemStatus,
    JobStatus,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)
from scraping.services.jobs import JobNotRetryable, scraping_job_retry
from scraping.services.storage import artifact_storage_key
from tests.factories.scraping import (
    ArtifactFactory,
    ContentExtractionFactory,
    MetadataTagFactory,
    ScrapingJobFactory,
    ScrapingJobItemFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _job(status, *, days):
    job = ScrapingJobFactory(status=status, total_items=2)
    ScrapingJob.objects.filter(pk=job.pk).update(updated_at=NOW - timedelta(days=days))
    items = [ScrapingJobItemFactory(job=job, status=ItemStatus.STORED) for _ in range(2)]
    return job, {item.pk for item in items}


def _items_left(*item_sets):
    wanted = set().union(*item_sets)
    return set(ScrapingJobItem.objects.filter(pk__in=wanted).values_list("pk", flat=True))


# Job items ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_items_of_a_job_finished_more_than_30_days_ago_go_the_job_stays(status):
    old_job, old_items = _job(status, days=31)
    _recent_job, recent_items = _job(status, days=29)

    assert policy_run(name="scraping.job_items", now=NOW).rows == 2

    assert _items_left(old_items, recent_items) == recent_items
    old_job.refresh_from_db()
    assert (old_job.status, old_job.total_items) == (status, 2)


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING])
def test_items_of_an_unfinished_job_stay_however_old(status):
    _job_row, items = _job(status, days=400)
    assert policy_run(name="scraping.job_items", now=NOW).rows == 0
    assert _items_left(items) == items


def test_the_item_age_is_configurable(settings):
    settings.RETENTION_SCRAPING_ITEM_DAYS = 3
    _old, old_items = _job(JobStatus.COMPLETED, days=4)
    _recent, recent_items = _job(JobStatus.COMPLETED, days=2)

    policy_run(name="scraping.job_items", now=NOW)

    assert _items_left(old_items, recent_items) == recent_items


def test_a_job_whose_items_retention_removed_cannot_be_retried_and_is_not_rediscovered():
    job, _items = _job(JobStatus.FAILED, days=31)
    policy_run(name="scraping.job_items", now=NOW)

    with pytest.raises(JobNotRetryable, match="removed by retention"):
        scraping_job_retry(job=job, actor=job.user)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


# Artifacts --------------------------------------------------------------------------------------


def _artifact(*, days, with_file=True, **fields):
    artifact = ArtifactFactory(content_text=f"text {uuid.uuid4().hex}", **fields)
    key = artifact_storage_key(user_id=artifact.user_id, content_hash=artifact.content_hash)
    if with_file:
        assert default_storage.save(key, ContentFile(artifact.content_text.encode())) == key
    Artifact.objects.filter(pk=artifact.pk).update(minio_path=key, created_at=NOW - timedelta(days=days))
    artifact.refresh_from_db()
    return artifact


def test_artifacts_are_kept_forever_unless_the_operator_sets_an_age(settings):
    settings.RETENTION_ARTIFACT_DAYS = None
    artifact = _artifact(days=5000)

    result = policy_run(name="scraping.artifacts", now=NOW)

    assert (result.off, result.rows) == (True, 0)
    assert Artifact.objects.filter(pk=artifact.pk).exists()
    assert default_storage.exists(artifact.minio_path)


@pytest.mark.django_db(transaction=True)
def test_artifacts_older_than_the_set_age_go_with_tags_extractions_and_files(settings):
    settings.RETENTION_ARTIFACT_DAYS = 365
    old = _artifact(days=366)
    recent = _artifact(days=364)
    MetadataTagFactory(artifact=old)
    ContentExtractionFactory(artifact=old)
    item = ScrapingJobItemFactory(artifact=old, status=ItemStatus.STORED)

    result = policy_run(name="scraping.artifacts", now=NOW)

    assert (result.rows, result.files, result.files_failed) == (1, 1, 0)
    assert set(Artifact.objects.filter(pk__in=[old.pk, recent.pk]).values_list("pk", flat=True)) == {
        recent.pk
    }
    assert not MetadataTag.objects.filter(artifact_id=old.pk).exists()
    assert not ContentExtraction.objects.filter(artifact_id=old.pk).exists()
    item.refresh_from_db()
    assert item.artifact_id is None  # the URL's record stays, without its artifact
    assert not default_storage.exists(old.minio_path)
    assert default_storage.exists(recent.minio_path)


@pytest.mark.django_db(transaction=True)
def test_an_artifact_file_already_gone_counts_and_a_rollback_keeps_the_file(settings):
    settings.RETENTION_ARTIFACT_DAYS = 30
    gone = _artifact(days=31, with_file=False)
    kept = _artifact(days=31)

    with pytest.raises(RuntimeError), transaction.atomic():
        policy_run(name="scraping.artifacts", now=NOW)
        raise RuntimeError("rolled back")
    assert Artifact.objects.filter(pk__in=[gone.pk, kept.pk]).count() == 2
    assert default_storage.exists(kept.minio_path)

    result = policy_run(name="scraping.artifacts", now=NOW)
    assert (result.rows, result.files, result.files_failed) == (2, 2, 0)
    assert not default_storage.exists(kept.minio_path)


@pytest.mark.django_db(transaction=True)
def test_a_key_another_artifact_names_keeps_its_file(settings):
    settings.RETENTION_ARTIFACT_DAYS = 30
    old = _artifact(days=31)
    # Another user's row pointing at the same bytes (an import would), found through the hash.
    twin = ArtifactFactory(content_text=old.content_text, minio_path=old.minio_path)
    assert twin.content_hash == hashlib.sha256(old.content_text.encode()).hexdigest() == old.content_hash

    assert policy_run(name="scraping.artifacts", now=NOW).files == 0
    assert default_storage.exists(old.minio_path)


def test_artifact_deletes_are_set_based(settings):
    from django.test.utils import CaptureQueriesContext

    settings.RETENTION_ARTIFACT_DAYS = 30

    def queries(count):
        for _ in range(count):
            artifact = _artifact(days=31, with_file=False)
            MetadataTagFactory(artifact=artifact)
            ScrapingJobItemFactory(artifact=artifact, status=ItemStatus.STORED)
        with CaptureQueriesContext(connection) as captured:
            assert policy_run(name="scraping.artifacts", now=NOW).rows == count
        assert not [q for q in captured.captured_queries if "content_text" in q["sql"]]
        return len(captured)

    assert queries(2) == queries(20)
