"""A scraping job's lifecycle outside the run itself: create, cancel, retry, and the stale-job reaper.

States: pending -> running -> completed | failed | cancelled. The run (`scraping.services.runner`)
claims a pending job with a conditional UPDATE, so a redelivered task message, or a second worker,
finds nothing to claim. Everything a run decided lives in the database (expanded keywords, one
`ScrapingJobItem` per URL with its outcome), so a run that died is resumed by queueing the job
again: the reaper does that for jobs whose heartbeat went silent, at most MAX_ATTEMPTS times.
"""

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from core.locking import row_lock
from scraping.errors import JobNotCancellable, JobNotRetryable, JobRunning
from scraping.job_options import job_settings_parse, job_settings_serialise
from scraping.models import ItemStatus, JobConfiguration, JobStatus, JobType, ScrapingJob, ScrapingJobItem
from scraping.services.notifications import scraping_job_ended_notify

logger = logging.getLogger(__name__)

RUN_TASK = "scraping.tasks.run_scraping_job"
TITLE_MAX_CHARS = 255
DESCRIPTION_MAX_CHARS = 10_000
KEYWORDS_MAX = 20
KEYWORD_MAX_CHARS = 100
KEYWORDS_REQUIRED = {JobType.WEB_PAGE, JobType.PAPER}
# A job whose worker died this many times is failed rather than resumed again.
MAX_ATTEMPTS = 3


def scraping_job_queue(job_id: UUID | str) -> None:
    """Hand the job to django-q. The task may run longer than the cluster's default timeout: it is
    given SCRAPING_JOB_TIMEOUT, and the runner hands over to a new task before that (see runner)."""
    async_task(
        RUN_TASK,
        str(job_id),
        task_name=f"scraping-job-{job_id}",
        group="scraping",
        timeout=int(settings.SCRAPING_JOB_TIMEOUT),
    )


def _queue_on_commit(job_id) -> None:
    # robust: a broker failure must not undo a committed job; it stays pending and the reaper
    # queues it again.
    transaction.on_commit(lambda: scraping_job_queue(job_id), robust=True)


def _clean_keywords(keywords, *, job_type: str) -> list[str]:
    if keywords is None:
        keywords = []
    if not isinstance(keywords, list | tuple) or not all(isinstance(k, str) for k in keywords):
        raise ValidationError({"keywords": "Give a list of keywords (strings)."})
    cleaned: dict[str, str] = {}
    for raw in keywords:
        keyword = " ".join(raw.split())
        if not keyword:
            raise ValidationError({"keywords": "Keywords cannot be empty."})
        if len(keyword) > KEYWORD_MAX_CHARS:
            raise ValidationError({"keywords": f"Each keyword has at most {KEYWORD_MAX_CHARS} characters."})
        cleaned.setdefault(keyword.casefold(), keyword)
    result = list(cleaned.values())
    if len(result) > KEYWORDS_MAX:
        raise ValidationError({"keywords": f"At most {KEYWORDS_MAX} distinct keywords."})
    if not result and job_type in KEYWORDS_REQUIRED:
        raise ValidationError({"keywords": "This job type searches by keyword: give at least one."})
    return result


def scraping_job_create(
    *,
    user: User,
    title: str,
    job_type: str,
    keywords: list[str],
    description: str | None = None,
    configuration: dict | None = None,
    meta: RequestMeta | None = None,
) -> ScrapingJob:
    """Validate and store a job with its configuration rows, and queue its run once committed.

    Keywords are trimmed and deduplicated case-insensitively (first spelling kept): 1..20 of
    1..100 characters for web_page and paper jobs, 0..20 for the others. Every problem is reported
    at once in one ValidationError (title, description, job_type, keywords, configuration.<key>).
    """
    errors: dict[str, list[str]] = {}
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if not title:
        errors["title"] = ["A title is required."]
    elif len(title) > TITLE_MAX_CHARS:
        errors["title"] = [f"At most {TITLE_MAX_CHARS} characters."]
    description = (description or "").strip() or None
    if description and len(description) > DESCRIPTION_MAX_CHARS:
        errors["description"] = [f"At most {DESCRIPTION_MAX_CHARS} characters."]
    if job_type not in JobType.values:
        errors["job_type"] = [f"Unknown job type; use one of {', '.join(JobType.values)}."]
    cleaned_keywords: list[str] = []
    job_settings = None
    if "job_type" not in errors:
        try:
            cleaned_keywords = _clean_keywords(keywords, job_type=job_type)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        try:
            job_settings = job_settings_parse(job_type=job_type, values=configuration or {})
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        job = ScrapingJob.objects.create(
            user=user,
            title=title,
            description=description,
            job_type=job_type,
            keywords=cleaned_keywords,
            status=JobStatus.PENDING,
        )
        JobConfiguration.objects.bulk_create(
            JobConfiguration(job=job, config_key=key, config_value=value)
            for key, value in job_settings_serialise(job_settings).items()
        )
        audit_log_write(
            action="scraping_job.created",
            actor=user,
            target=job,
            meta=meta,
            details={"job_type": job_type, "keywords": cleaned_keywords},
        )
        _queue_on_commit(job.pk)
    return job


def scraping_job_cancel(*, job: ScrapingJob, actor: User, meta: RequestMeta | None = None) -> ScrapingJob:
    """Cancel a job: a pending one at once, a running one at its next item (`cancel_requested`;
    the runner sets `cancelled`). Cancelling a cancelled job, or one already asked to stop,
    changes nothing; a completed or failed one is JobNotCancellable (409)."""
    with transaction.atomic():
        job = row_lock(row=job)
        if job.status == JobStatus.CANCELLED or (job.status == JobStatus.RUNNING and job.cancel_requested):
            return job
        if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            raise JobNotCancellable(f"The job is {job.get_status_display().lower()}; it cannot be cancelled.")
        now = timezone.now()
        previous = job.status
        job.cancel_requested = True
        fields = ["cancel_requested", "updated_at"]
        if previous == JobStatus.PENDING:
            job.status = JobStatus.CANCELLED
            job.completed_at = now
            fields += ["status", "completed_at"]
        job.save(update_fields=fields)
        audit_log_write(
            action="scraping_job.cancelled", actor=actor, target=job, meta=meta, details={"from": previous}
        )
    return job


def scraping_job_retry(*, job: ScrapingJob, actor: User, meta: RequestMeta | None = None) -> ScrapingJob:
    """Run a finished job's failed items again: they go back to pending, the job to pending, and
    a run is queued; stored, duplicate and blocked items are not fetched again. A job that failed
    before finding any URL (discovery failed, e.g. no search endpoint configured) runs discovery
    again. Anything else is JobNotRetryable (409): pending, running or cancelled jobs, finished
    jobs with nothing failed, and jobs whose items retention removed."""
    with transaction.atomic():
        job = row_lock(row=job)
        failed = ScrapingJobItem.objects.filter(job=job, status=ItemStatus.FAILED)
        failed_count = failed.count()
        has_items = ScrapingJobItem.objects.filter(job=job).exists()
        undiscovered = job.status == JobStatus.FAILED and not job.total_items and not has_items
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED) and job.total_items and not has_items:
            # It found URLs, and retention (scraping.job_items) removed them since: discovering
            # again would fetch everything a second time.
            raise JobNotRetryable(
                "The job's URL items were removed by retention; create a new job to scrape again."
            )
        if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) or not (failed_count or undiscovered):
            raise JobNotRetryable(
                f"The job is {job.get_status_display().lower()} with {failed_count} failed items; "
                "only a completed or failed job with failed items can be retried."
            )
        now = timezone.now()
        failed.update(status=ItemStatus.PENDING, error_message=None, http_status=None, updated_at=now)
        done = job.total_items - failed_count
        ScrapingJob.objects.filter(pk=job.pk).update(
            status=JobStatus.PENDING,
            failed_items=F("failed_items") - failed_count,
            progress=(done * 100 // job.total_items) if job.total_items else 0,
            error_message=None,
            cancel_requested=False,
            completed_at=None,
            attempts=0,
            updated_at=now,
        )
        audit_log_write(
            action="scraping_job.retried",
            actor=actor,
            target=job,
            meta=meta,
            details={"failed_items": failed_count, "rediscover": undiscovered},
        )
        _queue_on_commit(job.pk)
    job.refresh_from_db()
    return job


def scraping_jobs_resume_stale(*, now: datetime | None = None) -> int:
    """Take back running jobs whose heartbeat is older than SCRAPING_JOB_TIMEOUT seconds (their
    worker died or was killed): back to pending and queued while `attempts` < MAX_ATTEMPTS, else
    failed. Each is a conditional UPDATE, so a job that sends a heartbeat meanwhile is left alone.
    Pending jobs untouched for as long are queued again too (their queueing may have failed; a
    second message is harmless, the claim lets one run). Returns how many running jobs were
    taken back (resumed or failed)."""
    now = now or timezone.now()
    timeout = int(settings.SCRAPING_JOB_TIMEOUT)
    cutoff = now - timedelta(seconds=timeout)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    handled = 0
    for job_id, attempts in ScrapingJob.objects.filter(silent, status=JobStatus.RUNNING).values_list(
        "pk", "attempts"
    ):
        rows = ScrapingJob.objects.filter(silent, pk=job_id, status=JobStatus.RUNNING)
        with transaction.atomic():
            if attempts < MAX_ATTEMPTS:
                changed = rows.update(status=JobStatus.PENDING, heartbeat_at=None, updated_at=now)
                if changed:
                    _queue_on_commit(job_id)
            else:
                changed = rows.update(
                    status=JobStatus.FAILED,
                    error_message=(
                        f"The worker stopped responding {attempts} times (no heartbeat for "
                        f"{timeout} seconds); giving up."
                    ),
                    completed_at=now,
                    updated_at=now,
                )
                if changed:
                    scraping_job_ended_notify(job_id=job_id, failed=True)
            handled += changed
    for job_id in ScrapingJob.objects.filter(status=JobStatus.PENDING, updated_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            if ScrapingJob.objects.filter(pk=job_id, status=JobStatus.PENDING, updated_at__lt=cutoff).update(
                updated_at=now
            ):
                _queue_on_commit(job_id)
    if handled:
        logger.warning("Took back %d scraping job(s) whose worker went silent", handled)
    return handled


def scraping_job_delete(*, job: ScrapingJob, actor: User, meta: RequestMeta | None = None) -> None:
    """Delete a job that is not running, with its items and artifacts; their stored files go once
    the deletion commits (a rolled-back deletion keeps rows whose files still exist)."""
    from scraping.models import Artifact
    from scraping.services.storage import artifact_bytes_delete

    with transaction.atomic():
        locked = row_lock(row=job)
        if locked.status == JobStatus.RUNNING:
            raise JobRunning()
        keys = set(Artifact.objects.filter(job=locked).values_list("minio_path", flat=True))
        audit_log_write(
            action="scraping_job.deleted",
            actor=actor,
            target=locked,
            meta=meta,
            details={"artifacts": len(keys), "title": locked.title},
        )
        locked.delete()
        # A key another artifact of the user still points at (an import) keeps its file.
        orphans = keys - set(
            Artifact.objects.filter(minio_path__in=keys).values_list("minio_path", flat=True)
        )

        def remove_files() -> None:
            for key in sorted(orphans):
                artifact_bytes_delete(key=key)

        transaction.on_commit(remove_files, robust=True)
