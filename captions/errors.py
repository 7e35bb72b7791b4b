"""The captions app's domain errors (see core/errors.py); the codes are part of the API."""

from core.errors import Conflict, NotFound, Unavailable


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = "The caption's status does not allow this."


class SettingsConflict(Conflict):
    """A concurrent request created or changed the same settings row."""

    code = "conflict"


class TaskAlreadyActive(Conflict):
    code = "task_active"
    default_message = "A caption task for this connection is already queued or running."


class TaskNotCancellable(Conflict):
    code = "task_finished"
    default_message = "Only a queued or running caption task can be cancelled."


class CaptionTaskNotFound(NotFound):
    default_message = "No such caption task."


class PostingUnsupported(Conflict):
    code = "posting_unsupported"
    default_message = "This connection's platform cannot receive captions."


class PostChanged(Unavailable):
    """The description was written, but the server changed something else of the post with it;
    the image is now `error` with what changed."""

    code = "post_changed"
    default_message = "The description was written, but the server changed the post."


class PostingFailed(Unavailable):
    """The platform refused or failed; the image is now `error` with the reason."""

    code = "platform_unavailable"
    default_message = "Posting the caption failed."


class CaptionBackendUnavailable(Unavailable):
    """The AI backend is down or busy (not a bad answer): 503, with Retry-After when it said."""

    code = "ai_unavailable"
    default_message = "The caption backend is unavailable; try again later."
    http_status = 503


class CaptionBackendFailed(Unavailable):
    code = "ai_failed"
    default_message = "The caption backend failed."


class PostNotFound(NotFound):
    default_message = "No such post."


class RepostUnsupported(Conflict):
    """The post's network can have its captions posted back (or cannot publish at all)."""

    code = "repost_unsupported"
    default_message = "This post cannot be reposted with alt text."


class RepostNotReady(Conflict):
    """An image of the post has no approved caption yet."""

    code = "repost_not_ready"
    default_message = "Every image of the post needs an approved caption before it is reposted."


class RepostFailed(Unavailable):
    """The new post could not be made (nothing changed here), or it was made and deleting the
    original failed (the repost is recorded; asking again deletes the original)."""

    code = "platform_unavailable"
    default_message = "Reposting with alt text failed."
