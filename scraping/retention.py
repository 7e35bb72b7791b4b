"""Retention policies of the scraping app (run by `manage.py cleanup`, see core.retention).

- The items of a finished job (one row per URL it found, with what became of it) are the job's
  working state: a run resumes from them and a retry fetches again the failed ones. After the
  grace period only the job's counters remain (a job whose items are gone cannot be retried).
- Artifacts are the user's collected content: kept forever unless the operator sets an age. Their
  stored bytes go once each batch commits, unless another artifact still names the same key.
"""

import re
from datetime import timedelta

from django.db.models import QuerySet

from core.retention import RetentionPolicy
from scraping.models import (
    Artifact,
    ContentExtraction,
    JobStatus,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)

_SHA256 = re.compile(r"[0-9a-f]{64}")
FINISHED = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]


def _job_items(*, now, age):
    # A job's updated_at moves with every step of its run and with a retry: the grace period runs
    # from its end.
    finished = ScrapingJob.objects.filter(status__in=FINISHED, updated_at__lt=now - timedelta(days=age))
    return ScrapingJobItem.objects.filter(job__in=finished.values("pk"))


def _artifacts(*, now, age):
    return Artifact.objects.filter(created_at__lt=now - timedelta(days=age))


def _artifact_children(batch: QuerySet) -> None:
    # Tags and extractions are CASCADE, job items' link SET_NULL: done here set-based, so the
    # artifacts' delete needs no collector.
    artifacts = batch.values("pk")
    MetadataTag.objects.filter(artifact__in=artifacts).delete()
    ContentExtraction.objects.filter(artifact__in=artifacts).delete()
    ScrapingJobItem.objects.filter(artifact__in=artifacts).update(artifact=None)


def _artifact_files(batch: QuerySet):
    return batch.values_list("minio_path", flat=True)


def _artifact_files_in_use(names: set[str]):
    # Keys are named after a content hash (artifact_storage_key: `artifacts/<user>/<hh>/<hash>`),
    # and only rows with that hash name them (one per user, uq_artifacts_user_content_hash; a
    # later scrape of the same content, say): the content_hash index finds those rows. minio_path
    # has no index, so only keys of another form are looked up by name.
    hashes, other = set(), set()
    for name in names:
        stem = name.rsplit("/", 1)[-1].split(".", 1)[0].lower()
        if _SHA256.fullmatch(stem):
            hashes.add(stem)
        else:
            other.add(name)
    in_use = []
    if hashes:
        rows = Artifact.objects.filter(content_hash__in=hashes, minio_path__in=names)
        in_use += rows.values_list("minio_path", flat=True)
    if other:
        in_use += Artifact.objects.filter(minio_path__in=other).values_list("minio_path", flat=True)
    return in_use


POLICIES = [
    RetentionPolicy(
        name="scraping.job_items",
        description="URL items of jobs finished more than RETENTION_SCRAPING_ITEM_DAYS ago",
        rows=_job_items,
        setting="RETENTION_SCRAPING_ITEM_DAYS",
        default=30,
    ),
    RetentionPolicy(
        name="scraping.artifacts",
        description="artifacts and their files, created more than RETENTION_ARTIFACT_DAYS ago (off unset)",
        rows=_artifacts,
        setting="RETENTION_ARTIFACT_DAYS",
        default=None,
        before_delete=_artifact_children,
        raw=True,
        files=_artifact_files,
        files_in_use=_artifact_files_in_use,
    ),
]
