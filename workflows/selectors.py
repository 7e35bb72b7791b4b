"""Reads of the workflows app, scoped to what the caller may see (owners; moderators and admins see all).

Workflows with their platform states, drafts and evaluations are the draft review queue: reviewers
read everyone's (`reviewable_by`) and review any, but cancel, publish and manage only their own
(`workflow_owned`, `publishing_job_list`, `resource_list`); docs/roles.md.

Query counts are fixed per page: a workflow's platform states come with their active draft in one
query, and the newest evaluation of every active draft in one more.
"""

from datetime import datetime

from django.db.models import Count, DateTimeField, F, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce

from accounts.selectors import reviewable_by, visible_to
from workflows.models import (
    AltTextStatus,
    Draft,
    Evaluation,
    MediaAttachment,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Resource,
    Workflow,
    WorkflowStatus,
)

NEWEST_EVALUATIONS = "newest_evaluations"


def _evaluations_newest_first() -> QuerySet[Evaluation]:
    return Evaluation.objects.order_by("-created_at", "-id")


def workflow_list(*, user) -> QuerySet[Workflow]:
    states = PlatformState.objects.only("id", "workflow_id", "platform", "status", "iteration").order_by(
        "platform"
    )
    workflows = Workflow.objects.prefetch_related(Prefetch("platform_states", queryset=states))
    return reviewable_by(workflows, user=user)


def workflow_owned(*, user) -> QuerySet[Workflow]:
    """The workflows `user` may cancel or publish: their own (moderators and admins: everyone's)."""
    return visible_to(Workflow.objects.all(), user=user)


def workflow_detail_list(*, user) -> QuerySet[Workflow]:
    """Workflows with each platform's state, active draft and that draft's evaluations (newest first)."""
    states = (
        PlatformState.objects.select_related("active_draft")
        .prefetch_related(
            Prefetch(
                "active_draft__evaluations",
                queryset=_evaluations_newest_first(),
                to_attr=NEWEST_EVALUATIONS,
            )
        )
        .order_by("platform")
    )
    workflows = Workflow.objects.prefetch_related(Prefetch("platform_states", queryset=states))
    return reviewable_by(workflows, user=user)


def latest_evaluation(draft: Draft | None) -> Evaluation | None:
    """The newest evaluation of a draft: from the prefetch when present, else one query."""
    if draft is None:
        return None
    prefetched = getattr(draft, NEWEST_EVALUATIONS, None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return _evaluations_newest_first().filter(draft=draft).first()


def draft_list(*, user) -> QuerySet[Draft]:
    drafts = Draft.objects.prefetch_related(
        Prefetch("evaluations", queryset=_evaluations_newest_first(), to_attr=NEWEST_EVALUATIONS)
    )
    return reviewable_by(drafts, user=user, owner_field="workflow__user")


def resource_list(*, user) -> QuerySet[Resource]:
    return visible_to(Resource.objects.all(), user=user)


def resource_owned(*, user, ids) -> QuerySet[Resource]:
    """The caller's own resources among `ids` (a moderator may not feed others' samples to a workflow)."""
    return Resource.objects.filter(user=user, pk__in=ids)


def publishing_job_list(*, user) -> QuerySet[PublishingJob]:
    jobs = PublishingJob.objects.select_related("workflow").defer(
        "workflow__source_content", "workflow__template_input", "workflow__manual_options"
    )
    return visible_to(jobs, user=user, owner_field="workflow__user")


CALENDAR_EXCLUDED = (PublishingStatus.CANCELLED,)


def publishing_calendar(*, user, start: datetime, end: datetime) -> QuerySet[PublishingJob]:
    """Jobs that were or will be published in [start, end): by publication time, else scheduled time,
    else (queued now) creation time. Cancelled jobs are left out."""
    jobs = (
        PublishingJob.objects.select_related("draft")
        .annotate(
            calendar_at=Coalesce(
                F("published_at"), F("scheduled_for"), F("created_at"), output_field=DateTimeField()
            )
        )
        .filter(calendar_at__gte=start, calendar_at__lt=end)
        .exclude(status__in=CALENDAR_EXCLUDED)
        .order_by("calendar_at", "id")
    )
    return visible_to(jobs, user=user, owner_field="workflow__user")


def workflow_stats(*, user) -> dict:
    """Counts by workflow status, drafts awaiting review and publishing jobs by status."""
    workflows = visible_to(Workflow.objects.all(), user=user)
    by_status = _count_by_status(workflows)
    awaiting = visible_to(
        PlatformState.objects.filter(status="awaiting_review"), user=user, owner_field="workflow__user"
    ).count()
    jobs = visible_to(PublishingJob.objects.all(), user=user, owner_field="workflow__user")
    jobs_by_status = _count_by_status(jobs)
    return {
        "workflows": {status: by_status.get(status, 0) for status in WorkflowStatus.values},
        "platforms_awaiting_review": awaiting,
        "publishing_jobs": {status: jobs_by_status.get(status, 0) for status in PublishingStatus.values},
    }


def _count_by_status(queryset: QuerySet) -> dict[str, int]:
    # order_by() drops the model's default ordering, which would otherwise split the groups.
    rows = queryset.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
    return dict(rows)


# How far a platform is, for a workflow's progress bar: the engine writes, then scores, a draft.
PLATFORM_PROGRESS = {
    PlatformStatus.PENDING: 0.0,
    PlatformStatus.GENERATING: 1 / 3,
    PlatformStatus.EVALUATING: 2 / 3,
}


def workflow_progress(*, workflow: Workflow) -> dict:
    """A workflow's progress from its platforms: percent done (a platform past the engine counts
    whole), the step under way ("X: writing draft 2") and each platform's status. One query."""
    states = list(workflow.platform_states.order_by("platform").values("platform", "status", "iteration"))
    done = sum(PLATFORM_PROGRESS.get(s["status"], 1.0) for s in states)
    steps = []
    for s in states:
        label, draft = Platform(s["platform"]).label, s["iteration"] + 1
        if s["status"] == PlatformStatus.GENERATING:
            steps.append(f"{label}: writing draft {draft}")
        elif s["status"] == PlatformStatus.EVALUATING:
            steps.append(f"{label}: scoring draft {draft}")
        elif s["status"] == PlatformStatus.PENDING:
            steps.append(f"{label}: waiting for a worker")
    return {
        "status": workflow.status,
        "status_display": workflow.get_status_display(),
        "running": workflow.status == WorkflowStatus.RUNNING,
        "percent": round(100 * done / len(states)) if states else 0,
        "step": "; ".join(steps) or workflow.get_status_display(),
        "platforms": [
            {
                "platform": s["platform"],
                "label": Platform(s["platform"]).label,
                "status": s["status"],
                "status_display": PlatformStatus(s["status"]).label,
                "iteration": s["iteration"],
            }
            for s in states
        ],
    }


def media_reviewable(*, user) -> QuerySet[MediaAttachment]:
    """Attachments whose alt text `user` may read, edit and approve: the review queue's rule."""
    return reviewable_by(
        MediaAttachment.objects.select_related("workflow", "alt_reviewed_by"),
        user=user,
        owner_field="workflow__user",
    )


def media_owned(*, user) -> QuerySet[MediaAttachment]:
    """Attachments `user` may remove or reorder: their own workflows' (moderators, admins: all)."""
    return visible_to(
        MediaAttachment.objects.select_related("workflow"), user=user, owner_field="workflow__user"
    )


# Alt text a person must act on (the admin's "needs a person" filter selects the same rows).
ALT_TEXT_NEEDS_A_PERSON = Q(alt_status__in=(AltTextStatus.AWAITING_REVIEW, AltTextStatus.NEEDS_WRITING)) & ~Q(
    workflow__status__in=(WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED)
)


def media_awaiting_review(*, user) -> QuerySet[MediaAttachment]:
    """Alt text a person must act on, oldest first: awaiting review or to be written."""
    return media_reviewable(user=user).filter(ALT_TEXT_NEEDS_A_PERSON).order_by("created_at")
