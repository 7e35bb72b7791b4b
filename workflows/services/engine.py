"""The workflow engine: one step per task, the state in the database.

Per platform the loop is generate -> evaluate -> (score >= threshold: awaiting_review | attempts
left: regenerate with the evaluator's feedback and the earlier drafts | none left: awaiting_review
anyway). Platforms run independently; a django-q task (`run_platform_step`) runs a step and then the
platform's next ones back to back while the task is young (`step_chain_seconds()`, 30 s), and
queues the next step once it is not. Every step still claims, checks and commits on its own, so a
chain is only a saving of queue round trips: a generation's evaluation starts at once in the same
worker instead of waiting its turn behind every other queued step, and a step costs no dequeue,
task record and acknowledgement. The 30 s bound keeps a chain far inside the django-q timeout.

Semantics:
- `PlatformState.iteration` counts regenerations: the first AI draft of a loop is iteration 0.
  After an evaluation below the threshold the loop regenerates while `iteration + 1 <
  max_iterations`, where `max_iterations` (SystemConfig, default 3) is the most AI drafts one loop
  writes. So 60 then 80 ends awaiting review at iteration 1 with two drafts and two evaluations;
  three low scores end awaiting review at iteration 2 with three drafts. A reviewer's
  edit_and_refine starts a new loop at iteration 0 from their draft and feedback.
- The step is chosen by status: pending or generating -> generate; evaluating -> evaluate.
- Claim: a conditional UPDATE moves pending -> generating, sets `heartbeat_at` and adds one to
  `attempts`, only when no live worker holds the row (no heartbeat, or one older than
  `settings.WORKFLOW_STEP_TIMEOUT`). A second delivery while the first runs does nothing.
- The AI call runs outside any transaction. Its result is written in ONE transaction that locks
  the state row and re-checks that the latest `WorkflowCheckpoint` of the platform is still the one
  the step started from; it inserts the Draft or Evaluation, updates the state (heartbeat cleared,
  attempts back to 0) and inserts the next checkpoint (sequence + 1, a JSON snapshot of the state,
  parent = the previous checkpoint). A racing duplicate finds the sequence moved on, or breaks
  `uq_workflow_checkpoint_seq` and rolls back: either way it is discarded quietly.
- Resume: a worker killed mid-step leaves the database at the last checkpoint. Once its heartbeat
  is stale, the next delivery (or `platform_steps_resume_stale`, the reaper) runs the step again;
  nothing of the lost run was written, so no draft is duplicated.
- Failures: `AIUnavailable` is transient: while `attempts < step_max_attempts` the claim is released,
  the state's `error_message` notes the retry and the step is queued again after a backoff (a
  one-off django-q Schedule). Exhausted attempts, `AIRefused` and other `AIError`s fail the
  platform (status failed, a readable error_message, a "failed" checkpoint, audit
  "workflow.platform_failed"). Any other exception propagates and writes nothing; the reaper takes
  the step up again later, and fails it once its attempts are used up.
- A cancelled or archived workflow, or a platform that is not working, makes the step a no-op.
- Steps are not audited (too chatty); failures are.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from accounts.services.audit import audit_log_write
from core.ai import AIError, AIUnavailable
from core.sql import Names, columns_of, instance_from_row, names
from platforms.kinds.registry import kinds_for_target, writing_rules
from platforms.models import PlatformConnection
from workflows.models import (
    Draft,
    DraftSource,
    Evaluation,
    PlatformState,
    PlatformStatus,
    Resource,
    ResourceType,
    Workflow,
    WorkflowCheckpoint,
)
from workflows.services.notifications import drafts_awaiting_review_notify
from workflows.services.status import STICKY, WORKING, workflow_refresh_status_by_id
from workflows.stored_settings import WorkflowSettings, workflow_settings

logger = logging.getLogger(__name__)

RUN_TASK = "workflows.tasks.run_platform_step"
STEP_GENERATE = "generate"
STEP_EVALUATE = "evaluate"
STEP_FAILED = "failed"
# Prompt context bounds: a long history or a book-length sample must not blow the model's window.
MAX_PREVIOUS_DRAFTS = 5
MAX_STYLE_SAMPLES = 5
MAX_RESOURCE_CHARS = 5_000
# Transient AI failures: wait BACKOFF_BASE_SECONDS, doubling per attempt, at most BACKOFF_MAX_SECONDS.
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 240
MAX_ERROR_CHARS = 1_000


# --- queueing ----------------------------------------------------------------------------------


def _enqueue(state_id) -> None:
    # save=False: a step that succeeded leaves no django-q2 success record. Its checkpoint is the
    # record; a success row per step would push every other task's records out of the kept
    # `save_limit` newest, and the monitor prunes those with a locking read of all of them per save.
    # A failed step is still saved (django-q2 saves failures regardless).
    async_task(RUN_TASK, str(state_id), task_name=f"workflow-step-{state_id}", group="workflows", save=False)


def platform_step_queue(*, state_id) -> None:
    """Queue the platform's next step once the current transaction commits.

    robust: a broker failure must not undo the committed change; the reaper picks the state up."""
    transaction.on_commit(lambda: _enqueue(state_id), robust=True)


def _schedule_retry(*, state_id, delay: float, attempt: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.create(
        name=f"workflow-step-retry-{state_id}-{attempt}"[:100],
        func=RUN_TASK,
        args=repr(str(state_id)),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=delay),
    )


def step_timeout() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "WORKFLOW_STEP_TIMEOUT", 300)))


def step_chain_seconds() -> float:
    """How long a task keeps running a platform's next steps itself before it queues them.

    Bounded so a chain plus one more step stays inside the django-q timeout: a step may still
    start at 29 s and take an AI call's worst case (3 attempts at AI_TIMEOUT) after it."""
    return float(getattr(settings, "WORKFLOW_STEP_CHAIN_SECONDS", 30))


@dataclass
class _Chain:
    """Steps of one platform run back to back in one task until `deadline` (time.monotonic())."""

    deadline: float
    next_inline: bool = False  # the last commit left the next step to this task, not the queue
    # What that commit handed on: the next step's claim, taken in the same UPDATE, and the state
    # row as it committed it (with its workflow and owner), so the step starts without reading.
    carried: tuple[_Claim, PlatformState] | None = None
    # The platform's style samples, references and character limit, read by the chain's first
    # step: the chain is one platform of one workflow, over in seconds.
    context: _Context | None = None

    def takes_next(self) -> bool:
        return time.monotonic() < self.deadline


# --- the step ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    state_id: Any
    workflow_id: Any
    platform: str
    status: str  # the status the step runs in (generating or evaluating)
    attempts: int
    base_sequence: int  # the latest checkpoint's sequence when the step started (0: none)


def _latest_sequence(*, workflow_id, platform: str) -> int:
    sequences = WorkflowCheckpoint.objects.filter(workflow_id=workflow_id, platform=platform)
    return sequences.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def _in(values) -> str:
    return ", ".join(["%s"] * len(values))


def _of_the_platform(checkpoint: Names, state: Names) -> str:
    """The condition that a checkpoint row is one of the state's platform."""
    workflow, platform = (f"{checkpoint.of(name)} = {state.of(name)}" for name in ("workflow", "platform"))
    return f"{workflow} AND {platform}"


@functools.cache
def _claim_sql(vendor: str) -> str:
    del vendor  # the cache key: quoted for one backend
    state, workflow, checkpoint = names(PlatformState), names(Workflow), names(WorkflowCheckpoint)
    status = state.of("status")
    # The model's own table and column names only; every value is a parameter. The row's own
    # columns decide the claim: PostgreSQL re-checks them on the row a concurrent claim left (a
    # waiter finds the fresh heartbeat and claims nothing); the workflow's status is only read.
    return (
        f"UPDATE {state.table} SET {state['status']} = CASE WHEN {status} = %s THEN %s ELSE {status} END, "  # noqa: S608
        f"{state['heartbeat_at']} = %s, {state['attempts']} = {state.of('attempts')} + 1, "
        f"{state['updated_at']} = %s "
        f"WHERE {state.of('id')} = %s AND {status} IN ({_in(WORKING)}) "
        f"AND ({state.of('heartbeat_at')} IS NULL OR {state.of('heartbeat_at')} < %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {workflow.table} WHERE {workflow.of('id')} = {state.of('workflow')} "
        f"AND {workflow.of('status')} IN ({_in(STICKY)})) "
        f"RETURNING {state.of('workflow')}, {state.of('platform')}, {status}, {state.of('attempts')}, "
        f"(SELECT COALESCE(MAX({checkpoint.of('sequence')}), 0) FROM {checkpoint.table} "
        f"WHERE {_of_the_platform(checkpoint, state)})"
    )


def _claim(state_id) -> _Claim | None:
    """Claim the platform's step: a working platform of a workflow not cancelled or archived,
    held by no live worker (no heartbeat, or one older than the step timeout), moves pending ->
    generating, gets a fresh heartbeat and one more attempt. None when there was nothing to claim.

    One UPDATE ... RETURNING (PostgreSQL, SQLite 3.35+) that also returns the latest checkpoint's
    sequence, rather than a read, an UPDATE and another read: three round trips a step, with the
    queries built each time (docs/performance.md, `workflow_engine`)."""
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value
    pk = PlatformState._meta.pk
    params = [
        PlatformStatus.PENDING,
        PlatformStatus.GENERATING,
        at(now),
        at(now),
        pk.get_db_prep_value(pk.to_python(state_id), connection),
        *WORKING,
        at(now - step_timeout()),
        *STICKY,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor), params)
        row = cursor.fetchone()
    if row is None:
        return None
    workflow_id, platform, status, attempts, base_sequence = row
    # pending -> generating leaves the workflow running: no status refresh is needed.
    return _Claim(
        state_id=pk.to_python(state_id),
        workflow_id=Workflow._meta.pk.to_python(workflow_id),
        platform=platform,
        status=status,
        attempts=attempts,
        # Only the number: the commit re-reads the latest checkpoint under the lock, and it is this
        # one whenever the sequence still matches (checkpoints are only ever inserted).
        base_sequence=base_sequence,
    )


def platform_step_run(*, state_id, chain_seconds: float = 0.0) -> None:
    """Run the platform's next engine step (see the module docstring), then, for `chain_seconds`
    from the start, each following one in turn; the step that ends past them queues its
    successor. 0: one step, the next queued. The task passes `step_chain_seconds()`."""
    chain = _Chain(deadline=time.monotonic() + chain_seconds)
    while True:
        chain.next_inline = False
        _step_run(state_id=state_id, chain=chain)
        if not chain.next_inline:
            return


def _step_run(*, state_id, chain: _Chain) -> None:
    from core.ai import backend_for
    from workflows.writing import draft_score, draft_write

    if chain.carried is not None:
        claim, state = chain.carried
        chain.carried = None
    else:
        claim = _claim(state_id)
        if claim is None:
            return
        state = PlatformState.objects.select_related("workflow__user", "active_draft").get(pk=claim.state_id)
    workflow = state.workflow
    if chain.context is None:
        chain.context = _context(workflow=workflow, platform=state.platform)
    context = chain.context
    try:
        backend = backend_for(user=workflow.user)  # the owner's builtin-only preference holds
        if claim.status == PlatformStatus.GENERATING:
            brief = _writing_brief(state=state, workflow=workflow, context=context)
            written = draft_write(brief, backend=backend)
            _write_draft(claim=claim, written=written, chain=chain, workflow=workflow)
        else:
            if state.active_draft is None:
                _fail(claim=claim, message="There is no draft to evaluate.")
                return
            # Read once for the step: the scorer's model and prompt, then the threshold.
            config = workflow_settings()
            evaluation = draft_score(
                platform=state.platform,
                content=state.active_draft.content,
                style_samples=context.style_samples,
                char_limit=context.char_limit,
                options=dict(workflow.manual_options or {}),
                backend=backend,
                config=config,
            )
            _write_evaluation(
                claim=claim,
                evaluation=evaluation,
                config=config,
                chain=chain,
                workflow=workflow,
            )
    except AIUnavailable as exc:
        _retry_later(claim=claim, exc=exc, config=workflow_settings())
    except AIError as exc:
        _fail(claim=claim, message=f"The AI could not {_verb(claim)} the draft: {_safe(exc)}")


def _verb(claim: _Claim) -> str:
    return "write" if claim.status == PlatformStatus.GENERATING else "evaluate"


def _safe(exc: Exception) -> str:
    # AI errors name the server and the HTTP status, never a credential (core.ai.base).
    return (str(exc) or exc.__class__.__name__)[:MAX_ERROR_CHARS]


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    style_samples: tuple[str, ...]
    references: tuple[str, ...]
    char_limit: int | None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_RESOURCE_CHARS else text[:MAX_RESOURCE_CHARS]


def _context(*, workflow: Workflow, platform: str) -> _Context:
    """Style samples and references: the workflow's chosen resources if any, else the user's newest
    style samples. Resources deleted since the workflow started are skipped."""
    chosen = (workflow.source_content or {}).get("resource_ids") or []
    owned = Resource.objects.filter(user_id=workflow.user_id).order_by("-created_at", "-pk")
    samples: list[str] = []
    references: list[str] = []
    if chosen:
        for resource in owned.filter(pk__in=chosen):
            if resource.type == ResourceType.STYLE_SAMPLE:
                samples.append(_clip(resource.content))
            elif resource.type == ResourceType.IMAGE:
                references.append(_clip(f"Image: {resource.content}"))
            else:
                references.append(_clip(resource.content))
    else:
        samples = [
            _clip(text)
            for text in owned.filter(type=ResourceType.STYLE_SAMPLE).values_list("content", flat=True)[
                :MAX_STYLE_SAMPLES
            ]
        ]
    char_limit = instance_char_limit(user_id=workflow.user_id, platform=platform)
    return _Context(style_samples=tuple(samples), references=tuple(references), char_limit=char_limit)


def instance_char_limit(*, user_id, platform: str) -> int | None:
    """For a target whose instances set their own post limit (Mastodon): the limit of the user's
    connection that publishes it (the default one first), when a verification stored it in
    `extra["max_characters"]`; None when unknown or when the target has one limit for everybody."""
    if not writing_rules(platform).instance_limit:
        return None
    extras = (
        PlatformConnection.objects.filter(
            user_id=user_id, platform_type__in=kinds_for_target(platform), is_active=True
        )
        .order_by("-is_default", "-updated_at")
        .values_list("extra", flat=True)  # no credential is decrypted
    )
    for extra in extras:
        limit = (extra or {}).get("max_characters") if isinstance(extra, dict) else None
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            return limit
    return None


def _writing_brief(*, state: PlatformState, workflow: Workflow, context: _Context):
    from workflows.writing import SourceMaterial, WritingBrief

    source = workflow.source_content or {}
    # Every draft of a platform becomes its active draft when written: none active, none written.
    previous = (
        list(
            Draft.objects.filter(workflow_id=workflow.pk, platform=state.platform)
            .order_by("-created_at", "-pk")
            .values_list("content", flat=True)[:MAX_PREVIOUS_DRAFTS]
        )
        if state.active_draft_id is not None
        else []
    )
    return WritingBrief(
        platform=state.platform,
        source=SourceMaterial(
            text=source.get("text") or "",
            title=source.get("title") or "",
            urls=tuple(source.get("urls") or ()),
        ),
        options=dict(workflow.manual_options or {}),
        style_samples=context.style_samples,
        references=context.references,
        previous_drafts=tuple(reversed(previous)),
        feedback=state.last_feedback or None,
        char_limit=context.char_limit,
    )


# --- writes ------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def checkpoint_write(
    *,
    state: PlatformState,
    step: str,
    previous: WorkflowCheckpoint | None,
    new_draft_id=None,
    evaluation: Evaluation | None = None,
    metadata: dict | None = None,
) -> WorkflowCheckpoint:
    """Insert the next checkpoint of a platform: a snapshot of its state after `step`. Call it inside
    the transaction that made the change; a duplicate sequence raises IntegrityError."""
    before = previous.state if previous is not None else {}
    draft_ids = list(before.get("draft_ids") or [])
    if new_draft_id is not None:
        draft_ids.append(str(new_draft_id))
    snapshot = {
        "status": state.status,
        "iteration": state.iteration,
        "active_draft_id": str(state.active_draft_id) if state.active_draft_id else None,
        "last_feedback": state.last_feedback,
        "draft_ids": draft_ids,
        "evaluation_id": str(evaluation.pk) if evaluation is not None else before.get("evaluation_id"),
        "score": evaluation.score if evaluation is not None else before.get("score"),
    }
    return WorkflowCheckpoint.objects.create(
        workflow_id=state.workflow_id,
        platform=state.platform,
        step=step,
        sequence=(previous.sequence if previous is not None else 0) + 1,
        state=snapshot,
        metadata=_json_safe(metadata) if metadata else None,
        parent=previous,
    )


@functools.cache
def _locked_sql(vendor: str) -> str:
    del vendor  # the cache key: quoted for one backend
    state, workflow, checkpoint = names(PlatformState), names(Workflow), names(WorkflowCheckpoint)
    of_the_platform = _of_the_platform(checkpoint, state)
    latest = f"SELECT MAX({checkpoint.of('sequence')}) FROM {checkpoint.table} WHERE {of_the_platform}"  # noqa: S608
    lock = f" FOR UPDATE OF {state.table}" if connection.features.has_select_for_update_of else ""
    return (
        f"SELECT {columns_of(PlatformState)}, {workflow.of('status')}, "  # noqa: S608
        f"{checkpoint.of('id')}, {checkpoint.of('sequence')}, {checkpoint.of('state')} "
        f"FROM {state.table} JOIN {workflow.table} ON {workflow.of('id')} = {state.of('workflow')} "
        f"LEFT JOIN {checkpoint.table} ON {of_the_platform} "
        f"AND {checkpoint.of('sequence')} = ({latest}) "
        f"WHERE {state.of('id')} = %s{lock}"
    )


def _previous(state: PlatformState, *, pk, sequence, snapshot) -> WorkflowCheckpoint | None:
    """The platform's latest checkpoint, from the columns `_locked_sql` read with its state."""
    if pk is None:
        return None
    return WorkflowCheckpoint.from_db(
        connection.alias,
        ["id", "workflow_id", "platform", "sequence", "state"],
        [
            WorkflowCheckpoint._meta.pk.to_python(pk),
            state.workflow_id,
            state.platform,
            sequence,
            json.loads(snapshot) if isinstance(snapshot, str | bytes) else snapshot,
        ],
    )


def _locked_if_current(claim: _Claim) -> tuple[PlatformState, WorkflowCheckpoint | None] | None:
    """The state row, locked, and the latest checkpoint, if nothing moved the platform on since
    the claim and its workflow is not cancelled or archived; else None (discard)."""
    # One statement: the state with its workflow's status and latest checkpoint. Only the state's
    # row is locked (the workflow's, when needed, after it: the lock order of the review service).
    pk = PlatformState._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(_locked_sql(connection.vendor), [pk.get_db_prep_value(claim.state_id, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    *columns, workflow_status, previous_pk, previous_sequence, previous_snapshot = row
    state = instance_from_row(PlatformState, columns)
    if (previous_sequence or 0) != claim.base_sequence or state.status != claim.status:
        return None
    if workflow_status in STICKY:
        return None
    return state, _previous(state, pk=previous_pk, sequence=previous_sequence, snapshot=previous_snapshot)


def _commit_step(
    claim: _Claim, apply, chain: _Chain | None = None, *, workflow: Workflow | None = None
) -> bool:
    """Run `apply(state, previous, keep)` in one transaction if the claim is still current
    (`previous`: the platform's latest checkpoint); False when discarded. A platform still working
    gets its next step queued on commit, or left to `chain`'s task while that may go on: then
    `keep` is true, and `apply`'s save keeps the platform claimed for that step (`_release_claim`).
    `workflow`: the step's workflow, read with its owner when the step started: `apply` and the
    chained step see it as the state's (its status is the only field that may move meanwhile,
    and the locked read checks that)."""
    inline = False
    keep = chain is not None and chain.takes_next()
    try:
        with transaction.atomic():
            current = _locked_if_current(claim)
            if current is None:
                logger.info("Discarding a stale %s step of platform state %s.", claim.status, claim.state_id)
                return False
            state, previous = current
            if workflow is not None:
                state.workflow = workflow
            apply(state, previous, keep)
            if state.status in WORKING:
                # Working before and after (a draft written, a regeneration due): the workflow is
                # running because this platform works, and stays so; a refresh would only re-read it.
                inline = keep
                if not inline:
                    platform_step_queue(state_id=state.pk)
            else:
                workflow_refresh_status_by_id(workflow_id=state.workflow_id)
    except IntegrityError:
        # Another run of the same step wrote this checkpoint sequence first.
        logger.info("Discarding a duplicate %s step of platform state %s.", claim.status, claim.state_id)
        return False
    # Only once committed: a worker that dies before its next claim leaves a working platform with
    # nothing queued, which the reaper queues again after the step timeout.
    if chain is not None:
        chain.next_inline = inline
        if inline:
            next_claim = _Claim(
                state_id=state.pk,
                workflow_id=state.workflow_id,
                platform=state.platform,
                status=state.status,
                attempts=state.attempts,
                base_sequence=(previous.sequence if previous is not None else 0) + 1,
            )
            chain.carried = (next_claim, state)
    return True


def _release_claim(state: PlatformState, *, keep: bool = False) -> None:
    """The step is done: its claim is released (no heartbeat, attempts back to 0). With `keep`,
    and the platform still working, the same task runs the next step at once: the same UPDATE
    claims it as `_claim` would (a fresh heartbeat, its first attempt), so the step starts without
    a claim of its own: three statements fewer, and nobody else can take it meanwhile. A worker
    that dies before finishing it leaves a stale heartbeat, which the reaper takes up as any other."""
    if keep and state.status in WORKING:
        state.heartbeat_at = timezone.now()
        state.attempts = 1
    else:
        state.heartbeat_at = None
        state.attempts = 0
    state.error_message = None


def _write_draft(
    *, claim: _Claim, written, chain: _Chain | None = None, workflow: Workflow | None = None
) -> bool:
    def apply(state: PlatformState, previous: WorkflowCheckpoint | None, keep: bool) -> None:
        draft = Draft.objects.create(
            workflow_id=state.workflow_id,
            platform=state.platform,
            content=written.content,
            source=DraftSource.AI,
            based_on_id=state.active_draft_id,
        )
        state.active_draft = draft
        state.status = PlatformStatus.EVALUATING
        _release_claim(state, keep=keep)
        state.save(
            update_fields=[
                "active_draft",
                "status",
                "heartbeat_at",
                "attempts",
                "error_message",
                "updated_at",
            ]
        )
        checkpoint_write(
            state=state,
            step=STEP_GENERATE,
            previous=previous,
            new_draft_id=draft.pk,
            metadata={"backend": written.backend, "model": written.model, "details": written.metadata},
        )

    return _commit_step(claim, apply, chain, workflow=workflow)


def _write_evaluation(
    *,
    claim: _Claim,
    evaluation,
    config: WorkflowSettings,
    chain: _Chain | None = None,
    workflow: Workflow | None = None,
) -> bool:
    def apply(state: PlatformState, previous: WorkflowCheckpoint | None, keep: bool) -> None:
        row = Evaluation.objects.create(
            draft_id=state.active_draft_id,
            score=max(0, min(100, int(evaluation.score))),
            feedback=evaluation.feedback,
            criteria_scores=_json_safe(evaluation.criteria_scores),
            evaluator=(evaluation.evaluator or "")[:255],
        )
        state.last_feedback = evaluation.feedback or None
        if row.score >= config.score_threshold or state.iteration + 1 >= config.max_iterations:
            state.status = PlatformStatus.AWAITING_REVIEW
            # In this step's transaction: a step discarded as stale or duplicate tells nobody.
            drafts_awaiting_review_notify(state=state)
        else:
            state.status = PlatformStatus.GENERATING
            state.iteration += 1
        _release_claim(state, keep=keep)
        state.save(
            update_fields=[
                "status",
                "iteration",
                "last_feedback",
                "heartbeat_at",
                "attempts",
                "error_message",
                "updated_at",
            ]
        )
        checkpoint_write(
            state=state,
            step=STEP_EVALUATE,
            previous=previous,
            evaluation=row,
            metadata={
                "evaluator": row.evaluator,
                "threshold": config.score_threshold,
                "max_iterations": config.max_iterations,
                "details": evaluation.metadata,
            },
        )

    return _commit_step(claim, apply, chain, workflow=workflow)


def _fail(*, claim: _Claim, message: str) -> bool:
    def apply(state: PlatformState, previous: WorkflowCheckpoint | None, keep: bool) -> None:
        state.status = PlatformStatus.FAILED
        state.error_message = message
        state.heartbeat_at = None
        state.save(update_fields=["status", "error_message", "heartbeat_at", "updated_at"])
        checkpoint_write(
            state=state,
            step=STEP_FAILED,
            previous=previous,
            metadata={"error": message, "attempts": state.attempts},
        )
        audit_log_write(
            action="workflow.platform_failed",
            resource_type="workflow",
            resource_id=state.workflow_id,
            details={"platform": state.platform, "step": _step_name(claim), "error": message},
        )

    return _commit_step(claim, apply)


def _step_name(claim: _Claim) -> str:
    return STEP_GENERATE if claim.status == PlatformStatus.GENERATING else STEP_EVALUATE


def retry_delay(*, attempt: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: the server's Retry-After when given, else 30 s doubling."""
    ceiling = min(BACKOFF_MAX_SECONDS, step_timeout().total_seconds())
    delay = BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1)
    if retry_after and retry_after > 0:
        delay = retry_after
    return max(1.0, min(float(delay), ceiling))


def _retry_later(*, claim: _Claim, exc: AIUnavailable, config: WorkflowSettings) -> None:
    if claim.attempts >= config.step_max_attempts:
        _fail(
            claim=claim,
            message=(
                f"The AI stayed unavailable after {claim.attempts} attempts to {_verb(claim)} the draft: "
                f"{_safe(exc)}"
            ),
        )
        return
    delay = retry_delay(attempt=claim.attempts, retry_after=exc.retry_after)
    note = (
        f"Attempt {claim.attempts} of {config.step_max_attempts} failed, trying again in {int(delay)} s: "
        f"{_safe(exc)}"
    )[:MAX_ERROR_CHARS]
    with transaction.atomic():
        released = PlatformState.objects.filter(
            pk=claim.state_id, status=claim.status, attempts=claim.attempts, heartbeat_at__isnull=False
        ).update(heartbeat_at=None, error_message=note, updated_at=timezone.now())
        if released:
            _schedule_retry(state_id=claim.state_id, delay=delay, attempt=claim.attempts)


# --- the reaper --------------------------------------------------------------------------------


def platform_steps_resume_stale(*, now: datetime | None = None, limit: int = 100) -> int:
    """Take up platforms whose step stalled: a worker died or raised (heartbeat older than the step
    timeout), or a queued message was lost (working, unclaimed, untouched for that long). They are
    queued again, or failed once their attempts are used up. Returns how many were handled."""
    now = now or timezone.now()
    stale_before = now - step_timeout()
    config = workflow_settings()
    stalled = list(
        PlatformState.objects.filter(status__in=WORKING)
        .exclude(workflow__status__in=STICKY)
        .annotate(last_seen=Coalesce("heartbeat_at", "updated_at"))
        .filter(last_seen__lt=stale_before)
        .order_by("last_seen")
        .values_list("pk", "workflow_id", "platform", "status", "attempts")[:limit]
    )
    for state_id, workflow_id, platform, status, attempts in stalled:
        if attempts >= config.step_max_attempts:
            claim = _Claim(
                state_id=state_id,
                workflow_id=workflow_id,
                platform=platform,
                status=status,
                attempts=attempts,
                base_sequence=_latest_sequence(workflow_id=workflow_id, platform=platform),
            )
            _fail(
                claim=claim,
                message=f"The {_step_name(claim)} step stopped without finishing {attempts} times; gave up.",
            )
        else:
            # Touch the row so the next round waits a full timeout before queueing it again.
            PlatformState.objects.filter(pk=state_id, status=status).update(updated_at=now)
            _enqueue(state_id)
    return len(stalled)
