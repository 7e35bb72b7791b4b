"""The generation app's domain errors (see core/errors.py); the codes are part of the API."""

from core.errors import Conflict, NotFound, Unavailable


class AvatarTaskNotRetryable(Conflict):
    code = "task_not_failed"
    default_message = "Only a failed persona task can be retried."


class AvatarTaskRunning(Conflict):
    code = "task_running"
    default_message = "The persona task is running; wait until it completes or fails."


class AvatarTaskNotFound(NotFound):
    default_message = "No such persona task."


class AvatarTaskNotCancellable(Conflict):
    code = "task_finished"
    default_message = "Only a pending or running persona task can be cancelled."


class PromptNotFound(NotFound):
    default_message = "No such prompt."


class PromptNotCancellable(Conflict):
    code = "prompt_finished"
    default_message = "Only a queued or running prompt can be cancelled."


class ImageBackendUnavailableError(Unavailable):
    """The image backend is down or busy (not a bad answer): 503, with Retry-After when it said."""

    code = "image_backend_unavailable"
    default_message = "The image backend is unavailable; try again later."
    http_status = 503


class ImageBackendFailed(Unavailable):
    code = "image_backend_failed"
    default_message = "The image backend failed."
