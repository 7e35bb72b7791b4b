"""Retention policies of the workflows app (run by `manage.py cleanup`, see core.retention)."""

from datetime import timedelta

from django.db.models import QuerySet

from core.retention import RetentionPolicy
from workflows.models import WorkflowCheckpoint, WorkflowStatus

FINISHED = [
    WorkflowStatus.COMPLETED,
    WorkflowStatus.CANCELLED,
    WorkflowStatus.FAILED,
    WorkflowStatus.ARCHIVED,
]


def _checkpoints(*, now, age):
    # A finished workflow never resumes; the grace period leaves time to inspect a failure.
    return WorkflowCheckpoint.objects.filter(
        workflow__status__in=FINISHED, workflow__updated_at__lt=now - timedelta(days=age)
    )


def _unlink_children(batch: QuerySet) -> None:
    # WorkflowCheckpoint.parent is SET_NULL onto itself: one UPDATE instead of Django's collector.
    WorkflowCheckpoint.objects.filter(parent__in=batch.values("pk")).update(parent=None)


POLICIES = [
    RetentionPolicy(
        name="workflows.checkpoints",
        description="checkpoints of workflows finished more than RETENTION_CHECKPOINT_DAYS ago",
        rows=_checkpoints,
        setting="RETENTION_CHECKPOINT_DAYS",
        default=7,
        before_delete=_unlink_children,
        raw=True,
    ),
]
