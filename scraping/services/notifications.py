"""A scraping job's end, told to its owner (accounts.services.notifications.job_ended_notify)."""

from django.urls import reverse

from accounts.services.notifications import job_ended_notify
from scraping.models import ScrapingJob


def scraping_job_ended_notify(*, job_id, failed: bool) -> None:
    job = (
        ScrapingJob.objects.filter(pk=job_id)
        .only(
            "pk", "user_id", "keywords", "error_message", "processed_items", "failed_items", "skipped_items"
        )
        .first()
    )
    if job is None:
        return
    terms = ", ".join(str(k) for k in (job.keywords or [])[:5])
    name = f"The scraping job{f' for “{terms}”' if terms else ''}"
    if failed:
        detail = job.error_message or ""
    else:
        detail = (
            f"{job.processed_items} stored, {job.skipped_items} already known, {job.failed_items} failed."
        )
    job_ended_notify(
        user_id=job.user_id,
        kind="scraping",
        job_id=job.pk,
        failed=failed,
        name=name,
        detail=detail,
        url=reverse("admin:scraping_scrapingjob_change", args=[job.pk]),
    )
