from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories.workflows import AcceptedPlatformStateFactory, WorkflowFactory
from workflows.models import Workflow, WorkflowStatus
from workflows.services.archive import workflows_archivable_count, workflows_archive_batch
from workflows.services.status import workflow_refresh_status

pytestmark = pytest.mark.django_db


def workflow(*, status: str, idle_days: float) -> Workflow:
    row = WorkflowFactory(status=status)
    # updated_at is auto_now on save, so age it with a bulk update.
    Workflow.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(days=idle_days))
    return row


def statuses() -> dict:
    return dict(Workflow.objects.values_list("pk", "status"))


def test_only_completed_workflows_idle_past_the_cutoff_are_archived():
    cutoff = timezone.now() - timedelta(days=90)
    old = [workflow(status=WorkflowStatus.COMPLETED, idle_days=91 + n) for n in range(3)]
    recent = workflow(status=WorkflowStatus.COMPLETED, idle_days=89)
    others = [
        workflow(status=status, idle_days=200)
        for status in (WorkflowStatus.RUNNING, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED)
    ]
    before = statuses()

    assert workflows_archivable_count(older_than=cutoff) == 3
    assert workflows_archive_batch(older_than=cutoff, batch_size=10) == 3

    after = statuses()
    assert {after[w.pk] for w in old} == {WorkflowStatus.ARCHIVED}
    assert after[recent.pk] == WorkflowStatus.COMPLETED
    assert all(after[w.pk] == before[w.pk] for w in others)
    assert workflows_archivable_count(older_than=cutoff) == 0


def test_batches_are_bounded_and_lowest_keys_go_first():
    cutoff = timezone.now() - timedelta(days=90)
    rows = [workflow(status=WorkflowStatus.COMPLETED, idle_days=100) for _ in range(5)]
    lowest = sorted(str(w.pk) for w in rows)[:2]

    assert workflows_archive_batch(older_than=cutoff, batch_size=2) == 2
    archived = Workflow.objects.filter(status=WorkflowStatus.ARCHIVED).values_list("pk", flat=True)
    assert sorted(str(pk) for pk in archived) == lowest
    assert workflows_archive_batch(older_than=cutoff, batch_size=2) == 2
    assert workflows_archive_batch(older_than=cutoff, batch_size=2) == 1
    assert workflows_archive_batch(older_than=cutoff, batch_size=2) == 0
    assert Workflow.objects.filter(status=WorkflowStatus.ARCHIVED).count() == 5


def test_archiving_sets_updated_at_and_keeps_completed_at():
    cutoff = timezone.now() - timedelta(days=90)
    row = workflow(status=WorkflowStatus.COMPLETED, idle_days=120)
    completed_at = timezone.now() - timedelta(days=121)
    Workflow.objects.filter(pk=row.pk).update(completed_at=completed_at)
    started = timezone.now()

    workflows_archive_batch(older_than=cutoff, batch_size=10)

    row.refresh_from_db()
    assert row.status == WorkflowStatus.ARCHIVED
    assert row.updated_at >= started
    assert row.completed_at == completed_at


def test_an_archived_workflow_stays_archived_on_refresh():
    cutoff = timezone.now() - timedelta(days=90)
    row = workflow(status=WorkflowStatus.COMPLETED, idle_days=120)
    AcceptedPlatformStateFactory(workflow=row)
    workflows_archive_batch(older_than=cutoff, batch_size=10)

    refreshed = workflow_refresh_status(workflow=row)

    assert refreshed.status == WorkflowStatus.ARCHIVED


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError):
        workflows_archive_batch(older_than=timezone.now(), batch_size=0)
