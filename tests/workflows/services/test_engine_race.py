"""Racing deliveries of the same engine step (PostgreSQL: real row locks and concurrent
transactions). Each thread has its own database connection and closes it when done."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connections
from django.utils import timezone

from tests.factories.workflows import DraftFactory, PlatformStateFactory, WorkflowFactory
from workflows.models import Draft, Evaluation, Platform, PlatformState, PlatformStatus, WorkflowCheckpoint
from workflows.services import engine
from workflows.writing import CRITERIA, DraftEvaluation, WrittenDraft

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 8


def in_threads(count, target):
    barrier = threading.Barrier(count)
    errors = []

    def run():
        try:
            barrier.wait()
            target()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def passing_evaluation():
    return DraftEvaluation(
        score=90, feedback="Fine.", criteria_scores=dict.fromkeys(CRITERIA, 90), evaluator="e", metadata={}
    )


def test_concurrent_deliveries_claim_once_and_write_one_draft(monkeypatch):
    monkeypatch.setattr(engine, "async_task", mock.Mock())
    calls = []
    lock = threading.Lock()

    def write(brief, *, backend=None):
        with lock:
            calls.append(brief)
        return WrittenDraft(content="Draft", model="m", backend="b", metadata={})

    def score(**kwargs):
        with lock:
            scores.append(kwargs["content"])
        return passing_evaluation()

    scores = []
    monkeypatch.setattr("workflows.writing.draft_write", write)
    monkeypatch.setattr("workflows.writing.draft_score", score)
    state = PlatformStateFactory()

    in_threads(WORKERS, lambda: engine.platform_step_run(state_id=state.pk))

    assert len(calls) == 1
    assert Draft.objects.count() == 1
    # A delivery that starts after the draft is written runs the step that is next by then, the
    # evaluation, exactly as the queued successor would have; it never writes a second draft.
    assert len(scores) <= 1
    assert Evaluation.objects.count() == len(scores)
    state.refresh_from_db()
    expected = PlatformStatus.AWAITING_REVIEW if scores else PlatformStatus.EVALUATING
    assert (state.status, state.attempts) == (expected, 0)


def test_a_step_taken_over_from_a_slow_worker_is_stored_once(monkeypatch):
    """The first worker's claim expires while it waits on the AI; a second worker (another thread,
    another connection) takes the step over and finishes it; the first one's result is discarded."""
    monkeypatch.setattr(engine, "async_task", mock.Mock())
    calls = []

    def score(**kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            PlatformState.objects.filter(pk=state.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
            in_threads(1, lambda: engine.platform_step_run(state_id=state.pk))
        return passing_evaluation()

    monkeypatch.setattr("workflows.writing.draft_score", score)
    workflow = WorkflowFactory()
    draft = DraftFactory(workflow=workflow, platform=Platform.LINKEDIN)
    state = PlatformStateFactory(workflow=workflow, status=PlatformStatus.EVALUATING, active_draft=draft)

    in_threads(1, lambda: engine.platform_step_run(state_id=state.pk))

    assert len(calls) == 2
    state.refresh_from_db()
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert Evaluation.objects.filter(draft=draft).count() == 1
    assert list(WorkflowCheckpoint.objects.values_list("sequence", flat=True)) == [1]
