"""Scraping services: jobs (create, cancel, retry, reaper), the runner, artifacts and storage.

Import from the modules (`scraping.services.jobs`, `.runner`, `.artifacts`, `.storage`); the
names below are re-exported for callers that prefer one import.
"""

from scraping.services.artifacts import (
    artifact_delete,
    artifact_tags_add,
    artifact_tags_remove,
    artifact_update,
)
from scraping.services.jobs import (
    JobNotCancellable,
    JobNotRetryable,
    scraping_job_cancel,
    scraping_job_create,
    scraping_job_retry,
    scraping_jobs_resume_stale,
)
from scraping.services.storage import artifact_storage_key

__all__ = [
    "JobNotCancellable",
    "JobNotRetryable",
    "artifact_delete",
    "artifact_storage_key",
    "artifact_tags_add",
    "artifact_tags_remove",
    "artifact_update",
    "scraping_job_cancel",
    "scraping_job_create",
    "scraping_job_retry",
    "scraping_job_run",
    "scraping_jobs_resume_stale",
]


def __getattr__(name: str):
    # The runner pulls in fetching, extraction and the sources: loaded only when asked for.
    if name == "scraping_job_run":
        from scraping.services.runner import scraping_job_run

        return scraping_job_run
    raise AttributeError(name)
