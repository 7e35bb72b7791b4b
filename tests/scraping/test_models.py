from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from scraping.models import (
    Artifact,
    ArtifactType,
    ContentExtraction,
    JobConfiguration,
    JobStatus,
    JobType,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)
from tests.constraints import drop_column_check, violates
from tests.factories.accounts import UserFactory
from tests.factories.scraping import (
    ArtifactFactory,
    ContentExtractionFactory,
    JobConfigurationFactory,
    MetadataTagFactory,
    ScrapingJobFactory,
    ScrapingJobItemFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [ScrapingJob, JobConfiguration, Artifact, MetadataTag, ContentExtraction, ScrapingJobItem]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_declared_index_and_constraint_exists_in_the_database(model):
    with connection.cursor() as cursor:
        existing = set(connection.introspection.get_constraints(cursor, model._meta.db_table))
    declared = {index.name for index in model._meta.indexes} | {c.name for c in model._meta.constraints}
    assert declared <= existing
    assert all(len(name) <= 30 for name in declared)


# ScrapingJob


def test_job_defaults():
    job = ScrapingJob.objects.create(user=UserFactory(), job_type=JobType.SITEMAP, title="Sitemap crawl")
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert job.keywords == []
    assert job.expanded_keywords is None
    assert (job.progress, job.total_items, job.processed_items, job.failed_items, job.skipped_items) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert job.attempts == 0
    assert job.cancel_requested is False
    assert job.heartbeat_at is job.started_at is job.completed_at is None
    assert job.created_at is not None and job.updated_at is not None
    assert not job.is_finished
    assert str(job) == "Sitemap crawl (Pending)"


JOB_TYPES = ["web_page", "url_list", "sitemap", "feed", "paper", "government_doc"]
JOB_STATUSES = ["pending", "running", "completed", "failed", "cancelled"]


def test_the_job_choices_are_the_documented_ones():
    # Literal lists: a choice added or renamed must be added to the accepted-value tests below.
    assert JobType.values == JOB_TYPES
    assert JobStatus.values == JOB_STATUSES


def _accepted(field: str, value: str) -> None:
    """The value passes model validation, the database's check constraint (on insert and on an
    update that bypasses the model) and reads back unchanged."""
    other = next(v for v in (JOB_TYPES if field == "job_type" else JOB_STATUSES) if v != value)
    job = ScrapingJobFactory(**{field: other})
    setattr(job, field, value)
    job.full_clean()
    job.save()
    job.refresh_from_db()
    assert getattr(job, field) == value
    # An update that bypasses the model meets the check constraint alone (see
    # test_job_check_constraints_reject_bad_values for a value it refuses).
    assert ScrapingJob.objects.filter(pk=job.pk).update(**{field: other}) == 1
    assert ScrapingJob.objects.filter(pk=job.pk).update(**{field: value}) == 1
    assert ScrapingJob.objects.filter(pk=job.pk, **{field: value}).count() == 1
    assert ScrapingJobFactory(**{field: value}).pk is not None


@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_every_job_type_is_accepted(job_type):
    _accepted("job_type", job_type)


@pytest.mark.parametrize("status", JOB_STATUSES)
def test_every_job_status_is_accepted(status):
    _accepted("status", status)


@pytest.mark.parametrize(
    ("values", "rejected_by"),
    [
        ({"job_type": "ftp"}, lambda: violates("ck_scraping_jobs_job_type")),
        ({"status": "paused"}, lambda: violates("ck_scraping_jobs_status")),
        ({"progress": 101}, lambda: violates("ck_scraping_jobs_progress")),
        ({"progress": -1}, lambda: violates("ck_scraping_jobs_progress")),
        ({"total_items": -1}, lambda: violates("ck_scraping_jobs_total")),
        ({"processed_items": -1}, lambda: violates("ck_scraping_jobs_processed")),
        ({"failed_items": -1}, lambda: violates("ck_scraping_jobs_failed")),
        ({"skipped_items": -1}, lambda: violates("ck_scraping_jobs_skipped")),
        ({"attempts": -1}, lambda: violates("ck_scraping_jobs_attempts")),
    ],
    ids=lambda v: next(iter(v)) + "=" + str(next(iter(v.values()))) if isinstance(v, dict) else None,
)
def test_job_check_constraints_reject_bad_values(values, rejected_by):
    with rejected_by():
        ScrapingJobFactory(**values)


@pytest.mark.parametrize("progress", [0, 1, 50, 99, 100])
def test_job_progress_bounds_are_inclusive(progress):
    job = ScrapingJobFactory(progress=progress)
    job.full_clean()
    job.refresh_from_db()
    assert job.progress == progress


def test_job_needs_an_owner():
    with pytest.raises(IntegrityError), transaction.atomic():
        ScrapingJobFactory(user=None)


def test_job_needs_keywords_list_not_null():
    with pytest.raises(IntegrityError), transaction.atomic():
        ScrapingJobFactory(keywords=None)


def test_deleting_user_deletes_their_jobs():
    job = ScrapingJobFactory()
    job.user.delete()
    assert not ScrapingJob.objects.filter(pk=job.pk).exists()


def test_job_is_finished_for_terminal_states():
    assert ScrapingJobFactory(status=JobStatus.CANCELLED).is_finished
    assert not ScrapingJobFactory(status=JobStatus.RUNNING).is_finished


# JobConfiguration


def test_config_key_is_unique_per_job():
    config = JobConfigurationFactory(config_key="max_results")
    with violates("uq_job_configurations_job_key"):
        JobConfigurationFactory(job=config.job, config_key="max_results")


def test_same_config_key_on_different_jobs_is_fine():
    JobConfigurationFactory(config_key="max_results")
    JobConfigurationFactory(config_key="max_results")
    assert JobConfiguration.objects.filter(config_key="max_results").count() == 2


def test_config_value_may_be_null_and_created_at_is_set():
    config = JobConfigurationFactory(config_value=None)
    config.refresh_from_db()
    assert config.config_value is None
    assert config.created_at is not None


def test_config_needs_a_job():
    with pytest.raises(IntegrityError), transaction.atomic():
        JobConfigurationFactory(job=None)


def test_deleting_job_deletes_its_configurations():
    config = JobConfigurationFactory()
    config.job.delete()
    assert not JobConfiguration.objects.filter(pk=config.pk).exists()


# Artifact


def test_artifact_defaults():
    artifact = ArtifactFactory(keywords=[], tags=[])
    fresh = Artifact.objects.create(
        user=artifact.user,
        artifact_type=ArtifactType.PDF,
        content_hash="f" * 64,
        minio_path="users/1/file.pdf",
    )
    fresh.refresh_from_db()
    assert fresh.is_public is False
    assert fresh.keywords == [] and fresh.tags == []
    assert fresh.job is None
    assert fresh.created_at is not None and fresh.updated_at is not None
    assert str(fresh) == "PDF ffffffffffff"


def test_same_content_twice_for_one_user_is_rejected():
    artifact = ArtifactFactory()
    with violates("uq_artifacts_user_content_hash"):
        ArtifactFactory(job=None, user=artifact.user, content_hash=artifact.content_hash)


def test_same_content_for_different_users_is_fine():
    artifact = ArtifactFactory()
    ArtifactFactory(content_hash=artifact.content_hash)
    assert Artifact.objects.filter(content_hash=artifact.content_hash).count() == 2


@pytest.mark.parametrize("artifact_type", ArtifactType.values)
def test_every_artifact_type_is_accepted(artifact_type):
    ArtifactFactory(artifact_type=artifact_type)


def test_artifact_type_must_be_known():
    with violates("ck_artifacts_artifact_type"):
        ArtifactFactory(artifact_type="spreadsheet")


def test_artifact_file_size_cannot_be_negative():
    drop_column_check(Artifact, "file_size")  # on PostgreSQL its column check would fire first
    with violates("ck_artifacts_file_size"):
        ArtifactFactory(file_size=-1)


@pytest.mark.parametrize(
    "values", [{"content_hash": None}, {"minio_path": None}], ids=["content_hash_null", "minio_path_null"]
)
def test_artifact_rejects_missing_values(values):
    with pytest.raises(IntegrityError), transaction.atomic():
        ArtifactFactory(**values)


@pytest.mark.parametrize("file_size", [0, None, 5 * 1024**4])
def test_artifact_file_size_may_be_zero_unknown_or_huge(file_size):
    ArtifactFactory(file_size=file_size)


def test_artifact_without_job_is_an_upload():
    artifact = ArtifactFactory(job=None)
    assert artifact.job_id is None
    assert artifact.minio_path.startswith(f"users/{artifact.user_id}/")


def test_artifact_needs_an_owner():
    with pytest.raises(IntegrityError), transaction.atomic():
        ArtifactFactory(job=None, user=None)


def test_deleting_job_deletes_its_artifacts_and_their_children():
    artifact = ArtifactFactory()
    tag = MetadataTagFactory(artifact=artifact)
    extraction = ContentExtractionFactory(artifact=artifact)
    upload = ArtifactFactory(job=None, user=artifact.user)
    artifact.job.delete()
    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    assert not MetadataTag.objects.filter(pk=tag.pk).exists()
    assert not ContentExtraction.objects.filter(pk=extraction.pk).exists()
    assert Artifact.objects.filter(pk=upload.pk).exists()


def test_deleting_user_deletes_their_artifacts():
    upload = ArtifactFactory(job=None)
    upload.user.delete()
    assert not Artifact.objects.filter(pk=upload.pk).exists()


def test_artifact_keyword_lists_round_trip():
    artifact = ArtifactFactory(keywords=["solar", "wind"], tags=["energy", "policy"])
    artifact.refresh_from_db()
    assert artifact.keywords == ["solar", "wind"]
    assert artifact.tags == ["energy", "policy"]


# MetadataTag


def test_metadata_tag_defaults_and_str():
    tag = MetadataTagFactory(tag_type="metadata", tag_key="author", tag_value=None)
    tag.refresh_from_db()
    assert tag.tag_value is None
    assert tag.created_at is not None
    assert str(tag) == "metadata:author"


def test_metadata_tag_allows_repeated_keys():
    tag = MetadataTagFactory(tag_key="author")
    MetadataTagFactory(artifact=tag.artifact, tag_key="author")
    assert tag.artifact.metadata_tags.count() == 2


def test_metadata_tag_needs_an_artifact():
    with pytest.raises(IntegrityError), transaction.atomic():
        MetadataTagFactory(artifact=None)


def test_deleting_artifact_deletes_its_tags():
    tag = MetadataTagFactory()
    tag.artifact.delete()
    assert not MetadataTag.objects.filter(pk=tag.pk).exists()


# ContentExtraction


@pytest.mark.parametrize("score", ["0.00", "0.75", "1.00", None])
def test_confidence_score_within_bounds_or_unknown(score):
    extraction = ContentExtractionFactory(confidence_score=score)
    extraction.refresh_from_db()
    assert extraction.confidence_score == (Decimal(score) if score else None)


@pytest.mark.parametrize("score", ["1.01", "-0.01"])
def test_confidence_score_out_of_bounds_is_rejected(score):
    with violates("ck_content_extractions_score"):
        ContentExtractionFactory(confidence_score=score)


def test_extracted_data_round_trips_and_may_be_null():
    extraction = ContentExtractionFactory(extracted_data={"entities": [{"name": "EU", "type": "org"}]})
    extraction.refresh_from_db()
    assert extraction.extracted_data == {"entities": [{"name": "EU", "type": "org"}]}
    empty = ContentExtractionFactory(extracted_data=None)
    empty.refresh_from_db()
    assert empty.extracted_data is None
    assert empty.created_at is not None


def test_extraction_needs_an_artifact():
    with pytest.raises(IntegrityError), transaction.atomic():
        ContentExtractionFactory(artifact=None)


def test_deleting_artifact_deletes_its_extractions():
    extraction = ContentExtractionFactory()
    extraction.artifact.delete()
    assert not ContentExtraction.objects.filter(pk=extraction.pk).exists()


# ScrapingJobItem


def test_a_job_holds_each_url_once():
    item = ScrapingJobItemFactory()
    with violates("uq_scraping_job_items_job_url"):
        ScrapingJobItemFactory(job=item.job, url=item.url)
    ScrapingJobItemFactory(url=item.url)  # another job may hold it


def test_item_status_is_checked():
    with violates("ck_scraping_job_items_status"):
        ScrapingJobItemFactory(status="lost")
