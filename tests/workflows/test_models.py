import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError
from django.utils import timezone

from tests.constraints import violates
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    EvaluationFactory,
    MediaAttachmentFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    ResourceFactory,
    WorkflowCheckpointFactory,
    WorkflowFactory,
)
from workflows.models import (
    Draft,
    DraftSource,
    Evaluation,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Resource,
    Workflow,
    WorkflowCheckpoint,
    WorkflowMode,
    WorkflowStatus,
)

pytestmark = pytest.mark.django_db


# --- check constraints -----------------------------------------------------------------------

BAD_VALUES = [
    pytest.param(
        WorkflowFactory, {"status": "paused"}, lambda: violates("ck_workflows_status"), id="workflows_status"
    ),
    pytest.param(
        WorkflowFactory, {"mode": "magic"}, lambda: violates("ck_workflows_mode"), id="workflows_mode"
    ),
    pytest.param(
        PlatformStateFactory,
        {"platform": "myspace"},
        lambda: violates("ck_platform_states_platform"),
        id="platform_states_platform",
    ),
    pytest.param(
        PlatformStateFactory,
        {"status": "lost"},
        lambda: violates("ck_platform_states_status"),
        id="platform_states_status",
    ),
    pytest.param(
        PlatformStateFactory,
        {"iteration": -1},
        lambda: violates("ck_platform_states_iteration"),
        id="platform_states_iteration",
    ),
    pytest.param(
        DraftFactory, {"platform": "myspace"}, lambda: violates("ck_drafts_platform"), id="drafts_platform"
    ),
    pytest.param(DraftFactory, {"source": "robot"}, lambda: violates("ck_drafts_source"), id="drafts_source"),
    pytest.param(
        EvaluationFactory, {"score": -1}, lambda: violates("ck_evaluations_score"), id="evaluations_score_low"
    ),
    pytest.param(
        EvaluationFactory,
        {"score": 101},
        lambda: violates("ck_evaluations_score"),
        id="evaluations_score_high",
    ),
    pytest.param(
        ResourceFactory, {"type": "video"}, lambda: violates("ck_resources_type"), id="resources_type"
    ),
    pytest.param(
        PublishingJobFactory,
        # The factory's draft copies the job's platform: keep it valid, or ck_drafts_platform fires first.
        {"platform": "myspace", "draft__platform": Platform.LINKEDIN},
        lambda: violates("ck_publishing_jobs_platform"),
        id="publishing_jobs_platform",
    ),
    pytest.param(
        PublishingJobFactory,
        {"status": "lost"},
        lambda: violates("ck_publishing_jobs_status"),
        id="publishing_jobs_status",
    ),
    pytest.param(
        PublishingJobFactory,
        {"status": PublishingStatus.SCHEDULED, "scheduled_for": None},
        lambda: violates("ck_publishing_jobs_scheduled"),
        id="publishing_jobs_scheduled",
    ),
    pytest.param(
        PublishingJobFactory,
        {"status": PublishingStatus.PUBLISHED, "published_at": None},
        lambda: violates("ck_publishing_jobs_published"),
        id="publishing_jobs_published",
    ),
    pytest.param(
        WorkflowCheckpointFactory,
        {"platform": "myspace"},
        lambda: violates("ck_workflow_checkpoints_platform"),
        id="workflow_checkpoints_platform",
    ),
    pytest.param(
        MediaAttachmentFactory,
        {"platform": "myspace"},
        lambda: violates("ck_media_attachments_platform"),
        id="media_attachments_platform",
    ),
    pytest.param(
        MediaAttachmentFactory,
        {"origin": "stolen"},
        lambda: violates("ck_media_attachments_origin"),
        id="media_attachments_origin",
    ),
    pytest.param(
        MediaAttachmentFactory,
        {"alt_status": "skipped"},
        lambda: violates("ck_media_attachments_alt_status"),
        id="media_attachments_alt_status",
    ),
    pytest.param(
        MediaAttachmentFactory,
        {"alt_score": 101},
        lambda: violates("ck_media_attachments_alt_score"),
        id="media_attachments_alt_score",
    ),
]


@pytest.mark.parametrize(("factory", "values", "rejected_by"), BAD_VALUES)
def test_check_constraint_rejects_bad_value(factory, values, rejected_by):
    with rejected_by():
        factory(**values)


# Positive-integer columns: Django's own column checks, not named Meta constraints.
NEGATIVE_COUNTERS = [
    pytest.param(PlatformStateFactory, {"attempts": -1}, id="platform_states_attempts_positive"),
    pytest.param(PublishingJobFactory, {"attempts": -1}, id="publishing_jobs_attempts_positive"),
    pytest.param(WorkflowCheckpointFactory, {"sequence": -1}, id="workflow_checkpoints_sequence_positive"),
]


@pytest.mark.parametrize(("factory", "values"), NEGATIVE_COUNTERS)
def test_positive_integer_column_rejects_negative_value(factory, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**values)


GOOD_VALUES = [
    pytest.param(WorkflowFactory, {"status": status}, id=f"workflow_status_{status}")
    for status in WorkflowStatus.values
] + [
    pytest.param(
        WorkflowFactory, {"mode": WorkflowMode.TEMPLATE, "template_input": {"topic": "x"}}, id="mode"
    ),
    *[
        pytest.param(PlatformStateFactory, {"status": s}, id=f"platform_state_{s}")
        for s in PlatformStatus.values
    ],
    *[pytest.param(PlatformStateFactory, {"platform": p}, id=f"platform_{p}") for p in Platform.values],
    pytest.param(DraftFactory, {"source": DraftSource.HUMAN}, id="draft_human"),
    pytest.param(EvaluationFactory, {"score": 0}, id="score_0"),
    pytest.param(EvaluationFactory, {"score": 100}, id="score_100"),
    pytest.param(
        PublishingJobFactory,
        {"status": PublishingStatus.SCHEDULED, "scheduled_for": timezone.now()},
        id="job_scheduled",
    ),
    pytest.param(
        PublishingJobFactory,
        {"status": PublishingStatus.PUBLISHED, "published_at": timezone.now()},
        id="job_published",
    ),
    pytest.param(PublishingJobFactory, {"platform": Platform.MASTODON}, id="job_mastodon"),
    pytest.param(WorkflowCheckpointFactory, {"sequence": 0}, id="checkpoint_sequence_0"),
]


@pytest.mark.parametrize(("factory", "values"), GOOD_VALUES)
def test_check_constraint_accepts_valid_value(factory, values):
    obj = factory(**values)
    obj.refresh_from_db()
    for field, value in values.items():
        assert getattr(obj, field) == value


# --- unique constraints ----------------------------------------------------------------------


def test_one_state_per_workflow_and_platform():
    state = PlatformStateFactory(platform=Platform.X)
    PlatformStateFactory(workflow=state.workflow, platform=Platform.BLOG)
    PlatformStateFactory(platform=Platform.X)
    with violates("uq_workflow_platform"):
        PlatformStateFactory(workflow=state.workflow, platform=Platform.X)


@pytest.mark.parametrize("live", ["queued", "scheduled", "publishing"])
@pytest.mark.parametrize("second", ["queued", "scheduled", "publishing"])
def test_at_most_one_live_publishing_job_per_platform(live, second):
    now = timezone.now()
    job = PublishingJobFactory(status=live, scheduled_for=now)
    with violates("uq_publishing_job_live"):
        PublishingJobFactory(workflow=job.workflow, draft=job.draft, status=second, scheduled_for=now)


@pytest.mark.parametrize("finished", ["published", "failed", "cancelled"])
def test_finished_publishing_jobs_do_not_block_a_new_one(finished):
    published_at = timezone.now() if finished == PublishingStatus.PUBLISHED else None
    job = PublishingJobFactory(status=finished, published_at=published_at)
    PublishingJobFactory(workflow=job.workflow, draft=job.draft, status=finished, published_at=published_at)
    PublishingJobFactory(workflow=job.workflow, draft=job.draft, status=PublishingStatus.QUEUED)
    assert PublishingJob.objects.filter(workflow=job.workflow).count() == 3


def test_live_jobs_for_different_platforms_or_workflows_coexist():
    job = PublishingJobFactory(platform=Platform.LINKEDIN)
    PublishingJobFactory(workflow=job.workflow, platform=Platform.X)
    PublishingJobFactory(platform=Platform.LINKEDIN)


def test_idempotency_key_is_unique():
    job = PublishingJobFactory(status=PublishingStatus.FAILED)
    with violates("uq_publishing_job_idem_key"):
        PublishingJobFactory(status=PublishingStatus.FAILED, idempotency_key=job.idempotency_key)


def test_checkpoint_sequence_is_unique_per_workflow_and_platform():
    checkpoint = WorkflowCheckpointFactory(sequence=1)
    WorkflowCheckpointFactory(workflow=checkpoint.workflow, platform=Platform.X, sequence=1)
    WorkflowCheckpointFactory(sequence=1)
    with violates("uq_workflow_checkpoint_seq"):
        WorkflowCheckpointFactory(workflow=checkpoint.workflow, platform=checkpoint.platform, sequence=1)


# --- defaults --------------------------------------------------------------------------------


def test_workflow_defaults():
    workflow = Workflow.objects.create(user=WorkflowFactory().user, mode=WorkflowMode.MANUAL)
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING
    assert workflow.source_content is None
    assert workflow.template_input is None
    assert workflow.manual_options is None
    assert workflow.error_message is None
    assert workflow.completed_at is None
    assert workflow.created_at is not None
    assert workflow.updated_at is not None


def test_platform_state_defaults():
    state = PlatformState.objects.create(workflow=WorkflowFactory(), platform=Platform.BLOG)
    state.refresh_from_db()
    assert state.status == PlatformStatus.PENDING
    assert state.iteration == 0
    assert state.attempts == 0
    assert state.active_draft is None
    assert state.heartbeat_at is None
    assert state.last_feedback is None


def test_publishing_job_defaults():
    draft = DraftFactory()
    job = PublishingJob.objects.create(workflow=draft.workflow, platform=draft.platform, draft=draft)
    other = PublishingJob.objects.create(workflow=draft.workflow, platform=Platform.X, draft=draft)
    job.refresh_from_db()
    assert job.status == PublishingStatus.QUEUED
    assert job.attempts == 0
    assert len(job.idempotency_key) == 64
    assert job.idempotency_key != other.idempotency_key
    assert job.scheduled_for is None
    assert job.response_data is None


def test_draft_evaluation_resource_and_checkpoint_defaults():
    draft = DraftFactory()
    evaluation = Evaluation.objects.create(draft=draft, score=70)
    resource = Resource.objects.create(user=draft.workflow.user, type="reference", content="notes")
    checkpoint = WorkflowCheckpoint.objects.create(
        workflow=draft.workflow, platform=Platform.X, step="generate", sequence=0
    )
    for obj in (draft, evaluation, resource, checkpoint):
        obj.refresh_from_db()
        assert obj.created_at is not None
    assert draft.based_on is None and draft.created_by is None
    assert evaluation.evaluator == "" and evaluation.feedback is None and evaluation.criteria_scores is None
    assert resource.title == "" and resource.metadata is None and resource.updated_at is not None
    assert checkpoint.state == {} and checkpoint.metadata is None and checkpoint.parent is None


def test_review_permission_exists():
    assert Permission.objects.filter(
        content_type__app_label="workflows", codename="review_platformstate"
    ).exists()


# --- on_delete -------------------------------------------------------------------------------


def test_deleting_a_user_removes_their_workflows_and_resources():
    job = PublishingJobFactory(status=PublishingStatus.PUBLISHED, published_at=timezone.now())
    user = job.workflow.user
    EvaluationFactory(draft=job.draft)
    PlatformStateFactory(workflow=job.workflow, active_draft=job.draft)
    WorkflowCheckpointFactory(workflow=job.workflow)
    ResourceFactory(user=user)
    user.delete()
    for model in (Workflow, PlatformState, Draft, Evaluation, PublishingJob, WorkflowCheckpoint, Resource):
        assert not model.objects.exists(), model


def test_deleting_a_workflow_cascades_to_its_children():
    job = PublishingJobFactory()
    workflow = job.workflow
    EvaluationFactory(draft=job.draft)
    PlatformStateFactory(workflow=workflow, active_draft=job.draft)
    first = WorkflowCheckpointFactory(workflow=workflow)
    WorkflowCheckpointFactory(workflow=workflow, parent=first)
    other = PublishingJobFactory()
    workflow.delete()
    for model in (PlatformState, Evaluation, WorkflowCheckpoint):
        assert not model.objects.exists(), model
    assert list(Draft.objects.all()) == [other.draft]
    assert list(PublishingJob.objects.all()) == [other]
    assert list(Workflow.objects.all()) == [other.workflow]


def test_deleting_a_draft_deletes_its_evaluations_and_clears_references():
    draft = DraftFactory()
    EvaluationFactory(draft=draft)
    state = PlatformStateFactory(workflow=draft.workflow, active_draft=draft)
    edit = DraftFactory(workflow=draft.workflow, source=DraftSource.HUMAN, based_on=draft)
    draft.delete()
    state.refresh_from_db()
    edit.refresh_from_db()
    assert state.active_draft is None
    assert edit.based_on is None
    assert not Evaluation.objects.exists()


def test_a_draft_with_a_publishing_job_cannot_be_deleted_alone():
    job = PublishingJobFactory()
    with pytest.raises(RestrictedError), transaction.atomic():
        job.draft.delete()
    assert Draft.objects.filter(pk=job.draft_id).exists()


def test_deleting_the_author_keeps_the_human_draft():
    draft = DraftFactory(source=DraftSource.HUMAN, created_by=PlatformConnectionFactory().user)
    draft.created_by.delete()
    draft.refresh_from_db()
    assert draft.created_by is None


def test_deleting_a_platform_connection_keeps_the_job():
    connection = PlatformConnectionFactory()
    job = PublishingJobFactory(platform_connection=connection)
    connection.delete()
    job.refresh_from_db()
    assert job.platform_connection is None


def test_deleting_a_parent_checkpoint_clears_the_link():
    parent = WorkflowCheckpointFactory(sequence=0)
    child = WorkflowCheckpointFactory(workflow=parent.workflow, sequence=1, parent=parent)
    parent.delete()
    child.refresh_from_db()
    assert child.parent is None


# --- __str__ ---------------------------------------------------------------------------------


def test_str():
    job = PublishingJobFactory()
    evaluation = EvaluationFactory(draft=job.draft)
    state = PlatformStateFactory(workflow=job.workflow, platform=Platform.X, status=PlatformStatus.ACCEPTED)
    assert str(job.workflow).startswith("Workflow ")
    assert str(state) == "X: Accepted"
    assert "LinkedIn draft" in str(job.draft)
    assert str(evaluation).startswith("82/100")
    assert "Queued" in str(job)
    assert str(ResourceFactory(title="My post")) == "My post"
    assert str(WorkflowCheckpointFactory(step="evaluate", sequence=3)) == "linkedin #3 after evaluate"
