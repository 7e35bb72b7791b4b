"""The workflow's status is derived from its platforms by one function."""

import pytest

from tests.factories.workflows import PlatformStateFactory, WorkflowFactory
from workflows.models import Platform, PlatformStatus, WorkflowStatus
from workflows.services.status import derived_status, workflow_refresh_status

P = PlatformStatus
W = WorkflowStatus


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([P.PENDING, P.ACCEPTED], W.RUNNING),
        ([P.GENERATING, P.AWAITING_REVIEW], W.RUNNING),
        ([P.EVALUATING, P.FAILED], W.RUNNING),
        ([P.AWAITING_REVIEW, P.ACCEPTED], W.AWAITING_REVIEW),
        ([P.AWAITING_REVIEW, P.FAILED], W.AWAITING_REVIEW),
        ([P.ACCEPTED, P.REJECTED, P.PUBLISHED], W.COMPLETED),
        ([P.REJECTED], W.COMPLETED),
        ([P.PUBLISHED, P.FAILED], W.FAILED),
        ([], None),
    ],
)
def test_derived_status(statuses, expected):
    assert derived_status(statuses) == expected


def _workflow(status, *platform_statuses, errors=()):
    workflow = WorkflowFactory(status=status)
    platforms = [Platform.LINKEDIN, Platform.X, Platform.BLOG, Platform.MASTODON]
    errors = list(errors) + [None] * len(platform_statuses)
    for platform, platform_status, error in zip(platforms, platform_statuses, errors, strict=False):
        PlatformStateFactory(
            workflow=workflow, platform=platform, status=platform_status, error_message=error
        )
    return workflow


@pytest.mark.django_db
def test_completion_sets_completed_at_and_reopening_clears_it():
    workflow = _workflow(W.AWAITING_REVIEW, P.ACCEPTED, P.PUBLISHED)

    workflow = workflow_refresh_status(workflow=workflow)
    assert workflow.status == W.COMPLETED
    assert workflow.completed_at is not None

    workflow.platform_states.filter(platform=Platform.X).update(status=P.PENDING)
    workflow = workflow_refresh_status(workflow=workflow)
    assert workflow.status == W.RUNNING
    assert workflow.completed_at is None


@pytest.mark.django_db
def test_a_failed_platform_fails_the_workflow_once_nothing_else_is_left():
    workflow = _workflow(W.RUNNING, P.FAILED, P.GENERATING, errors=["the AI server refused the request"])
    assert workflow_refresh_status(workflow=workflow).status == W.RUNNING

    workflow.platform_states.filter(platform=Platform.X).update(status=P.ACCEPTED)
    workflow.refresh_from_db()
    workflow = workflow_refresh_status(workflow=workflow)
    assert workflow.status == W.FAILED
    assert workflow.error_message == "linkedin: the AI server refused the request"


@pytest.mark.django_db
@pytest.mark.parametrize("status", [W.CANCELLED, W.ARCHIVED])
def test_cancelled_and_archived_workflows_keep_their_status(status):
    workflow = _workflow(status, P.ACCEPTED)
    assert workflow_refresh_status(workflow=workflow).status == status
