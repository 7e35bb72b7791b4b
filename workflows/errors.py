"""The workflows app's domain errors (see core/errors.py); the codes are part of the API."""

from core.errors import Conflict, NotFound


class NotVisible(NotFound):
    """A workflow, connection or other object the actor may not see (or that does not exist)."""


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = "The platform's status does not allow this review action."


class WorkflowClosed(Conflict):
    code = "workflow_closed"
    default_message = "The workflow is cancelled or archived; its drafts cannot be reviewed."


class PublishingInProgress(Conflict):
    code = "publishing_live"
    default_message = (
        "A publishing job for this platform is queued, scheduled or publishing; cancel it first."
    )


class WorkflowNotCancellable(Conflict):
    code = "invalid_transition"
    default_message = "Only a running workflow or one awaiting review can be cancelled."


class PublishingNotAccepted(Conflict):
    code = "not_accepted"
    default_message = "Only an accepted platform with an active draft can be published."


class PublishingAlreadyPublished(Conflict):
    code = "already_published"
    default_message = "This platform is already published."


class PublishingAlreadyScheduled(Conflict):
    code = "already_scheduled"
    default_message = "A publishing job for this platform is already queued, scheduled or publishing."


class WorkflowNotPublishable(Conflict):
    code = "workflow_closed"
    default_message = "A cancelled, archived or failed workflow cannot be published."


class PublishingJobInProgress(Conflict):
    code = "already_publishing"
    default_message = "The job is already publishing; it can no longer be changed."


class PublishingJobFinished(Conflict):
    code = "job_finished"
    default_message = "The job has finished; it can no longer be changed."


class PublishingJobNotFailed(Conflict):
    code = "not_failed"
    default_message = "Only a failed publishing job can be retried."


class AltTextNotApproved(Conflict):
    """A draft's images are not ready to publish: `fields["media"]` names each one and why."""

    code = "alt_text_not_approved"
    default_message = "Every image must have alt text a person approved before it is published."

    def __init__(self, message: str | None = None, *, problems: list[str] | None = None):
        super().__init__(message)
        self.fields = {"media": list(problems or [])}


class MediaRefused(Conflict):
    code = "media_refused"
    default_message = "The workflow's media cannot be changed now."
