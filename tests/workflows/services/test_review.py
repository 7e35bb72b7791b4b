"""workflow_review: the four actions, their transitions, validation, conflicts and the workflow status."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLog
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    WorkflowCheckpointFactory,
    WorkflowFactory,
)
from workflows.models import (
    Draft,
    DraftSource,
    Platform,
    PlatformStatus,
    PublishingStatus,
    WorkflowCheckpoint,
    WorkflowStatus,
)
from workflows.services import engine
from workflows.services.review import (
    InvalidTransition,
    PublishingInProgress,
    WorkflowClosed,
    workflow_review,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    calls = mock.Mock()
    monkeypatch.setattr(engine, "async_task", calls)
    return calls


def reviewable(platform=Platform.X, status=PlatformStatus.AWAITING_REVIEW, workflow=None, **workflow_fields):
    workflow = workflow or WorkflowFactory(status=WorkflowStatus.AWAITING_REVIEW, **workflow_fields)
    draft = DraftFactory(workflow=workflow, platform=platform, content="Version 2 is out. #release")
    return PlatformStateFactory(
        workflow=workflow,
        platform=platform,
        status=status,
        active_draft=draft,
        iteration=2,
        last_feedback="old",
    )


def review(state, action, **kwargs):
    return workflow_review(
        workflow=state.workflow,
        platform=state.platform,
        action=action,
        reviewer=state.workflow.user,
        **kwargs,
    )


def test_accept_completes_a_single_platform_workflow_and_is_audited():
    state = reviewable()
    result = review(state, "accept")

    assert result.status == PlatformStatus.ACCEPTED
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.COMPLETED
    assert state.workflow.completed_at is not None
    log = AuditLog.objects.get(action="workflow.reviewed")
    assert log.details == {
        "action": "accept",
        "platform": "x",
        "from": PlatformStatus.AWAITING_REVIEW,
        "to": PlatformStatus.ACCEPTED,
        "draft_id": str(state.active_draft_id),
    }
    assert log.user == state.workflow.user
    assert WorkflowCheckpoint.objects.get().step == "review_accept"


def test_workflow_awaits_review_while_any_platform_does_and_completes_when_all_settle():
    x = reviewable(Platform.X)
    linkedin = reviewable(Platform.LINKEDIN, workflow=x.workflow)
    blog = reviewable(Platform.BLOG, workflow=x.workflow)

    review(x, "accept")
    x.workflow.refresh_from_db()
    assert x.workflow.status == WorkflowStatus.AWAITING_REVIEW
    review(linkedin, "reject")
    x.workflow.refresh_from_db()
    assert x.workflow.status == WorkflowStatus.AWAITING_REVIEW
    review(blog, "edit_and_publish", content="# Version 2\n\nIt is out.")
    x.workflow.refresh_from_db()
    assert x.workflow.status == WorkflowStatus.COMPLETED


@pytest.mark.parametrize("status", [PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED])
def test_reject_from_awaiting_review_or_accepted(status):
    state = reviewable(status=status)
    assert review(state, "reject").status == PlatformStatus.REJECTED
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.COMPLETED


def test_reject_is_a_conflict_while_a_publishing_job_is_live_but_not_after():
    state = reviewable(status=PlatformStatus.ACCEPTED)
    job = PublishingJobFactory(workflow=state.workflow, platform=state.platform, draft=state.active_draft)
    for action, extra in [
        ("reject", {}),
        ("edit_and_publish", {"content": "new"}),
        ("edit_and_refine", {"content": "n"}),
    ]:
        with pytest.raises(PublishingInProgress):
            review(state, action, **extra)
    state.refresh_from_db()
    assert state.status == PlatformStatus.ACCEPTED

    job.status = PublishingStatus.CANCELLED
    job.save()
    assert review(state, "reject").status == PlatformStatus.REJECTED


@pytest.mark.parametrize("status", [PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED])
def test_edit_and_publish_makes_an_active_human_draft_and_accepts_it(status):
    state = reviewable(status=status)
    before = state.active_draft

    result = review(state, "edit_and_publish", content="  Version 2 is here. #release  ")

    assert result.status == PlatformStatus.ACCEPTED
    draft = result.active_draft
    assert (draft.source, draft.based_on, draft.created_by) == (
        DraftSource.HUMAN,
        before,
        state.workflow.user,
    )
    assert draft.content == "Version 2 is here. #release"
    before.refresh_from_db()
    assert before.content == "Version 2 is out. #release"  # drafts are immutable
    checkpoint = WorkflowCheckpoint.objects.get()
    assert checkpoint.state["draft_ids"] == [str(draft.pk)]
    assert AuditLog.objects.get(action="workflow.reviewed").details["draft_id"] == str(draft.pk)


def test_edit_and_refine_starts_a_new_loop_from_the_human_draft(queued, django_capture_on_commit_callbacks):
    state = reviewable()
    WorkflowCheckpointFactory(workflow=state.workflow, platform=state.platform, sequence=4)

    with django_capture_on_commit_callbacks(execute=True):
        result = review(
            state, "edit_and_refine", content="Shorter version.", feedback="Keep it under 100 chars."
        )

    assert result.status == PlatformStatus.PENDING
    assert result.iteration == 0
    assert result.last_feedback == "Keep it under 100 chars."
    assert result.active_draft.source == DraftSource.HUMAN
    assert result.active_draft.content == "Shorter version."
    assert queued.call_args.args == (engine.RUN_TASK, str(state.pk))
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.RUNNING
    checkpoint = WorkflowCheckpoint.objects.order_by("-sequence").first()
    assert (checkpoint.sequence, checkpoint.step) == (5, "review_edit_and_refine")
    assert checkpoint.state["status"] == PlatformStatus.PENDING


def test_edit_and_refine_feedback_is_optional(queued):
    result = review(reviewable(status=PlatformStatus.ACCEPTED), "edit_and_refine", content="Mine.")
    assert result.status == PlatformStatus.PENDING
    assert result.last_feedback is None


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (PlatformStatus.ACCEPTED, "accept"),
        (PlatformStatus.REJECTED, "accept"),
        (PlatformStatus.REJECTED, "reject"),
        (PlatformStatus.GENERATING, "reject"),
        (PlatformStatus.PENDING, "edit_and_publish"),
        (PlatformStatus.EVALUATING, "edit_and_refine"),
        (PlatformStatus.PUBLISHED, "edit_and_publish"),
        (PlatformStatus.FAILED, "accept"),
    ],
)
def test_wrong_status_is_an_invalid_transition_and_changes_nothing(status, action):
    state = reviewable(status=status)
    with pytest.raises(InvalidTransition) as caught:
        review(state, action, content="Some text")
    assert caught.value.code == "invalid_transition"
    state.refresh_from_db()
    assert state.status == status
    assert Draft.objects.count() == 1
    assert not AuditLog.objects.filter(action="workflow.reviewed").exists()


@pytest.mark.parametrize("status", [WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED])
def test_a_cancelled_or_archived_workflow_cannot_be_reviewed(status):
    state = reviewable()
    state.workflow.status = status
    state.workflow.save()
    with pytest.raises(WorkflowClosed):
        review(state, "accept")
    state.refresh_from_db()
    assert state.status == PlatformStatus.AWAITING_REVIEW


@pytest.mark.parametrize(
    ("platform", "action", "content", "field"),
    [
        ("x", "shrug", None, "action"),
        ("tiktok", "accept", None, "platform"),
        ("linkedin", "accept", None, "platform"),  # not a target of this workflow
        ("x", "edit_and_publish", None, "content"),
        ("x", "edit_and_refine", "   ", "content"),
        ("x", "edit_and_publish", "x" * 281, "content"),
    ],
)
def test_bad_input_is_a_validation_error(platform, action, content, field):
    state = reviewable()
    with pytest.raises(ValidationError) as caught:
        workflow_review(
            workflow=state.workflow,
            platform=platform,
            action=action,
            reviewer=state.workflow.user,
            content=content,
        )
    assert field in caught.value.message_dict
    state.refresh_from_db()
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert Draft.objects.count() == 1


def test_the_hard_limit_follows_the_platform_and_the_mastodon_instance():
    linkedin = reviewable(Platform.LINKEDIN)
    assert review(linkedin, "edit_and_publish", content="y" * 2999).status == PlatformStatus.ACCEPTED

    mastodon = reviewable(Platform.MASTODON)
    with pytest.raises(ValidationError):
        review(mastodon, "edit_and_publish", content="m" * 501)
    PlatformConnectionFactory(user=mastodon.workflow.user, is_default=True, extra={"max_characters": 1000})
    assert review(mastodon, "edit_and_publish", content="m" * 501).status == PlatformStatus.ACCEPTED


def test_a_bluesky_edit_is_counted_in_graphemes_and_bytes():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, 18 bytes
    flag = "\U0001f1fa\U0001f1e6"  # one grapheme, 8 bytes
    state = reviewable(Platform.BLUESKY)
    with pytest.raises(ValidationError) as caught:
        review(state, "edit_and_publish", content=flag * 301)
    assert caught.value.message_dict["content"] == ["The draft has 301 graphemes; Bluesky allows 300."]
    with pytest.raises(ValidationError) as caught:
        review(state, "edit_and_publish", content=family * 200)
    assert "3600 bytes" in caught.value.message_dict["content"][0]
    assert review(state, "edit_and_publish", content=flag * 300).status == PlatformStatus.ACCEPTED


def test_a_reviewer_other_than_the_owner_is_recorded_on_the_draft():
    state = reviewable()
    moderator = UserFactory()
    result = workflow_review(
        workflow=state.workflow,
        platform="x",
        action="edit_and_publish",
        reviewer=moderator,
        content="Edited.",
    )
    assert result.active_draft.created_by == moderator
    assert AuditLog.objects.get(action="workflow.reviewed").user == moderator
