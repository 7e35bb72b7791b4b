"""The scraping app's domain errors (see core/errors.py); the codes are part of the API."""

from core.errors import Conflict


class JobNotCancellable(Conflict):
    code = "job_finished"
    default_message = "Only a pending or running scraping job can be cancelled."


class JobNotRetryable(Conflict):
    code = "job_not_retryable"
    default_message = "Only a completed or failed scraping job with failed items can be retried."


class JobRunning(Conflict):
    code = "job_running"
    default_message = "A running job cannot be deleted; cancel it first."
