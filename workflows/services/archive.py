"""Archiving completed workflows that nobody has touched for a while (`manage.py archive`).

`archived` is sticky (workflows.services.status): once set, a status refresh never moves the
workflow back. Only `completed` workflows qualify; failed and cancelled ones are left for the
cleanup policies. One set-based UPDATE per batch, never per-row Python; the batch is the lowest
primary keys among the qualifying rows, found through the (status, updated_at) index.
"""

from datetime import datetime

from django.db.models import Subquery
from django.utils import timezone

from workflows.models import Workflow, WorkflowStatus


def _archivable(*, older_than: datetime):
    return Workflow.objects.filter(status=WorkflowStatus.COMPLETED, updated_at__lt=older_than)


def workflows_archivable_count(*, older_than: datetime) -> int:
    """How many completed workflows were last updated before `older_than`."""
    return _archivable(older_than=older_than).count()


def workflows_archive_batch(*, older_than: datetime, batch_size: int) -> int:
    """Move up to `batch_size` completed workflows idle since before `older_than` to `archived`.

    Returns the number archived; fewer than `batch_size` means none are left. The outer filter
    repeats the conditions so a workflow that changed status between the subquery and the update
    (a concurrent refresh) is not archived.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    batch = _archivable(older_than=older_than).order_by("pk").values("pk")[:batch_size]
    return (
        _archivable(older_than=older_than)
        .filter(pk__in=Subquery(batch))
        .update(status=WorkflowStatus.ARCHIVED, updated_at=timezone.now())
    )
