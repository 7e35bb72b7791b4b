"""django-q2 entry points of the scraping app: take ids, call a service."""


def run_scraping_job(job_id: str) -> str | None:
    """Run a pending scraping job (`scraping.services.runner.scraping_job_run`); a no-op when it is
    not pending any more, so a redelivered message does nothing. Returns the job's status, for the
    task's result in the admin."""
    from scraping.services.runner import scraping_job_run

    job = scraping_job_run(job_id=job_id)
    return job.status if job is not None else None
