"""Human review of a platform's draft: accept, reject, edit_and_refine, edit_and_publish.

| action           | from                      | to                 | draft                                  |
|------------------|---------------------------|--------------------|----------------------------------------|
| accept           | awaiting_review           | accepted           | the active one                         |
| reject           | awaiting_review, accepted | rejected           | unchanged                              |
| edit_and_refine  | awaiting_review, accepted | pending (engine)   | new human draft; AI rewrites from it   |
| edit_and_publish | awaiting_review, accepted | accepted           | new human draft, active                |

edit_and_refine starts a new engine loop at iteration 0: the next AI draft is written from the
human draft (it is the newest of the previous drafts) and the reviewer's feedback.

Every change locks the platform's row, writes a checkpoint (so an engine step that raced it is
discarded, see `workflows.services.engine`), is audited ("workflow.reviewed") and refreshes the
workflow's status. Drafts are immutable: an edit is a new `Draft` `based_on` the active one.
A platform with a live publishing job cannot be rejected or edited: the job would publish a draft
the reviewer no longer stands behind; cancel the job first. Accepting (and edit_and_publish) needs
every image on the platform's post to have approved alt text (`workflows.services.media`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from core.locking import row_lock
from platforms.kinds.registry import writing_rules
from workflows.errors import InvalidTransition, PublishingInProgress, WorkflowClosed
from workflows.models import (
    LIVE_PUBLISHING_STATUSES,
    Draft,
    DraftSource,
    Platform,
    PlatformState,
    PlatformStatus,
    Workflow,
)
from workflows.services.engine import (
    checkpoint_write,
    instance_char_limit,
    platform_step_queue,
)
from workflows.services.media import media_gate_check
from workflows.services.status import STICKY, workflow_refresh_status

ACCEPT = "accept"
REJECT = "reject"
EDIT_AND_REFINE = "edit_and_refine"
EDIT_AND_PUBLISH = "edit_and_publish"
ACTIONS = (ACCEPT, REJECT, EDIT_AND_REFINE, EDIT_AND_PUBLISH)
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    ACCEPT: (PlatformStatus.AWAITING_REVIEW,),
    REJECT: (PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED),
    EDIT_AND_REFINE: (PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED),
    EDIT_AND_PUBLISH: (PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED),
}
EDITS = (EDIT_AND_REFINE, EDIT_AND_PUBLISH)
MAX_CONTENT_CHARS = 100_000
MAX_FEEDBACK_CHARS = 5_000


def _clean_content(*, workflow: Workflow, platform: str, content: str | None) -> str:
    if not isinstance(content, str) or not content.strip():
        raise ValidationError({"content": "Give the edited draft's text."})
    content = content.strip()
    if len(content) > MAX_CONTENT_CHARS:
        raise ValidationError({"content": f"At most {MAX_CONTENT_CHARS} characters."})
    instance_limit = instance_char_limit(user_id=workflow.user_id, platform=platform)
    # Counted as the network counts (Bluesky: graphemes, and UTF-8 bytes besides).
    problem = writing_rules(platform).length_problem(content, instance_limit=instance_limit)
    if problem is not None:
        raise ValidationError({"content": problem})
    return content


def _clean_feedback(feedback: str | None) -> str | None:
    if feedback is None:
        return None
    if not isinstance(feedback, str):
        raise ValidationError({"feedback": "Must be text."})
    if len(feedback) > MAX_FEEDBACK_CHARS:
        raise ValidationError({"feedback": f"At most {MAX_FEEDBACK_CHARS} characters."})
    return feedback.strip() or None


def workflow_review(
    *,
    workflow: Workflow,
    platform: str,
    action: str,
    reviewer,
    content: str | None = None,
    feedback: str | None = None,
    meta: RequestMeta | None = None,
) -> PlatformState:
    """Apply one review action to one platform of a workflow (table in the module docstring).

    ValidationError for an unknown action or platform, a missing or too long `content`; Conflict
    (409) for a status that does not allow the action, a cancelled or archived workflow, or a live
    publishing job (reject and edits)."""
    errors = {}
    if action not in ACTIONS:
        errors["action"] = f"Choose one of: {', '.join(ACTIONS)}."
    if platform not in Platform.values:
        errors["platform"] = f"Choose one of: {', '.join(Platform.values)}."
    if errors:
        raise ValidationError(errors)
    feedback = _clean_feedback(feedback)
    if action in EDITS:
        content = _clean_content(workflow=workflow, platform=platform, content=content)

    with transaction.atomic():
        # Lock order everywhere: the platform's row, then the workflow's (engine and status refresh).
        states = PlatformState.objects.select_for_update()
        state = states.filter(workflow_id=workflow.pk, platform=platform).first()
        if state is None:
            raise ValidationError({"platform": f"This workflow does not target {Platform(platform).label}."})
        locked_workflow = row_lock(row=workflow)
        if locked_workflow.status in STICKY:
            closed = locked_workflow.get_status_display().lower()
            raise WorkflowClosed(f"The workflow is {closed}; its drafts cannot be reviewed.")
        if state.status not in ALLOWED_FROM[action]:
            raise InvalidTransition(
                f"A platform that is {state.get_status_display().lower()} cannot be {_done(action)}."
            )
        if (
            action != ACCEPT
            and locked_workflow.publishing_jobs.filter(
                platform=platform, status__in=LIVE_PUBLISHING_STATUSES
            ).exists()
        ):
            raise PublishingInProgress()
        if action == ACCEPT and state.active_draft_id is None:
            raise InvalidTransition("There is no draft to accept.")
        if action in (ACCEPT, EDIT_AND_PUBLISH):
            # Every image the post carries needs alt text a person approved (409 naming them).
            media_gate_check(workflow=locked_workflow, platform=platform)

        previous = state.status
        new_draft = None
        fields = ["status", "updated_at"]
        if action in EDITS:
            new_draft = Draft.objects.create(
                workflow_id=workflow.pk,
                platform=platform,
                content=content,
                source=DraftSource.HUMAN,
                based_on_id=state.active_draft_id,
                created_by=reviewer,
            )
            state.active_draft = new_draft
            fields.append("active_draft")
        if action in (ACCEPT, EDIT_AND_PUBLISH):
            state.status = PlatformStatus.ACCEPTED
        elif action == REJECT:
            state.status = PlatformStatus.REJECTED
        else:  # edit_and_refine: a new engine loop from the human draft
            state.status = PlatformStatus.PENDING
            state.iteration = 0
            state.last_feedback = feedback
            state.heartbeat_at = None
            state.attempts = 0
            state.error_message = None
            fields += ["iteration", "last_feedback", "heartbeat_at", "attempts", "error_message"]
        state.save(update_fields=fields)

        latest = state.workflow.checkpoints.filter(platform=platform).order_by("-sequence").first()
        checkpoint_write(
            state=state,
            step=f"review_{action}",
            previous=latest,
            new_draft_id=new_draft.pk if new_draft else None,
            metadata={"reviewer": getattr(reviewer, "pk", None), "feedback": feedback},
        )
        audit_log_write(
            action="workflow.reviewed",
            actor=reviewer,
            target=workflow,
            details={
                "action": action,
                "platform": platform,
                "from": previous,
                "to": state.status,
                "draft_id": str(state.active_draft_id) if state.active_draft_id else None,
            },
            meta=meta or RequestMeta(),
        )
        if action == EDIT_AND_REFINE:
            platform_step_queue(state_id=state.pk)
        workflow_refresh_status(workflow=locked_workflow)
    return state


def _done(action: str) -> str:
    return {
        ACCEPT: "accepted",
        REJECT: "rejected",
        EDIT_AND_REFINE: "edited and refined",
        EDIT_AND_PUBLISH: "edited and published",
    }[action]
