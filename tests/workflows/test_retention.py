import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.retention import policy_run
from tests.factories.workflows import WorkflowCheckpointFactory, WorkflowFactory
from workflows.models import Workflow, WorkflowCheckpoint, WorkflowStatus

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _workflow(status, days_idle):
    workflow = WorkflowFactory(status=status)
    Workflow.objects.filter(pk=workflow.pk).update(updated_at=NOW - timedelta(days=days_idle))
    return workflow


@pytest.mark.parametrize(
    "status",
    [WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED, WorkflowStatus.FAILED, WorkflowStatus.ARCHIVED],
)
def test_checkpoints_of_finished_workflows_go(status):
    finished = _workflow(status, days_idle=8)
    first = WorkflowCheckpointFactory(workflow=finished)
    WorkflowCheckpointFactory(workflow=finished, parent=first)
    recent = WorkflowCheckpointFactory(workflow=_workflow(status, days_idle=6))

    assert policy_run(name="workflows.checkpoints", now=NOW).rows == 2
    assert set(WorkflowCheckpoint.objects.values_list("pk", flat=True)) == {recent.pk}


@pytest.mark.parametrize("status", [WorkflowStatus.RUNNING, WorkflowStatus.AWAITING_REVIEW])
def test_checkpoints_of_unfinished_workflows_stay(status):
    checkpoint = WorkflowCheckpointFactory(workflow=_workflow(status, days_idle=400))

    assert policy_run(name="workflows.checkpoints", now=NOW).rows == 0
    assert WorkflowCheckpoint.objects.filter(pk=checkpoint.pk).exists()


def test_checkpoints_across_batches_unlink_their_children():
    """Each batch commits on its own: a parent deleted before its child must not leave a dangling key."""
    finished = _workflow(WorkflowStatus.COMPLETED, days_idle=30)
    parent = None
    for index in range(1, 6):  # keys ascending along the chain: every batch boundary splits it
        parent = WorkflowCheckpointFactory(id=uuid.UUID(int=index), workflow=finished, parent=parent)

    def check(_rows):
        connection.check_constraints()  # foreign keys are deferred: check what each batch leaves

    assert policy_run(name="workflows.checkpoints", now=NOW, batch_size=2, progress=check).rows == 5
    assert not WorkflowCheckpoint.objects.exists()
