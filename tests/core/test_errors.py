"""Domain errors (core/errors.py) as the API, and commands, answer them.

The statuses and codes below are the ones the API answered before services raised domain errors
(when they raised DRF exceptions): clients branch on them, so they must not move.
"""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from captions import errors as captions_errors
from core import errors
from core.api.errors import api_exception_handler
from core.management.base import ProjectCommand
from generation import errors as generation_errors
from platforms import errors as platforms_errors
from scraping import errors as scraping_errors
from workflows import errors as workflows_errors

# (class, status, code, message when raised without one)
APP_ERRORS = [
    (
        platforms_errors.VerificationFailed,
        400,
        "verification_failed",
        "The platform did not accept these credentials.",
    ),
    (
        platforms_errors.VerificationUnsupported,
        400,
        "verification_unsupported",
        "Verification is available for Mastodon-compatible platforms, X, LinkedIn, WordPress and Bluesky.",
    ),
    (
        platforms_errors.PlatformUnavailable,
        502,
        "platform_unavailable",
        "The platform could not be reached or gave an unusable answer; try again later.",
    ),
    (
        platforms_errors.ConnectionConflict,
        409,
        "conflict",
        "The request conflicts with the current state of the resource.",
    ),
    (
        captions_errors.InvalidTransition,
        409,
        "invalid_transition",
        "The caption's status does not allow this.",
    ),
    (
        captions_errors.TaskAlreadyActive,
        409,
        "task_active",
        "A caption task for this connection is already queued or running.",
    ),
    (
        captions_errors.TaskNotCancellable,
        409,
        "task_finished",
        "Only a queued or running caption task can be cancelled.",
    ),
    (
        captions_errors.PostingUnsupported,
        409,
        "posting_unsupported",
        "This connection's platform cannot receive captions.",
    ),
    (
        captions_errors.PostChanged,
        502,
        "post_changed",
        "The description was written, but the server changed the post.",
    ),
    (captions_errors.PostingFailed, 502, "platform_unavailable", "Posting the caption failed."),
    (
        captions_errors.CaptionBackendUnavailable,
        503,
        "ai_unavailable",
        "The caption backend is unavailable; try again later.",
    ),
    (captions_errors.CaptionBackendFailed, 502, "ai_failed", "The caption backend failed."),
    (
        captions_errors.SettingsConflict,
        409,
        "conflict",
        "The request conflicts with the current state of the resource.",
    ),
    (
        workflows_errors.InvalidTransition,
        409,
        "invalid_transition",
        "The platform's status does not allow this review action.",
    ),
    (
        workflows_errors.WorkflowClosed,
        409,
        "workflow_closed",
        "The workflow is cancelled or archived; its drafts cannot be reviewed.",
    ),
    (
        workflows_errors.PublishingInProgress,
        409,
        "publishing_live",
        "A publishing job for this platform is queued, scheduled or publishing; cancel it first.",
    ),
    (
        workflows_errors.WorkflowNotCancellable,
        409,
        "invalid_transition",
        "Only a running workflow or one awaiting review can be cancelled.",
    ),
    (
        workflows_errors.PublishingNotAccepted,
        409,
        "not_accepted",
        "Only an accepted platform with an active draft can be published.",
    ),
    (
        workflows_errors.PublishingAlreadyPublished,
        409,
        "already_published",
        "This platform is already published.",
    ),
    (
        workflows_errors.PublishingAlreadyScheduled,
        409,
        "already_scheduled",
        "A publishing job for this platform is already queued, scheduled or publishing.",
    ),
    (
        workflows_errors.WorkflowNotPublishable,
        409,
        "workflow_closed",
        "A cancelled, archived or failed workflow cannot be published.",
    ),
    (
        workflows_errors.PublishingJobInProgress,
        409,
        "already_publishing",
        "The job is already publishing; it can no longer be changed.",
    ),
    (
        workflows_errors.PublishingJobFinished,
        409,
        "job_finished",
        "The job has finished; it can no longer be changed.",
    ),
    (
        workflows_errors.PublishingJobNotFailed,
        409,
        "not_failed",
        "Only a failed publishing job can be retried.",
    ),
    (
        scraping_errors.JobNotCancellable,
        409,
        "job_finished",
        "Only a pending or running scraping job can be cancelled.",
    ),
    (
        scraping_errors.JobNotRetryable,
        409,
        "job_not_retryable",
        "Only a completed or failed scraping job with failed items can be retried.",
    ),
    (
        scraping_errors.JobRunning,
        409,
        "job_running",
        "A running job cannot be deleted; cancel it first.",
    ),
    (
        generation_errors.AvatarTaskNotRetryable,
        409,
        "task_not_failed",
        "Only a failed persona task can be retried.",
    ),
    (
        generation_errors.AvatarTaskRunning,
        409,
        "task_running",
        "The persona task is running; wait until it completes or fails.",
    ),
    (
        generation_errors.ImageBackendUnavailableError,
        503,
        "image_backend_unavailable",
        "The image backend is unavailable; try again later.",
    ),
    (generation_errors.ImageBackendFailed, 502, "image_backend_failed", "The image backend failed."),
]


def answer(exc):
    response = api_exception_handler(exc, {})
    return response.status_code, response.data["error"]


@pytest.mark.parametrize(("error_class", "status", "code", "default"), APP_ERRORS, ids=lambda v: str(v))
def test_app_errors_keep_their_status_code_and_message(error_class, status, code, default):
    assert answer(error_class()) == (status, {"code": code, "message": default, "fields": {}})
    assert answer(error_class("What the service said.")) == (
        status,
        {"code": code, "message": "What the service said.", "fields": {}},
    )


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.Conflict(), 409, "conflict"),
        (errors.NotFound(), 404, "not_found"),
        (errors.Invalid(), 400, "invalid"),
        (errors.Unavailable(), 502, "unavailable"),
        (errors.Forbidden(), 403, "permission_denied"),
    ],
)
def test_each_kind_has_its_status(error, status, code):
    assert answer(error)[0] == status
    assert answer(error)[1]["code"] == code


def test_every_not_found_reads_the_same():
    # "Not yours" and "no such" must not be told apart, whatever the service wrote.
    for error in (
        errors.NotFound("No such connection."),
        platforms_errors.ConnectionNotFound(),
        captions_errors.CaptionTaskNotFound(),
        workflows_errors.NotVisible("No such workflow."),
    ):
        assert answer(error) == (404, {"code": "not_found", "message": "Not found.", "fields": {}})
    assert str(workflows_errors.NotVisible("No such workflow.")) == "No such workflow."  # the admin's


def test_invalid_names_its_fields():
    error = errors.Invalid("The schedule is impossible.", fields={"scheduled_for": ["In the past."]})
    assert answer(error) == (
        400,
        {
            "code": "invalid",
            "message": "The schedule is impossible.",
            "fields": {"scheduled_for": ["In the past."]},
        },
    )


def test_unavailable_passes_on_retry_after_in_whole_seconds():
    response = api_exception_handler(captions_errors.CaptionBackendUnavailable("Busy.", retry_after=2.6), {})
    assert response["Retry-After"] == "3"
    response = api_exception_handler(generation_errors.ImageBackendUnavailableError(retry_after=0.2), {})
    assert response["Retry-After"] == "1"
    assert not api_exception_handler(errors.Unavailable(), {}).has_header("Retry-After")


class Refusing(ProjectCommand):
    def handle(self, *args, **options):
        raise workflows_errors.WorkflowNotCancellable("The workflow is completed; it cannot be cancelled.")


def test_a_command_turns_a_domain_error_into_a_command_error():
    with pytest.raises(CommandError, match=r"^The workflow is completed; it cannot be cancelled\.$"):
        call_command(Refusing())
