"""What the workflows app tells people (accounts.services.notifications): drafts awaiting review, a
publish that failed, a scheduled publish that went out. Each is raised inside the transaction of the
state change it reports, keyed by that change, so a step or job that runs twice tells once."""

from __future__ import annotations

from django.urls import reverse

from accounts.models import NotificationEvent
from accounts.services.notifications import notification_raise, notification_raise_to
from workflows.models import PlatformState, PublishingJob, Workflow


def _review_url(workflow_id) -> str:
    return reverse("admin:workflows_workflow_review", args=[workflow_id])


def _job_url(job: PublishingJob) -> str:
    return reverse("admin:workflows_publishingjob_change", args=[job.pk])


def drafts_awaiting_review_notify(*, state: PlatformState) -> None:
    """A platform's draft waits for a person (the engine's evaluation ended its iterations). The
    owner comes from the state's workflow (the engine's commit has just read it with the state)."""
    workflow = state.workflow
    platform = state.get_platform_display()
    notification_raise_to(
        user_id=workflow.user_id,
        event=NotificationEvent.DRAFTS_AWAITING_REVIEW,
        key=f"{state.pk}:{state.active_draft_id}",
        title=f"A {platform} draft awaits your review",
        body=f"The {platform} draft of workflow {str(workflow.pk)[:8]} is written and evaluated "
        f"(iteration {state.iteration + 1}); accept, edit or reject it.",
        url=_review_url(workflow.pk),
        data={
            "workflow_id": str(workflow.pk),
            "platform": state.platform,
            "draft_id": str(state.active_draft_id),
        },
    )


def publish_failed_notify(*, job: PublishingJob, attempt: int, message: str) -> None:
    workflow = Workflow.objects.select_related("user").only("pk", "user").get(pk=job.workflow_id)
    platform = job.get_platform_display()
    notification_raise(
        user=workflow.user,
        event=NotificationEvent.PUBLISH_FAILED,
        key=f"{job.pk}:{attempt}",
        title=f"Publishing to {platform} failed",
        body=message,
        url=_job_url(job),
        data={
            "job_id": str(job.pk),
            "workflow_id": str(workflow.pk),
            "platform": job.platform,
            "attempt": attempt,
        },
    )


def scheduled_publish_went_out_notify(*, job: PublishingJob, post_url: str | None) -> None:
    """Only for a job someone scheduled: they were not there when it went out."""
    if job.scheduled_for is None:
        return
    workflow = Workflow.objects.select_related("user").only("pk", "user").get(pk=job.workflow_id)
    platform = job.get_platform_display()
    notification_raise(
        user=workflow.user,
        event=NotificationEvent.PUBLISHED,
        key=str(job.pk),
        title=f"Your scheduled {platform} post went out",
        body=f"Published{f' at {post_url}' if post_url else ''}.",
        url=_job_url(job),
        data={
            "job_id": str(job.pk),
            "workflow_id": str(workflow.pk),
            "platform": job.platform,
            "post_url": post_url,
        },
    )
