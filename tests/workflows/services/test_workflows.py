"""workflow_create and workflow_cancel: validation, what is written, what is queued."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLog, Role
from core.errors import NotFound
from tests.factories.accounts import UserFactory
from tests.factories.workflows import (
    PlatformStateFactory,
    PublishingJobFactory,
    ResourceFactory,
    WorkflowFactory,
)
from workflows.models import (
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingStatus,
    Workflow,
    WorkflowMode,
    WorkflowStatus,
)
from workflows.services import engine
from workflows.services.workflows import WorkflowNotCancellable, workflow_cancel, workflow_create

pytestmark = pytest.mark.django_db

SOURCE = {"text": "We shipped version 2 today. It is twice as fast.", "title": "Version 2"}


@pytest.fixture
def queued(monkeypatch):
    """The django-q hand-off, recorded instead of run."""
    calls = mock.Mock()
    monkeypatch.setattr(engine, "async_task", calls)
    return calls


def create(user, **kwargs):
    args = {"mode": WorkflowMode.MANUAL, "platforms": ["x", "linkedin"], "source_content": SOURCE, **kwargs}
    return workflow_create(user=user, **args)


def test_create_writes_a_running_workflow_with_pending_states_and_queues_each_on_commit(
    queued, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        workflow = create(
            user,
            manual_options={"tone": " friendly ", "length": "short", "hashtags": ["release", "#python"]},
            source_content={**SOURCE, "urls": ["https://example.com/release"]},
        )
        assert not queued.called  # nothing is handed to django-q before the commit

    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING
    assert workflow.user == user
    assert workflow.source_content == {
        "text": SOURCE["text"],
        "title": "Version 2",
        "urls": ["https://example.com/release"],
        "resource_ids": [],
    }
    assert workflow.manual_options == {
        "tone": "friendly",
        "length": "short",
        "hashtags": ["release", "#python"],
    }
    states = {s.platform: s for s in workflow.platform_states.all()}
    assert set(states) == {"x", "linkedin"}
    assert {s.status for s in states.values()} == {PlatformStatus.PENDING}
    assert AuditLog.objects.filter(
        action="workflow.created", resource_id=str(workflow.pk), user=user
    ).exists()

    for callback in callbacks:
        callback()
    assert sorted(call.args for call in queued.call_args_list) == sorted(
        (engine.RUN_TASK, str(state.pk)) for state in states.values()
    )


def test_create_in_template_mode_keeps_the_input_and_stores_the_rendered_source(queued):
    fields = {
        "product_name": "Socialdesk 2",
        "description": "A faster social desk.",
        "url": "https://example.com",
    }
    workflow = workflow_create(
        user=UserFactory(),
        mode=WorkflowMode.TEMPLATE,
        platforms=["mastodon"],
        template_input={"template": "product_launch", "fields": fields},
    )
    assert workflow.template_input == {"template": "product_launch", "fields": fields}
    assert "Socialdesk 2" in workflow.source_content["text"]
    assert workflow.source_content["title"] == "Introducing Socialdesk 2"
    assert workflow.source_content["urls"] == ["https://example.com"]


def test_resources_are_stored_as_strings_and_only_the_users_own(queued):
    user = UserFactory()
    mine = ResourceFactory(user=user)
    workflow = create(user, resource_ids=[mine.pk, str(mine.pk)])
    assert workflow.source_content["resource_ids"] == [str(mine.pk)]

    theirs = ResourceFactory()
    with pytest.raises(ValidationError) as caught:
        create(user, resource_ids=[str(theirs.pk)])
    assert "Unknown resource" in caught.value.message_dict["resource_ids"][0]
    assert Workflow.objects.count() == 1


BAD = [
    ({"mode": "freestyle"}, "mode"),
    ({"platforms": []}, "platforms"),
    ({"platforms": ["x", "x"]}, "platforms"),
    ({"platforms": ["myspace"]}, "platforms"),
    ({"source_content": None}, "source_content"),
    ({"source_content": {"title": "no text"}}, "source_content.text"),
    ({"source_content": {"text": "   "}}, "source_content.text"),
    ({"source_content": {"text": "x" * 50_001}}, "source_content.text"),
    ({"source_content": {"text": "ok", "title": "t" * 301}}, "source_content.title"),
    ({"source_content": {"text": "ok", "urls": ["ftp://example.com/x"]}}, "source_content.urls.0"),
    (
        {"source_content": {"text": "ok", "urls": [f"https://e.com/{i}" for i in range(11)]}},
        "source_content.urls",
    ),
    ({"source_content": {"text": "ok", "body": "?"}}, "source_content.body"),
    ({"template_input": {"template": "product_launch"}}, "template_input"),
    ({"manual_options": {"length": "epic"}}, "manual_options.length"),
    ({"manual_options": {"colour": "red"}}, "manual_options.colour"),
    ({"manual_options": {"hashtags": 3}}, "manual_options.hashtags"),
    ({"manual_options": {"hashtags": ["ok", 4]}}, "manual_options.hashtags"),
    ({"manual_options": {"tone": "t" * 101}}, "manual_options.tone"),
    ({"manual_options": {"audience": 5}}, "manual_options.audience"),
    ({"manual_options": "loud"}, "manual_options"),
    ({"resource_ids": ["not-a-uuid"]}, "resource_ids"),
    ({"resource_ids": "abc"}, "resource_ids"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_names_the_field_and_writes_nothing(queued, change, field):
    with pytest.raises(ValidationError) as caught:
        create(UserFactory(), **change)
    assert field in caught.value.message_dict
    assert not Workflow.objects.exists()
    assert not PlatformState.objects.exists()
    assert not queued.called


@pytest.mark.parametrize(
    ("template_input", "field"),
    [
        (None, "template_input"),
        ({"template": "no_such_template", "fields": {}}, "template_input.name"),
        ({"template": "product_launch", "fields": {}}, "template_input.fields.product_name"),
        ({"template": "product_launch", "fields": {}, "extra": 1}, "template_input.extra"),
    ],
)
def test_bad_template_input_is_a_validation_error(queued, template_input, field):
    with pytest.raises(ValidationError) as caught:
        workflow_create(
            user=UserFactory(), mode=WorkflowMode.TEMPLATE, platforms=["x"], template_input=template_input
        )
    assert field in caught.value.message_dict
    assert not Workflow.objects.exists()


def test_template_mode_takes_no_source_content(queued):
    with pytest.raises(ValidationError) as caught:
        workflow_create(
            user=UserFactory(),
            mode=WorkflowMode.TEMPLATE,
            platforms=["x"],
            source_content=SOURCE,
            template_input={
                "template": "product_launch",
                "fields": {"product_name": "A", "description": "B"},
            },
        )
    assert "source_content" in caught.value.message_dict


# --- cancel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [WorkflowStatus.RUNNING, WorkflowStatus.AWAITING_REVIEW])
def test_cancel_stops_the_workflow_and_its_queued_and_scheduled_jobs(status):
    workflow = WorkflowFactory(status=status)
    queued_job = PublishingJobFactory(workflow=workflow, platform=Platform.X)
    scheduled = PublishingJobFactory(
        workflow=workflow,
        platform=Platform.LINKEDIN,
        status=PublishingStatus.SCHEDULED,
        scheduled_for="2030-01-01T10:00:00Z",
    )
    in_flight = PublishingJobFactory(
        workflow=workflow, platform=Platform.BLOG, status=PublishingStatus.PUBLISHING
    )

    result = workflow_cancel(workflow=workflow, actor=workflow.user)

    assert result.status == WorkflowStatus.CANCELLED
    for job in (queued_job, scheduled):
        job.refresh_from_db()
        assert job.status == PublishingStatus.CANCELLED
    in_flight.refresh_from_db()
    assert in_flight.status == PublishingStatus.PUBLISHING
    log = AuditLog.objects.get(action="workflow.cancelled")
    assert log.details["from"] == status
    assert sorted(log.details["cancelled_jobs"]) == sorted([str(queued_job.pk), str(scheduled.pk)])


def test_cancelling_twice_changes_nothing_and_finished_workflows_cannot_be_cancelled():
    workflow = WorkflowFactory(status=WorkflowStatus.CANCELLED)
    assert workflow_cancel(workflow=workflow, actor=workflow.user).status == WorkflowStatus.CANCELLED
    assert not AuditLog.objects.filter(action="workflow.cancelled").exists()

    for status in (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.ARCHIVED):
        done = WorkflowFactory(status=status)
        with pytest.raises(WorkflowNotCancellable):
            workflow_cancel(workflow=done, actor=done.user)
        done.refresh_from_db()
        assert done.status == status


def test_cancel_of_a_strangers_workflow_is_a_404_but_moderators_may():
    workflow = WorkflowFactory()
    with pytest.raises(NotFound):
        workflow_cancel(workflow=workflow, actor=UserFactory())
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING
    moderator = UserFactory(role=Role.MODERATOR)
    assert workflow_cancel(workflow=workflow, actor=moderator).status == WorkflowStatus.CANCELLED


def test_a_platform_still_working_stops_at_its_next_step(monkeypatch):
    workflow = WorkflowFactory()
    state = PlatformStateFactory(workflow=workflow, status=PlatformStatus.PENDING)
    workflow_cancel(workflow=workflow, actor=workflow.user)
    writer = mock.Mock()
    monkeypatch.setattr("workflows.writing.draft_write", writer)

    engine.platform_step_run(state_id=state.pk)

    assert not writer.called
    state.refresh_from_db()
    assert state.status == PlatformStatus.PENDING
    assert state.attempts == 0
