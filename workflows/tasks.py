"""django-q2 entry points of the workflows app: take ids, call a service."""


def run_platform_step(state_id: str) -> None:
    """The platform's next engine steps (`workflows.services.engine.platform_step_run`): one, and
    the ones after it while the task is younger than `step_chain_seconds()`. Safe to deliver twice:
    each step claims its row, so a second delivery while the first runs does nothing, and one after
    it finished runs the platform's next step, if any."""
    from workflows.services.engine import platform_step_run, step_chain_seconds

    platform_step_run(state_id=state_id, chain_seconds=step_chain_seconds())


def publish_job(job_id: str) -> str | None:
    """Publish a queued job (`workflows.services.publishing.publishing_job_publish`); a no-op when it
    is not queued any more, so a redelivered message does nothing. Returns the job's status."""
    from workflows.services.publishing import publishing_job_publish

    job = publishing_job_publish(job_id=job_id)
    return job.status if job is not None else None


def dispatch_due_publishing_jobs() -> int:
    """Every minute: take back stale jobs, then claim and publish due ones. Returns how many ran."""
    from workflows.services.publishing import publishing_jobs_dispatch_due

    return publishing_jobs_dispatch_due()


def write_alt_text(attachment_id: str, instruction: str | None = None) -> str | None:
    """Describe an attached image (`workflows.services.media.media_alt_text_write`); a no-op when
    its alt text is no longer pending, so a redelivered message does nothing. Returns its status."""
    from workflows.services.media import media_alt_text_write

    attachment = media_alt_text_write(attachment_id=attachment_id, instruction=instruction)
    return attachment.alt_status if attachment is not None else None
