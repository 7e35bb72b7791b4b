"""The workflow's status follows from its platforms; this is the one place that derives and writes it.

Rules: `running` while any platform is pending, generating or evaluating; otherwise
`awaiting_review` while any awaits review; `completed` when every platform is accepted, rejected or
published; `failed` when nothing is left to do and a platform failed (the workflow's
`error_message` then names the failed platforms and why). `cancelled` is a user's decision and
`archived` the archive command's; a refresh never leaves either.
"""

from django.db import transaction
from django.utils import timezone

from workflows.models import PlatformState, PlatformStatus, Workflow, WorkflowStatus

WORKING = frozenset({PlatformStatus.PENDING, PlatformStatus.GENERATING, PlatformStatus.EVALUATING})
SETTLED = frozenset({PlatformStatus.ACCEPTED, PlatformStatus.REJECTED, PlatformStatus.PUBLISHED})
# A refresh never moves a workflow out of these: someone decided them, not the platforms.
STICKY = frozenset({WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED})


def derived_status(platform_statuses: list[str]) -> str | None:
    """The status the platforms imply, or None when there are no platforms."""
    statuses = set(platform_statuses)
    if not statuses:
        return None
    if statuses & WORKING:
        return WorkflowStatus.RUNNING
    if PlatformStatus.AWAITING_REVIEW in statuses:
        return WorkflowStatus.AWAITING_REVIEW
    if statuses <= SETTLED:
        return WorkflowStatus.COMPLETED
    if PlatformStatus.FAILED in statuses:
        return WorkflowStatus.FAILED
    return None


def workflow_refresh_status(*, workflow: Workflow) -> Workflow:
    """Re-derive and save the workflow's status from its platform states (under a row lock)."""
    return workflow_refresh_status_by_id(workflow_id=workflow.pk)


def workflow_refresh_status_by_id(*, workflow_id) -> Workflow:
    """`workflow_refresh_status` for a caller that holds only the id (the engine's step commit):
    no query to load the workflow first, the locking read is the only one."""
    # No savepoint: nothing in here is caught and retried, so inside a caller's transaction a
    # failure rolls the caller back either way; two round trips per refresh saved.
    with transaction.atomic(savepoint=False):
        # The two columns a refresh reads and writes; the states are read once the lock is held,
        # so that a platform committed by a transaction this one waited for is seen.
        locked = Workflow.objects.select_for_update().only("status", "error_message").get(pk=workflow_id)
        if locked.status in STICKY:
            return locked
        states = list(
            PlatformState.objects.filter(workflow_id=workflow_id).values_list(
                "platform", "status", "error_message"
            )
        )
        target = derived_status([status for _, status, _ in states])
        error = _failure_summary(states) if target == WorkflowStatus.FAILED else None
        if target is None or (target == locked.status and error == locked.error_message):
            return locked
        now = timezone.now()
        locked.status = target
        locked.error_message = error
        locked.completed_at = now if target == WorkflowStatus.COMPLETED else None
        # updated_at is auto_now: save() stamps it.
        locked.save(update_fields=["status", "error_message", "completed_at", "updated_at"])
    return locked


def _failure_summary(states: list[tuple[str, str, str | None]]) -> str:
    failed = [
        f"{platform}: {error or 'failed without a recorded reason'}"
        for platform, status, error in states
        if status == PlatformStatus.FAILED
    ]
    return "; ".join(failed)
