"""The workflow's status is derived from its platforms by one function."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

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


# Literal statuses, so a renamed or regrouped status shows up here. The rules (the module's
# docstring): running while any platform works; else awaiting_review while any awaits review;
# completed when every one is accepted, rejected or published; else failed when one failed.
DERIVED = [
    # one platform in each state
    (["pending"], "running"),
    (["generating"], "running"),
    (["evaluating"], "running"),
    (["awaiting_review"], "awaiting_review"),
    (["accepted"], "completed"),
    (["rejected"], "completed"),
    (["published"], "completed"),
    (["failed"], "failed"),
    # a working platform outranks everything else
    (["pending", "awaiting_review"], "running"),
    (["generating", "failed"], "running"),
    (["evaluating", "published"], "running"),
    (["accepted", "rejected", "published", "failed", "awaiting_review", "evaluating"], "running"),
    # then one awaiting review
    (["awaiting_review", "failed"], "awaiting_review"),
    (["published", "awaiting_review"], "awaiting_review"),
    (["accepted", "rejected", "published", "failed", "awaiting_review"], "awaiting_review"),
    # then: all settled, or one failed among the settled
    (["accepted", "rejected", "published"], "completed"),
    (["accepted", "accepted"], "completed"),
    (["accepted", "failed"], "failed"),
    (["rejected", "failed"], "failed"),
    (["published", "failed"], "failed"),
    (["failed", "failed"], "failed"),
    # nothing to derive from: the caller keeps what it has
    ([], None),
    (["archived"], None),  # not a platform status
    (["accepted", "archived"], None),
]


@pytest.mark.parametrize(
    ("statuses", "expected"), DERIVED, ids=lambda v: "+".join(v) if isinstance(v, list) else str(v)
)
def test_derived_status_for_every_combination_that_matters(statuses, expected):
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


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("platform_statuses", "expected"),
    [
        (["pending", "accepted"], "running"),
        (["awaiting_review", "failed"], "awaiting_review"),
        (["accepted", "published"], "completed"),
        (["rejected", "failed"], "failed"),
    ],
)
@pytest.mark.parametrize("before", ["running", "awaiting_review", "completed", "failed"])
def test_a_refresh_stores_the_derived_status_from_any_earlier_one(before, platform_statuses, expected):
    workflow = _workflow(before, *platform_statuses)
    if before == "completed":
        type(workflow).objects.filter(pk=workflow.pk).update(completed_at=timezone.now())
    refreshed = workflow_refresh_status(workflow=workflow)
    workflow.refresh_from_db()
    assert refreshed.status == workflow.status == expected
    assert (workflow.completed_at is not None) is (expected == "completed")
    # _workflow gives the statuses to linkedin then x: the failed one is x's.
    assert workflow.error_message == ("x: failed without a recorded reason" if expected == "failed" else None)


@pytest.mark.django_db
def test_the_failure_summary_names_every_failed_platform_in_platform_order():
    workflow = WorkflowFactory(status=W.RUNNING)
    for platform, status, error in [
        (Platform.X, P.FAILED, "the AI server timed out"),
        (Platform.BLOG, P.PUBLISHED, None),
        (Platform.LINKEDIN, P.FAILED, None),
        (Platform.MASTODON, P.REJECTED, "ignored: not failed"),
    ]:
        PlatformStateFactory(workflow=workflow, platform=platform, status=status, error_message=error)
    workflow = workflow_refresh_status(workflow=workflow)
    assert workflow.status == W.FAILED
    assert workflow.error_message == (
        "linkedin: failed without a recorded reason; x: the AI server timed out"
    )
    assert workflow.completed_at is None


@pytest.mark.django_db
def test_an_unchanged_status_is_not_written_again():
    workflow = _workflow(W.AWAITING_REVIEW, P.AWAITING_REVIEW, P.ACCEPTED)
    stamp = timezone.now() - timedelta(days=1)
    type(workflow).objects.filter(pk=workflow.pk).update(updated_at=stamp)
    refreshed = workflow_refresh_status(workflow=workflow)
    assert refreshed.status == W.AWAITING_REVIEW
    workflow.refresh_from_db()
    assert workflow.updated_at == stamp


@pytest.mark.django_db
def test_a_new_failure_reason_is_written_though_the_status_stays_failed():
    workflow = _workflow(W.RUNNING, P.FAILED, P.ACCEPTED, errors=["first reason"])
    workflow = workflow_refresh_status(workflow=workflow)
    assert (workflow.status, workflow.error_message) == (W.FAILED, "linkedin: first reason")
    stamp = timezone.now() - timedelta(days=1)
    type(workflow).objects.filter(pk=workflow.pk).update(updated_at=stamp)

    workflow.platform_states.filter(platform=Platform.LINKEDIN).update(error_message="second reason")
    workflow = workflow_refresh_status(workflow=workflow)
    workflow.refresh_from_db()
    assert (workflow.status, workflow.error_message) == (W.FAILED, "linkedin: second reason")
    assert workflow.updated_at > stamp


@pytest.mark.django_db
def test_a_workflow_without_platforms_keeps_its_status():
    workflow = _workflow(W.AWAITING_REVIEW)
    stamp = timezone.now() - timedelta(days=1)
    type(workflow).objects.filter(pk=workflow.pk).update(updated_at=stamp)
    assert workflow_refresh_status(workflow=workflow).status == W.AWAITING_REVIEW
    workflow.refresh_from_db()
    assert (workflow.status, workflow.updated_at) == (W.AWAITING_REVIEW, stamp)


@pytest.mark.django_db
def test_leaving_failed_clears_the_error_message():
    workflow = _workflow(W.RUNNING, P.FAILED, errors=["the AI server refused the request"])
    assert workflow_refresh_status(workflow=workflow).status == W.FAILED
    workflow.platform_states.update(status=P.PENDING, error_message=None)
    workflow = workflow_refresh_status(workflow=workflow)
    workflow.refresh_from_db()
    assert (workflow.status, workflow.error_message, workflow.completed_at) == (W.RUNNING, None, None)


@pytest.mark.django_db
def test_a_refresh_inside_a_callers_transaction_adds_no_savepoint():
    # The engine refreshes inside its step's transaction; a savepoint there would cost two more
    # round trips per step and buy nothing (nothing in the refresh is caught and retried).
    workflow = _workflow(W.RUNNING, P.ACCEPTED)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert workflow_refresh_status(workflow=workflow).status == W.COMPLETED
    assert not [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()]
