"""The engine's state machine with a scripted writer and scorer (`workflows.writing.draft_write` and
`draft_score` replaced): the loop, claims, checkpoints, resume after a kill, races, failures, the
reaper. test_engine_e2e.py runs the same engine against the builtin backend and a local
OpenAI-compatible server."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, connection
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import AuditLog
from core.ai import AIError, AIRefused, AIUnavailable
from core.reaper import reapers
from core.services import config_set
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    PlatformStateFactory,
    ResourceFactory,
    WorkflowFactory,
)
from workflows.models import (
    Draft,
    DraftSource,
    Evaluation,
    Platform,
    PlatformState,
    PlatformStatus,
    ResourceType,
    WorkflowCheckpoint,
    WorkflowStatus,
)
from workflows.services import engine
from workflows.tasks import run_platform_step
from workflows.writing import CRITERIA, DraftEvaluation, WrittenDraft

pytestmark = pytest.mark.django_db


class ScriptedAI:
    """Writes "Draft 1", "Draft 2", ... and scores them from `scores`; an exception in `scores` (or in
    `write_errors`) is raised instead. Records every brief and every scoring call."""

    def __init__(self, scores=(), write_errors=()):
        self.scores = list(scores)
        self.write_errors = list(write_errors)
        self.briefs = []
        self.scored = []

    def write(self, brief, *, backend=None):
        if self.write_errors:
            error = self.write_errors.pop(0)
            if error is not None:
                raise error
        self.briefs.append(brief)
        return WrittenDraft(
            content=f"Draft {len(self.briefs)}", model="scripted-model", backend="scripted", metadata={"n": 1}
        )

    def score(
        self, *, platform, content, style_samples=(), char_limit=None, options=None, backend=None, config=None
    ):
        self.scored.append(
            {
                "platform": platform,
                "content": content,
                "style_samples": tuple(style_samples),
                "char_limit": char_limit,
            }
        )
        score = self.scores.pop(0)
        if isinstance(score, Exception):
            raise score
        return DraftEvaluation(
            score=score,
            feedback=f"Feedback on {content}: make it punchier.",
            criteria_scores=dict.fromkeys(CRITERIA, score),
            evaluator="scripted:judge",
            metadata={},
        )


@pytest.fixture
def queued(monkeypatch):
    calls = mock.Mock()
    monkeypatch.setattr(engine, "async_task", calls)
    return calls


@pytest.fixture
def scripted(monkeypatch, queued):
    def install(**kwargs):
        ai = ScriptedAI(**kwargs)
        monkeypatch.setattr("workflows.writing.draft_write", ai.write)
        monkeypatch.setattr("workflows.writing.draft_score", ai.score)
        return ai

    return install


def drive(state, *, limit=20):
    """Run steps until the platform stops working (what the queued tasks would do)."""
    for _ in range(limit):
        engine.platform_step_run(state_id=state.pk)
        state.refresh_from_db()
        if state.status not in (PlatformStatus.PENDING, PlatformStatus.GENERATING, PlatformStatus.EVALUATING):
            return state
    raise AssertionError(f"still {state.status} after {limit} steps")


def expire_heartbeat(state):
    PlatformState.objects.filter(pk=state.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=301))


def pending_state(platform=Platform.LINKEDIN, **workflow):
    return PlatformStateFactory(workflow=WorkflowFactory(**workflow), platform=platform)


def checkpoints(state):
    return list(
        WorkflowCheckpoint.objects.filter(workflow=state.workflow, platform=state.platform).order_by(
            "sequence"
        )
    )


# --- the loop ----------------------------------------------------------------------------------


def test_60_then_80_ends_awaiting_review_at_iteration_1_with_the_feedback_in_the_second_prompt(scripted):
    ai = scripted(scores=[60, 80])
    state = drive(pending_state())

    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.iteration == 1
    drafts = list(Draft.objects.filter(workflow=state.workflow).order_by("created_at"))
    assert [d.content for d in drafts] == ["Draft 1", "Draft 2"]
    assert {d.source for d in drafts} == {DraftSource.AI}
    assert drafts[1].based_on == drafts[0]
    assert state.active_draft == drafts[1]
    evaluations = list(Evaluation.objects.order_by("created_at"))
    assert [(e.draft_id, e.score) for e in evaluations] == [(drafts[0].pk, 60), (drafts[1].pk, 80)]
    assert evaluations[0].criteria_scores == dict.fromkeys(CRITERIA, 60)
    assert evaluations[0].evaluator == "scripted:judge"
    # The second generation is written from the first draft and the evaluator's feedback on it.
    assert ai.briefs[0].previous_drafts == () and ai.briefs[0].feedback is None
    assert ai.briefs[1].previous_drafts == ("Draft 1",)
    assert ai.briefs[1].feedback == "Feedback on Draft 1: make it punchier."
    assert state.last_feedback == "Feedback on Draft 2: make it punchier."
    assert state.attempts == 0 and state.heartbeat_at is None
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.AWAITING_REVIEW


def test_three_low_scores_stop_at_the_cap(scripted):
    ai = scripted(scores=[40, 50, 55])
    state = drive(pending_state())

    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.iteration == 2
    assert Draft.objects.count() == 3
    assert Evaluation.objects.count() == 3
    assert ai.briefs[2].previous_drafts == ("Draft 1", "Draft 2")
    assert ai.briefs[2].feedback == "Feedback on Draft 2: make it punchier."
    assert not ai.scores


def test_checkpoints_snapshot_every_step_in_a_chain(scripted):
    scripted(scores=[60, 80])
    state = drive(pending_state())

    rows = checkpoints(state)
    assert [(c.sequence, c.step) for c in rows] == [
        (1, "generate"),
        (2, "evaluate"),
        (3, "generate"),
        (4, "evaluate"),
    ]
    assert [c.parent_id for c in rows] == [None, rows[0].pk, rows[1].pk, rows[2].pk]
    drafts = list(Draft.objects.order_by("created_at").values_list("pk", flat=True))
    last = rows[-1].state
    assert last["status"] == PlatformStatus.AWAITING_REVIEW
    assert last["iteration"] == 1
    assert last["active_draft_id"] == str(drafts[1])
    assert last["draft_ids"] == [str(d) for d in drafts]
    assert last["score"] == 80
    assert last["evaluation_id"] == str(Evaluation.objects.get(score=80).pk)
    assert rows[0].metadata["model"] == "scripted-model"
    assert rows[1].state["status"] == PlatformStatus.GENERATING and rows[1].state["iteration"] == 1


def test_threshold_and_max_iterations_come_from_system_config(scripted):
    config_set(key="workflow_score_threshold", value=90, value_type="int")
    scripted(scores=[85, 95])
    assert drive(pending_state()).iteration == 1

    config_set(key="workflow_max_iterations", value=1, value_type="int")
    scripted(scores=[10])
    state = drive(pending_state())
    assert (state.status, state.iteration) == (PlatformStatus.AWAITING_REVIEW, 0)


def test_each_step_queues_the_next_on_commit_until_review(
    scripted, queued, django_capture_on_commit_callbacks
):
    scripted(scores=[80])
    state = pending_state()
    with django_capture_on_commit_callbacks(execute=True):
        engine.platform_step_run(state_id=state.pk)
    # save=False: a step's success leaves no django-q2 record (its checkpoint is the record).
    assert queued.call_args_list == [
        mock.call(engine.RUN_TASK, str(state.pk), task_name=mock.ANY, group="workflows", save=False)
    ]

    with django_capture_on_commit_callbacks(execute=True):
        run_platform_step(str(state.pk))
    state.refresh_from_db()
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert queued.call_count == 1  # nothing left to queue


def test_the_task_runs_the_next_steps_itself_while_young_and_queues_nothing(
    scripted, queued, django_capture_on_commit_callbacks
):
    ai = scripted(scores=[60, 90])
    state = pending_state()
    with django_capture_on_commit_callbacks(execute=True):
        run_platform_step(str(state.pk))  # generate, evaluate (60), regenerate, evaluate (90)

    state.refresh_from_db()
    assert (state.status, state.iteration) == (PlatformStatus.AWAITING_REVIEW, 1)
    assert len(ai.briefs) == 2 and len(ai.scored) == 2
    assert queued.call_count == 0
    # Each step still claimed and committed on its own: one checkpoint per step, in sequence.
    assert [c.step for c in checkpoints(state)] == ["generate", "evaluate", "generate", "evaluate"]
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.AWAITING_REVIEW


def test_a_chained_step_is_claimed_by_the_commit_that_hands_it_on(scripted, queued, monkeypatch):
    # The evaluation after a draft starts from the generation's commit: no claim of its own, and
    # while it runs the platform is held (heartbeat, attempt 1), so no other delivery takes it.
    ai = scripted(scores=[90])
    state = pending_state()
    claims = []
    real_claim = engine._claim
    monkeypatch.setattr(engine, "_claim", lambda state_id: claims.append(state_id) or real_claim(state_id))
    held = []
    real_score = ai.score

    def score(**kwargs):
        held.append(PlatformState.objects.values_list("status", "attempts", "heartbeat_at").get(pk=state.pk))
        assert engine._claim(state.pk) is None  # a second delivery meanwhile claims nothing
        return real_score(**kwargs)

    monkeypatch.setattr("workflows.writing.draft_score", score)
    engine.platform_step_run(state_id=state.pk, chain_seconds=30)

    assert len(claims) == 2  # the chain's first step, and the second delivery above
    ((status, attempts, heartbeat),) = held
    assert (status, attempts) == (PlatformStatus.EVALUATING, 1) and heartbeat is not None
    state.refresh_from_db()
    assert (state.status, state.attempts, state.heartbeat_at) == (PlatformStatus.AWAITING_REVIEW, 0, None)
    assert [c.step for c in checkpoints(state)] == ["generate", "evaluate"]


@override_settings(WORKFLOW_STEP_CHAIN_SECONDS=0)
def test_a_task_past_its_chain_time_queues_the_next_step(
    scripted, queued, django_capture_on_commit_callbacks
):
    scripted(scores=[90])
    state = pending_state()
    with django_capture_on_commit_callbacks(execute=True):
        run_platform_step(str(state.pk))

    state.refresh_from_db()
    assert state.status == PlatformStatus.EVALUATING
    assert queued.call_count == 1


def test_a_chain_stops_at_a_step_that_did_not_commit(scripted, queued, monkeypatch):
    scripted(scores=[90])
    state = pending_state()
    real = engine._locked_if_current
    monkeypatch.setattr(engine, "_locked_if_current", lambda claim: None)  # every commit discarded
    engine.platform_step_run(state_id=state.pk, chain_seconds=30)
    monkeypatch.setattr(engine, "_locked_if_current", real)

    assert not Draft.objects.exists()
    assert queued.call_count == 0


def test_a_generation_does_not_refresh_the_workflow_status(scripted, monkeypatch):
    scripted(scores=[90])
    state = pending_state()
    refreshes = []
    real = engine.workflow_refresh_status_by_id
    monkeypatch.setattr(
        engine, "workflow_refresh_status_by_id", lambda **kw: refreshes.append(kw) or real(**kw)
    )
    engine.platform_step_run(state_id=state.pk)  # generate: working -> working
    assert refreshes == []
    engine.platform_step_run(state_id=state.pk)  # evaluate: awaiting review
    assert refreshes == [{"workflow_id": state.workflow_id}]
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.AWAITING_REVIEW


def test_platforms_run_independently(scripted):
    scripted(scores=[90, 90])
    workflow = WorkflowFactory()
    x = PlatformStateFactory(workflow=workflow, platform=Platform.X)
    blog = PlatformStateFactory(workflow=workflow, platform=Platform.BLOG)

    engine.platform_step_run(state_id=x.pk)
    engine.platform_step_run(state_id=blog.pk)
    engine.platform_step_run(state_id=x.pk)
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING  # the blog still evaluates
    engine.platform_step_run(state_id=blog.pk)

    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    assert set(Draft.objects.values_list("platform", flat=True)) == {"x", "blog"}
    assert [c.sequence for c in checkpoints(x)] == [1, 2]
    assert [c.sequence for c in checkpoints(blog)] == [1, 2]


# --- what the writer is given -------------------------------------------------------------------


def test_the_brief_carries_source_options_and_the_users_newest_style_samples(scripted):
    ai = scripted(scores=[90])
    user = UserFactory()
    samples = [ResourceFactory(user=user, content=f"sample {i}") for i in range(7)]
    ResourceFactory(user=user, type=ResourceType.REFERENCE, content="a reference")
    ResourceFactory(content="someone else's sample")
    state = pending_state(
        user=user,
        source_content={
            "text": "Source text",
            "title": "Title",
            "urls": ["https://example.com"],
            "resource_ids": [],
        },
        manual_options={"tone": "dry", "length": "short"},
    )
    drive(state)

    brief = ai.briefs[0]
    assert brief.platform == Platform.LINKEDIN
    assert (brief.source.text, brief.source.title, brief.source.urls) == (
        "Source text",
        "Title",
        ("https://example.com",),
    )
    assert brief.options == {"tone": "dry", "length": "short"}
    assert set(brief.style_samples) == {s.content for s in samples[2:]}
    assert brief.references == ()
    assert brief.char_limit is None
    assert set(ai.scored[0]["style_samples"]) == set(brief.style_samples)


def test_chosen_resources_replace_the_default_style_samples(scripted):
    ai = scripted(scores=[90])
    user = UserFactory()
    ResourceFactory(user=user, content="not chosen")
    sample = ResourceFactory(user=user, content="chosen sample")
    reference = ResourceFactory(user=user, type=ResourceType.REFERENCE, content="chosen reference")
    image = ResourceFactory(user=user, type=ResourceType.IMAGE, content="a red bicycle")
    gone = "00000000-0000-0000-0000-000000000000"  # deleted since: skipped
    ids = [str(sample.pk), str(reference.pk), str(image.pk), gone]
    drive(pending_state(user=user, source_content={"text": "Source", "resource_ids": ids}))

    assert ai.briefs[0].style_samples == ("chosen sample",)
    assert set(ai.briefs[0].references) == {"chosen reference", "Image: a red bicycle"}


def test_mastodon_gets_the_instance_limit_of_the_users_default_mastodon_connection(scripted):
    ai = scripted(scores=[90, 90])
    user = UserFactory()
    PlatformConnectionFactory(user=user, extra={"max_characters": 1000})
    PlatformConnectionFactory(user=user, is_default=True, extra={"max_characters": 5000})
    PlatformConnectionFactory(user=user, is_active=False, extra={"max_characters": 9000})
    drive(pending_state(platform=Platform.MASTODON, user=user))
    assert ai.briefs[0].char_limit == 5000
    assert ai.scored[0]["char_limit"] == 5000

    other = UserFactory()
    PlatformConnectionFactory(user=other, extra={})
    drive(pending_state(platform=Platform.MASTODON, user=other))
    assert ai.briefs[1].char_limit is None


# --- claims ------------------------------------------------------------------------------------


def test_a_second_delivery_while_the_first_is_alive_does_nothing(scripted):
    ai = scripted(scores=[90])
    state = pending_state()
    PlatformState.objects.filter(pk=state.pk).update(
        status=PlatformStatus.GENERATING, heartbeat_at=timezone.now()
    )

    engine.platform_step_run(state_id=state.pk)

    assert not ai.briefs
    state.refresh_from_db()
    assert state.attempts == 0
    assert not Draft.objects.exists()


def test_a_claim_older_than_the_step_timeout_is_taken_over(scripted):
    scripted(scores=[90])
    state = pending_state()
    PlatformState.objects.filter(pk=state.pk).update(
        status=PlatformStatus.GENERATING, heartbeat_at=timezone.now() - timedelta(seconds=61), attempts=1
    )
    with override_settings(WORKFLOW_STEP_TIMEOUT=120):
        engine.platform_step_run(state_id=state.pk)
        assert not Draft.objects.exists()
    with override_settings(WORKFLOW_STEP_TIMEOUT=60):
        engine.platform_step_run(state_id=state.pk)
    assert Draft.objects.count() == 1


def test_a_claim_is_one_statement_that_returns_the_latest_checkpoint_sequence(django_assert_num_queries):
    workflow = WorkflowFactory()
    state = PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.EVALUATING)
    for sequence in (1, 2):
        WorkflowCheckpoint.objects.create(
            workflow=workflow, platform=Platform.X, step="generate", sequence=sequence, state={}
        )
    # Another platform's checkpoints of the same workflow are not this one's.
    WorkflowCheckpoint.objects.create(
        workflow=workflow, platform=Platform.LINKEDIN, step="x", sequence=7, state={}
    )

    with django_assert_num_queries(1):
        claim = engine._claim(str(state.pk))

    assert (claim.state_id, claim.workflow_id, claim.platform) == (state.pk, workflow.pk, Platform.X)
    assert (claim.status, claim.attempts, claim.base_sequence) == (PlatformStatus.EVALUATING, 1, 2)
    state.refresh_from_db()
    assert (state.status, state.attempts) == (PlatformStatus.EVALUATING, 1) and state.heartbeat_at is not None
    assert engine._claim(state.pk) is None  # held by a live claim now


def test_a_pending_platform_is_claimed_as_generating_from_sequence_zero():
    state = pending_state()
    claim = engine._claim(state.pk)
    assert (claim.status, claim.attempts, claim.base_sequence) == (PlatformStatus.GENERATING, 1, 0)
    state.refresh_from_db()
    assert state.status == PlatformStatus.GENERATING


def test_the_commit_reads_the_state_its_workflow_status_and_latest_checkpoint_in_one_statement(
    django_assert_num_queries,
):
    workflow = WorkflowFactory()
    state = PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.EVALUATING)
    first = WorkflowCheckpoint.objects.create(
        workflow=workflow, platform=Platform.X, step="generate", sequence=1, state={"draft_ids": ["a"]}
    )
    latest = WorkflowCheckpoint.objects.create(
        workflow=workflow,
        platform=Platform.X,
        step="evaluate",
        sequence=2,
        state={"draft_ids": ["a", "b"], "score": 61, "text": "line one\nline two"},
        parent=first,
    )
    claim = engine._claim(state.pk)

    with django_assert_num_queries(1):
        locked, previous = engine._locked_if_current(claim)

    assert locked.pk == state.pk and locked.status == PlatformStatus.EVALUATING and locked.attempts == 1
    assert (previous.pk, previous.sequence, previous.state) == (latest.pk, 2, latest.state)

    WorkflowCheckpoint.objects.create(workflow=workflow, platform=Platform.X, step="x", sequence=3, state={})
    assert engine._locked_if_current(claim) is None  # moved on since the claim


@pytest.mark.parametrize("status", [WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED])
def test_a_cancelled_or_archived_workflow_is_left_alone(scripted, status):
    ai = scripted(scores=[90])
    state = pending_state(status=status)
    engine.platform_step_run(state_id=state.pk)
    assert not ai.briefs
    state.refresh_from_db()
    assert (state.status, state.attempts) == (PlatformStatus.PENDING, 0)


@pytest.mark.parametrize(
    "status", [PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED, PlatformStatus.FAILED]
)
def test_a_platform_that_is_not_working_is_left_alone(scripted, status):
    ai = scripted(scores=[90])
    state = PlatformStateFactory(status=status)
    engine.platform_step_run(state_id=state.pk)
    engine.platform_step_run(state_id="00000000-0000-0000-0000-000000000000")
    assert not ai.briefs and not ai.scored
    state.refresh_from_db()
    assert state.status == status


def test_the_ai_is_called_outside_any_transaction(monkeypatch, queued, transactional_db):
    seen = []

    def write(brief, *, backend=None):
        seen.append(connection.in_atomic_block)
        return WrittenDraft(content="Draft", model="m", backend="b", metadata={})

    def score(**kwargs):
        seen.append(connection.in_atomic_block)
        return DraftEvaluation(score=90, feedback="", criteria_scores={}, evaluator="e", metadata={})

    monkeypatch.setattr("workflows.writing.draft_write", write)
    monkeypatch.setattr("workflows.writing.draft_score", score)
    state = drive(pending_state())
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert seen == [False, False]


# --- a killed worker resumes from the checkpoint -------------------------------------------------


def test_a_worker_killed_mid_step_resumes_from_the_checkpoint_without_duplicate_drafts(scripted, monkeypatch):
    ai = scripted(scores=[60, 80])
    state = pending_state()
    engine.platform_step_run(state_id=state.pk)  # generate: Draft 1
    engine.platform_step_run(state_id=state.pk)  # evaluate: 60 -> regenerate

    # The worker dies while writing the second draft's step: the checkpoint insert blows up.
    real_create = WorkflowCheckpoint.objects.create
    kills = []

    def dying_create(**kwargs):
        if not kills:
            kills.append(kwargs["sequence"])
            raise RuntimeError("worker killed")
        return real_create(**kwargs)

    monkeypatch.setattr(WorkflowCheckpoint.objects, "create", dying_create)
    with pytest.raises(RuntimeError):
        engine.platform_step_run(state_id=state.pk)

    # Nothing of the lost step was written: the database is at the last checkpoint.
    state.refresh_from_db()
    assert kills == [3]
    assert Draft.objects.count() == 1
    assert [c.sequence for c in checkpoints(state)] == [1, 2]
    assert state.status == PlatformStatus.GENERATING and state.iteration == 1
    assert state.heartbeat_at is not None  # the dead worker's claim

    engine.platform_step_run(state_id=state.pk)  # a redelivery while the claim looks alive: nothing
    assert Draft.objects.count() == 1

    expire_heartbeat(state)
    state = drive(state)

    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.iteration == 1
    # The AI wrote three times (the killed step's draft was lost with it); two drafts were stored.
    assert len(ai.briefs) == 3
    assert list(Draft.objects.order_by("created_at").values_list("content", flat=True)) == [
        "Draft 1",
        "Draft 3",
    ]
    assert ai.briefs[2].previous_drafts == ("Draft 1",)
    assert Evaluation.objects.count() == 2
    assert [c.sequence for c in checkpoints(state)] == [1, 2, 3, 4]


def test_an_unexpected_error_in_the_writer_propagates_and_writes_nothing(scripted):
    ai = scripted(scores=[90], write_errors=[RuntimeError("bug")])
    state = pending_state()
    with pytest.raises(RuntimeError):
        engine.platform_step_run(state_id=state.pk)
    assert not Draft.objects.exists() and not WorkflowCheckpoint.objects.exists()

    expire_heartbeat(state)
    state = drive(state)
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert len(ai.briefs) == 1 and Draft.objects.count() == 1


def test_a_step_finished_by_another_worker_meanwhile_is_discarded(scripted, monkeypatch):
    ai = scripted(scores=[90])
    state = pending_state()

    def slow_write(brief, *, backend=None):
        # While this worker waits on the AI, its claim expires and another worker finishes the step.
        WorkflowCheckpoint.objects.create(
            workflow=state.workflow, platform=state.platform, step="generate", sequence=1, state={}
        )
        return ai.write(brief)

    monkeypatch.setattr("workflows.writing.draft_write", slow_write)
    engine.platform_step_run(state_id=state.pk)

    assert not Draft.objects.exists()
    assert WorkflowCheckpoint.objects.count() == 1


def test_a_racing_duplicate_checkpoint_rolls_the_whole_step_back(scripted, monkeypatch):
    scripted(scores=[90])
    state = pending_state()
    real = engine._locked_if_current

    def racing(claim):
        locked = real(claim)
        # Another worker's insert of the same sequence lands between our check and our insert.
        WorkflowCheckpoint.objects.create(
            workflow_id=claim.workflow_id, platform=claim.platform, step="generate", sequence=1, state={}
        )
        return locked

    monkeypatch.setattr(engine, "_locked_if_current", racing)
    engine.platform_step_run(state_id=state.pk)  # no exception: discarded quietly

    assert not Draft.objects.exists()
    assert not WorkflowCheckpoint.objects.exists()  # rolled back together with the step


def test_the_unique_sequence_is_what_stops_a_duplicate():
    checkpoint = WorkflowCheckpoint.objects.create(
        workflow=WorkflowFactory(), platform=Platform.X, step="generate", sequence=1, state={}
    )
    with pytest.raises(IntegrityError):
        WorkflowCheckpoint.objects.create(
            workflow=checkpoint.workflow, platform=Platform.X, step="generate", sequence=1, state={}
        )


# --- failures ----------------------------------------------------------------------------------


def test_a_transient_ai_failure_is_retried_after_a_backoff(scripted):
    ai = scripted(scores=[90], write_errors=[AIUnavailable("ai.example answered 503", status=503)])
    state = pending_state()

    engine.platform_step_run(state_id=state.pk)

    state.refresh_from_db()
    assert state.status == PlatformStatus.GENERATING
    assert state.heartbeat_at is None and state.attempts == 1
    assert "Attempt 1 of 3" in state.error_message and "503" in state.error_message
    schedule = Schedule.objects.get()
    assert schedule.func == engine.RUN_TASK
    assert schedule.args == repr(str(state.pk))
    assert schedule.schedule_type == Schedule.ONCE
    delay = (schedule.next_run - timezone.now()).total_seconds()
    assert 25 <= delay <= 30
    assert not Draft.objects.exists()

    state = drive(state)  # the scheduled retry
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.error_message is None and state.attempts == 0
    assert len(ai.briefs) == 1


def test_retry_after_is_honoured_and_backoff_grows():
    assert engine.retry_delay(attempt=1, retry_after=7) == 7
    assert engine.retry_delay(attempt=1, retry_after=None) == 30
    assert engine.retry_delay(attempt=2, retry_after=None) == 60
    assert engine.retry_delay(attempt=9, retry_after=None) == engine.BACKOFF_MAX_SECONDS
    with override_settings(WORKFLOW_STEP_TIMEOUT=45):
        assert engine.retry_delay(attempt=3, retry_after=None) == 45


def test_transient_failures_fail_the_platform_once_attempts_are_used_up(scripted):
    scripted(scores=[AIUnavailable("ai.example timed out")] * 3)
    state = pending_state()
    engine.platform_step_run(state_id=state.pk)  # generate works
    for _ in range(3):
        engine.platform_step_run(state_id=state.pk)

    state.refresh_from_db()
    assert state.status == PlatformStatus.FAILED
    assert "stayed unavailable after 3 attempts" in state.error_message
    assert Schedule.objects.count() == 2
    assert checkpoints(state)[-1].step == "failed"
    log = AuditLog.objects.get(action="workflow.platform_failed")
    assert log.details["platform"] == Platform.LINKEDIN and log.details["step"] == "evaluate"
    state.workflow.refresh_from_db()
    assert state.workflow.status == WorkflowStatus.FAILED
    assert "linkedin: The AI stayed unavailable" in state.workflow.error_message


@pytest.mark.parametrize(
    "error", [AIRefused("The model refused."), AIError("Model llama9 is not installed.")]
)
def test_a_refusal_or_configuration_error_fails_the_platform_at_once(scripted, error):
    ai = scripted(scores=[90], write_errors=[error])
    workflow = WorkflowFactory()
    failing = PlatformStateFactory(workflow=workflow, platform=Platform.X)
    other = PlatformStateFactory(workflow=workflow, platform=Platform.BLOG)

    engine.platform_step_run(state_id=failing.pk)

    failing.refresh_from_db()
    assert failing.status == PlatformStatus.FAILED
    assert failing.error_message == f"The AI could not write the draft: {error}"
    assert not Schedule.objects.exists()
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.RUNNING  # the blog still has work

    drive(other)
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    assert len(ai.briefs) == 1


def test_a_failure_message_carries_no_secret(scripted):
    with override_settings(AI_API_KEY="sk-very-secret"):
        scripted(write_errors=[AIError("ai.example rejected the API key (HTTP 401)", status=401)])
        state = pending_state()
        engine.platform_step_run(state_id=state.pk)
    state.refresh_from_db()
    assert "sk-very-secret" not in state.error_message
    assert "sk-very-secret" not in str(AuditLog.objects.get(action="workflow.platform_failed").details)


# --- the reaper --------------------------------------------------------------------------------


def test_the_reaper_queues_stalled_steps_and_fails_exhausted_ones(queued):
    stale = timezone.now() - timedelta(seconds=400)
    stalled = PlatformStateFactory(status=PlatformStatus.GENERATING, heartbeat_at=stale, attempts=1)
    lost = PlatformStateFactory(status=PlatformStatus.PENDING)
    PlatformState.objects.filter(pk=lost.pk).update(updated_at=stale)
    exhausted = PlatformStateFactory(status=PlatformStatus.EVALUATING, heartbeat_at=stale, attempts=3)
    alive = PlatformStateFactory(status=PlatformStatus.GENERATING, heartbeat_at=timezone.now(), attempts=1)
    cancelled = PlatformStateFactory(
        workflow=WorkflowFactory(status=WorkflowStatus.CANCELLED),
        status=PlatformStatus.GENERATING,
        heartbeat_at=stale,
    )

    assert engine.platform_steps_resume_stale() == 3

    assert sorted(call.args[1] for call in queued.call_args_list) == sorted([str(stalled.pk), str(lost.pk)])
    exhausted.refresh_from_db()
    assert exhausted.status == PlatformStatus.FAILED
    assert "3 times" in exhausted.error_message
    for untouched in (alive, cancelled):
        untouched.refresh_from_db()
        assert untouched.status == PlatformStatus.GENERATING

    queued.reset_mock()
    assert engine.platform_steps_resume_stale() == 1  # only the one with the stale heartbeat again
    assert queued.call_args.args[1] == str(stalled.pk)


def test_an_evaluating_platform_without_a_draft_fails_clearly(scripted):
    scripted(scores=[90])
    state = PlatformStateFactory(status=PlatformStatus.EVALUATING)
    engine.platform_step_run(state_id=state.pk)
    state.refresh_from_db()
    assert state.status == PlatformStatus.FAILED
    assert state.error_message == "There is no draft to evaluate."


def test_regeneration_after_a_human_draft_starts_from_it(scripted):
    ai = scripted(scores=[90])
    workflow = WorkflowFactory()
    human = DraftFactory(
        workflow=workflow, platform=Platform.X, source=DraftSource.HUMAN, content="Human words"
    )
    state = PlatformStateFactory(
        workflow=workflow, platform=Platform.X, active_draft=human, last_feedback="Shorter, please."
    )
    drive(state)
    assert ai.briefs[0].previous_drafts == ("Human words",)
    assert ai.briefs[0].feedback == "Shorter, please."
    assert Draft.objects.get(source=DraftSource.AI).based_on == human


def test_stalled_steps_are_taken_back_by_the_reaper():
    reaper = next(r for r in reapers() if r.name == "workflows.platform_steps")
    assert reaper.run is engine.platform_steps_resume_stale
