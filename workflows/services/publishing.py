"""Publishing jobs: sending an accepted draft to its platform, now or at a scheduled time.

A job's life: `publishing_job_create` (queued, or scheduled for later; one live job per workflow
and platform) → claimed by `publishing_job_publish` (the immediate path, through the task queued on
commit) or by the every-minute dispatcher `publishing_jobs_dispatch_due` → published, failed, or
back to scheduled after a transient failure. Users cancel, reschedule and retry through the
services below; `publishing_jobs_recover_stale` takes back jobs whose worker died mid-publish.

Why it is built this way:
- Two dispatchers (or a dispatcher and the immediate task, or a redelivered task) never publish the
  same job: each claims it with a conditional UPDATE (queued/scheduled → publishing, attempts + 1)
  and only the one that changed the row goes on. On PostgreSQL the dispatcher picks its candidates
  with SKIP LOCKED so racing dispatchers spread over different jobs instead of colliding.
- The platform call runs outside any transaction; what it returns is written only while the job is
  still this worker's (still `publishing` with the attempt number it claimed).
- A publish that may have reached the platform is never repeated blindly. The publisher itself
  sends the job's idempotency key (Mastodon) or checks before retrying (the others); across calls,
  a job taken up again after an ambiguous failure or a dead worker (attempts > 1) first asks
  `find_published` and records the post it finds instead of posting again. A manual retry keeps
  the idempotency key and the attempt count for the same reason.
- What the job will publish is re-checked at send time: a cancelled or archived workflow, or a
  platform no longer accepted, cancels the job; a newer active draft replaces the one the job was
  created with; a disabled or deleted connection fails it.
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.selectors import visible_to
from accounts.services.audit import audit_log_write
from core.errors import Conflict
from core.locking import row_lock
from core.retry import RetryPolicy
from core.signed_media import signed_media_url
from platforms.health import ConnectionBroken, broken_message, connection_health_note_error, connection_ready
from platforms.kinds.base import Form
from platforms.kinds.common import PlatformAuthError, PlatformError, PlatformUnavailableError
from platforms.kinds.publishing import Publication, Published, publisher_for
from platforms.kinds.registry import kinds, kinds_for_target, writing_rules
from platforms.models import BROKEN_HEALTH, PlatformConnection
from platforms.oauth2 import connection_can_refresh, connection_token_refresh
from platforms.selectors import connection_default
from workflows.errors import (
    NotVisible,
    PublishingAlreadyPublished,
    PublishingAlreadyScheduled,
    PublishingJobFinished,
    PublishingJobInProgress,
    PublishingJobNotFailed,
    PublishingNotAccepted,
    WorkflowNotPublishable,
)
from workflows.models import (
    LIVE_PUBLISHING_STATUSES,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Workflow,
    WorkflowStatus,
)
from workflows.services.media import media_gate_check, media_gate_problems, media_items
from workflows.services.notifications import publish_failed_notify, scheduled_publish_went_out_notify
from workflows.services.status import workflow_refresh_status

logger = logging.getLogger(__name__)

PUBLISH_TASK = "workflows.tasks.publish_job"
# A time this far in the past still counts as "now" (clock skew, a slow form); older is a mistake.
PAST_TOLERANCE = timedelta(seconds=60)
MAX_AHEAD = timedelta(days=365)
# No publishing for a workflow in these states (a failed one must be fixed, i.e. re-run, first).
CLOSED_WORKFLOW_STATUSES = frozenset(
    {WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED, WorkflowStatus.FAILED}
)
# At send time only a user's or the archive command's decision stops a job.
STOPPED_WORKFLOW_STATUSES = frozenset({WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED})
CHANGEABLE_STATUSES = (PublishingStatus.QUEUED, PublishingStatus.SCHEDULED)
#: `response_data.error.reason` of a job failed because its connection broke: it resumes on reconnect.
HELD_REASON = "connection_broken"
TERMINAL_STATUSES = (PublishingStatus.PUBLISHED, PublishingStatus.FAILED, PublishingStatus.CANCELLED)
# After a transient failure the job waits 1, 4, 16... minutes (at most an hour) before its next
# attempt; a platform's Retry-After wins. The dispatcher runs every minute, so shorter is moot.
REQUEUE_BACKOFF = RetryPolicy(attempts=10, base_delay=60.0, factor=4.0, max_delay=3600.0, jitter=0.1)
STALE_MESSAGE = "The worker stopped while publishing; the post may or may not exist: check the platform."


# Checks shared by creating, rescheduling and retrying --------------------------------------------


def _ensure_visible(queryset, *, actor: User | None, what: str, owner_field: str = "user") -> None:
    # actor None is the system (admin actions pass their user; tasks have none).
    if actor is not None and not visible_to(queryset, user=actor, owner_field=owner_field).exists():
        raise NotVisible(f"No such {what}.")


def publishing_time_clean(value: datetime, *, now: datetime | None = None) -> datetime:
    """An aware time between a minute ago and a year ahead; else ValidationError on scheduled_for."""
    if not isinstance(value, datetime):
        raise ValidationError({"scheduled_for": "Give a date and time."})
    if timezone.is_naive(value):
        raise ValidationError(
            {"scheduled_for": "Give the time with its time zone (e.g. 2026-05-01T09:00:00Z)."}
        )
    now = now or timezone.now()
    if value < now - PAST_TOLERANCE:
        raise ValidationError({"scheduled_for": "The time is in the past."})
    if value > now + MAX_AHEAD:
        raise ValidationError({"scheduled_for": "Schedule at most 365 days ahead."})
    return value


def _publishable_state(*, workflow: Workflow, platform: str, lock: bool) -> PlatformState:
    """The platform's state, accepted and with an active draft, of a workflow still open."""
    if workflow.status in CLOSED_WORKFLOW_STATUSES:
        raise WorkflowNotPublishable(
            f"The workflow is {workflow.get_status_display().lower()}; it cannot be published."
        )
    states = PlatformState.objects.select_related("active_draft")
    if lock:
        states = states.select_for_update(of=("self",))
    state = states.filter(workflow=workflow, platform=platform).first()
    if state is None:
        raise ValidationError({"platform": f"The workflow has no {platform} platform."})
    if state.status == PlatformStatus.PUBLISHED:
        raise PublishingAlreadyPublished(_published_message(workflow=workflow, state=state))
    if state.status != PlatformStatus.ACCEPTED or state.active_draft is None:
        raise PublishingNotAccepted(
            f"The {state.get_platform_display()} draft is {state.get_status_display().lower()}; "
            "accept it before publishing."
            if state.status != PlatformStatus.ACCEPTED
            else f"The {state.get_platform_display()} platform has no active draft to publish."
        )
    return state


def _published_message(*, workflow: Workflow, state: PlatformState) -> str:
    """ "Already published", with the post's address from the job that published it."""
    label = state.get_platform_display()
    job = (
        PublishingJob.objects.filter(
            workflow=workflow, platform=state.platform, status=PublishingStatus.PUBLISHED
        )
        .order_by(F("published_at").desc(nulls_last=True))
        .only("response_data")
        .first()
    )
    data = job.response_data if job is not None and isinstance(job.response_data, dict) else {}
    url = data.get("url")
    if isinstance(url, str) and url:
        return f"The {label} post is already published: {url}"
    return f"The {label} post is already published (the platform gave no link to it)."


def _compatible_types(platform: str) -> frozenset[str]:
    return kinds_for_target(platform)


def publishing_connection_resolve(
    *, workflow: Workflow, platform: str, connection: PlatformConnection | None = None
) -> PlatformConnection:
    """The connection a job for `platform` publishes through.

    An explicit one must be the workflow owner's, active and able to publish that platform. Without
    one: the owner's default connection if it fits, else the most recently used fitting one.
    """
    types = _compatible_types(platform)
    label = Platform(platform).label
    if connection is not None:
        connection = PlatformConnection.objects.filter(pk=connection.pk, user_id=workflow.user_id).first()
        if connection is None:
            raise ValidationError({"platform_connection": "No such connection for this workflow's owner."})
        if connection.platform_type not in types:
            raise ValidationError(
                {
                    "platform_connection": f"A {connection.get_platform_type_display()} connection "
                    f"cannot publish to {label}."
                }
            )
        if not connection.is_active:
            raise ValidationError({"platform_connection": "The connection is disabled; enable it first."})
        return connection
    fitting = PlatformConnection.objects.filter(
        user_id=workflow.user_id, is_active=True, platform_type__in=types
    )
    default = connection_default(owner=workflow.user)
    if default is not None and default.is_active and default.platform_type in types:
        return default
    chosen = fitting.order_by(F("last_used").desc(nulls_last=True), "-created_at", "-pk").first()
    if chosen is None:
        raise ValidationError(
            {"platform_connection": f"Connect an account that can publish to {label} first (none is active)."}
        )
    return chosen


def publishing_options_clean(*, options: Any, connection: PlatformConnection) -> dict[str, Any]:
    """A job's publishing options for its connection, checked; ValidationError on `options`.
    The connection's kind says which options it takes (WordPress: status, category, tags,
    hashtags_as_tags); they win over the connection's own for this one publication."""
    if options is None or options == {}:
        return {}
    if not isinstance(options, dict):
        raise ValidationError({"options": "Must be a JSON object."})
    kind = connection.kind
    keys = kind.publishing_option_keys
    if not keys:
        takers = "; ".join(
            f"{other.label} ({', '.join(other.publishing_option_keys)})"
            for other in kinds()
            if other.publishing_option_keys
        )
        raise ValidationError(
            {
                "options": f"A {connection.get_platform_type_display()} connection takes no publishing "
                f"options; they are for {takers}."
            }
        )
    unknown = sorted(set(options) - set(keys))
    if unknown:
        raise ValidationError({"options": f"Unknown option(s): {', '.join(unknown)}. Use {', '.join(keys)}."})
    problems = kind.publishing_option_errors(options)
    if problems:
        raise ValidationError({"options": " ".join(problems.values())})
    return dict(options)


def _queue_publish(job_id: UUID) -> None:
    async_task(PUBLISH_TASK, str(job_id), task_name=f"publish-{job_id}", group="workflows")


# Creating and changing jobs ----------------------------------------------------------------------


def publishing_job_create(
    *,
    workflow: Workflow,
    platform: str,
    actor: User | None,
    scheduled_for: datetime | None = None,
    connection: PlatformConnection | None = None,
    options: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
) -> PublishingJob:
    """Queue (scheduled_for None) or schedule the publication of a platform's active draft;
    `options` (WordPress: status, category, tags, hashtags_as_tags) win over the connection's.

    Raises NotVisible (404) for a workflow the actor may not see; ValidationError on `platform`,
    `scheduled_for`, `platform_connection` or `options`; WorkflowNotPublishable, PublishingNotAccepted,
    PublishingAlreadyPublished and PublishingAlreadyScheduled (409) for the wrong state.
    """
    _ensure_visible(Workflow.objects.filter(pk=workflow.pk), actor=actor, what="workflow")
    if platform not in Platform.values:
        raise ValidationError({"platform": f"Choose one of: {', '.join(Platform.values)}."})
    if scheduled_for is not None:
        publishing_time_clean(scheduled_for)
    try:
        with transaction.atomic():
            workflow = Workflow.objects.select_related("user").get(pk=workflow.pk)
            state = _publishable_state(workflow=workflow, platform=platform, lock=True)
            connection = publishing_connection_resolve(
                workflow=workflow, platform=platform, connection=connection
            )
            media_gate_check(workflow=workflow, platform=platform, connection=connection)
            options = publishing_options_clean(options=options, connection=connection)
            live = PublishingJob.objects.filter(
                workflow=workflow, platform=platform, status__in=LIVE_PUBLISHING_STATUSES
            )
            if live.exists():
                raise PublishingAlreadyScheduled()
            job = PublishingJob.objects.create(
                workflow=workflow,
                platform=platform,
                draft=state.active_draft,
                platform_connection=connection,
                status=PublishingStatus.QUEUED if scheduled_for is None else PublishingStatus.SCHEDULED,
                scheduled_for=scheduled_for,
                options=options,
            )
            audit_log_write(
                action="publishing_job.created",
                actor=actor,
                target=job,
                meta=meta,
                details={
                    "draft": str(job.draft_id),
                    "platform_connection": connection.pk,
                    "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
                    "options": options,
                },
            )
            if scheduled_for is None:
                # robust: a broker failure must not undo a committed job; the dispatcher takes
                # queued jobs too, so it still goes out within a minute.
                transaction.on_commit(lambda: _queue_publish(job.pk), robust=True)
    except IntegrityError:
        # Another request created a live job between the check and the insert: uq_publishing_job_live.
        raise PublishingAlreadyScheduled() from None
    return job


def _ensure_changeable(job: PublishingJob) -> None:
    if job.status == PublishingStatus.PUBLISHING:
        raise PublishingJobInProgress()
    if job.status in TERMINAL_STATUSES:
        raise PublishingJobFinished(
            f"The job is {job.get_status_display().lower()}; it can no longer be changed."
        )


def publishing_job_cancel(
    *, job: PublishingJob, actor: User | None, meta: RequestMeta | None = None
) -> PublishingJob:
    """Cancel a queued or scheduled job (409 once it is publishing or finished)."""
    _ensure_visible(
        PublishingJob.objects.filter(pk=job.pk),
        actor=actor,
        what="publishing job",
        owner_field="workflow__user",
    )
    with transaction.atomic():
        job = row_lock(row=job, related=("workflow",))
        _ensure_changeable(job)
        previous = job.status
        now = timezone.now()
        job.status = PublishingStatus.CANCELLED
        job.completed_at = now
        job.error_message = "Cancelled by a user." if actor is not None else "Cancelled."
        job.save(update_fields=["status", "completed_at", "error_message", "updated_at"])
        audit_log_write(
            action="publishing_job.cancelled", actor=actor, target=job, meta=meta, details={"from": previous}
        )
    return job


def publishing_job_reschedule(
    *, job: PublishingJob, scheduled_for: datetime, actor: User | None, meta: RequestMeta | None = None
) -> PublishingJob:
    """Move a queued or scheduled job to another time; it becomes scheduled."""
    _ensure_visible(
        PublishingJob.objects.filter(pk=job.pk),
        actor=actor,
        what="publishing job",
        owner_field="workflow__user",
    )
    if scheduled_for is None:
        raise ValidationError({"scheduled_for": "Give the new time."})
    publishing_time_clean(scheduled_for)
    with transaction.atomic():
        job = row_lock(row=job, related=("workflow",))
        _ensure_changeable(job)
        previous = job.scheduled_for
        job.status = PublishingStatus.SCHEDULED
        job.scheduled_for = scheduled_for
        job.save(update_fields=["status", "scheduled_for", "updated_at"])
        audit_log_write(
            action="publishing_job.rescheduled",
            actor=actor,
            target=job,
            meta=meta,
            details={
                "from": previous.isoformat() if previous else None,
                "to": scheduled_for.isoformat(),
            },
        )
    return job


def publishing_job_retry(
    *, job: PublishingJob, actor: User | None, meta: RequestMeta | None = None
) -> PublishingJob:
    """Queue a failed job again, now, with the same idempotency key (so a platform that saw the first
    try can dedupe it) and its attempt count (so the next attempt checks the platform first)."""
    _ensure_visible(
        PublishingJob.objects.filter(pk=job.pk),
        actor=actor,
        what="publishing job",
        owner_field="workflow__user",
    )
    try:
        with transaction.atomic():
            job = row_lock(row=job, related=("workflow",))
            if job.status != PublishingStatus.FAILED:
                raise PublishingJobNotFailed(
                    f"The job is {job.get_status_display().lower()}; only a failed job can be retried."
                )
            _publishable_state(workflow=job.workflow, platform=job.platform, lock=True)
            if (
                PublishingJob.objects.filter(
                    workflow_id=job.workflow_id, platform=job.platform, status__in=LIVE_PUBLISHING_STATUSES
                )
                .exclude(pk=job.pk)
                .exists()
            ):
                raise PublishingAlreadyScheduled()
            previous_error = job.error_message
            job.status = PublishingStatus.QUEUED
            job.scheduled_for = None
            job.error_message = None
            job.response_data = None
            job.completed_at = None
            job.heartbeat_at = None
            # uq_publishing_job_live may still refuse it if a job was created meanwhile.
            job.save(
                update_fields=[
                    "status",
                    "scheduled_for",
                    "error_message",
                    "response_data",
                    "completed_at",
                    "heartbeat_at",
                    "updated_at",
                ]
            )
            audit_log_write(
                action="publishing_job.retried",
                actor=actor,
                target=job,
                meta=meta,
                details={"attempts": job.attempts, "previous_error": previous_error},
            )
            transaction.on_commit(lambda: _queue_publish(job.pk), robust=True)
    except IntegrityError:
        raise PublishingAlreadyScheduled() from None
    return job


# Claiming ----------------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(status=PublishingStatus.QUEUED) | Q(status=PublishingStatus.SCHEDULED, scheduled_for__lte=now)


def _claim(job_id, *, due: Q, now: datetime) -> bool:
    """The conditional UPDATE: True only for the one caller that moved the job to publishing."""
    return bool(
        PublishingJob.objects.filter(due, pk=job_id).update(
            status=PublishingStatus.PUBLISHING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )


def publishing_job_claim_next(*, now: datetime | None = None, exclude: set | None = None) -> UUID | None:
    """Claim the next due job (queued, or scheduled for `now` or earlier) and return its id; None
    when nothing is due. Ids in `exclude` (a set, extended with every id tried) are not tried again."""
    now = now or timezone.now()
    exclude = exclude if exclude is not None else set()
    due = _due(now)
    candidates = (
        PublishingJob.objects.filter(due)
        .exclude(pk__in=exclude)
        .order_by(F("scheduled_for").asc(nulls_first=True), "created_at", "pk")
    )
    with transaction.atomic():
        if db_connection.features.has_select_for_update_skip_locked:
            # Rows another dispatcher is claiming right now are skipped rather than waited for.
            candidates = candidates.select_for_update(skip_locked=True)
        for job_id in candidates.values_list("pk", flat=True)[:10]:
            exclude.add(job_id)
            if _claim(job_id, due=due, now=now):
                return job_id
    return None


def publishing_jobs_dispatch_due(*, limit: int = 10, now: datetime | None = None) -> int:
    """Take back stale jobs, then claim and publish up to `limit` due jobs, one after the other.
    Returns how many jobs this call claimed (and ran).

    It stops claiming once half of the shorter of the task timeout and PUBLISHING_JOB_TIMEOUT has
    passed (but always takes one job): the next tick takes the rest, and no job waits claimed
    behind slow platforms until the recovery mistakes it for one whose worker died.
    """
    publishing_jobs_recover_stale(now=now)
    now = now or timezone.now()
    budget = min(int(settings.Q_CLUSTER.get("timeout") or 300), int(settings.PUBLISHING_JOB_TIMEOUT)) / 2
    deadline = time.monotonic() + budget
    tried: set = set()
    ran = 0
    while ran < limit and (ran == 0 or time.monotonic() < deadline):
        job_id = publishing_job_claim_next(now=now, exclude=tried)
        if job_id is None:
            break
        ran += 1
        _run_claimed(job_id)
    return ran


def publishing_job_publish(*, job_id: UUID | str) -> PublishingJob | None:
    """Claim a queued job and publish it. None when it is not queued any more (claimed by someone
    else, cancelled, rescheduled or finished), so a redelivered task does nothing."""
    if not _claim(job_id, due=Q(status=PublishingStatus.QUEUED), now=timezone.now()):
        logger.info("Publishing job %s is not queued (claimed, changed or finished): nothing to do", job_id)
        return None
    return _run_claimed(job_id)


# Publishing a claimed job ------------------------------------------------------------------------


def _run_claimed(job_id) -> PublishingJob:
    """Publish a job this worker claimed; whatever happens, it does not stay `publishing` because of
    an error of ours (a database failure is left to the stale-job recovery)."""
    job = PublishingJob.objects.select_related("workflow", "draft", "platform_connection").get(pk=job_id)
    try:
        _Publishing(job).run()
    except Exception:
        logger.exception("Publishing job %s failed unexpectedly", job_id)
        _Publishing(job).end_failed(
            "Publishing failed unexpectedly; the post may or may not exist: check the platform.",
            error={"reason": "error", "status": None, "ambiguous": True},
        )
    return PublishingJob.objects.get(pk=job_id)


def _source_title(workflow: Workflow) -> str | None:
    for data in (workflow.source_content, (workflow.template_input or {}).get("fields")):
        if isinstance(data, dict) and str(data.get("title") or "").strip():
            return str(data["title"]).strip()
    return None


class _Publishing:
    """One claimed job: re-check, publish, record. Every write is conditional on the job still
    being this attempt's (`publishing` with the claimed attempt count)."""

    def __init__(self, job: PublishingJob):
        self.job = job
        self.attempt = job.attempts

    def _mine(self):
        return PublishingJob.objects.filter(
            pk=self.job.pk, status=PublishingStatus.PUBLISHING, attempts=self.attempt
        )

    def run(self) -> None:
        job = self.job
        workflow = Workflow.objects.get(pk=job.workflow_id)
        if workflow.status in STOPPED_WORKFLOW_STATUSES:
            self.end_cancelled(f"The workflow was {workflow.get_status_display().lower()} before publishing.")
            return
        state = (
            PlatformState.objects.select_related("active_draft")
            .filter(workflow_id=job.workflow_id, platform=job.platform)
            .first()
        )
        if state is None or state.status != PlatformStatus.ACCEPTED:
            shown = "gone" if state is None else state.get_status_display().lower()
            self.end_cancelled(f"The {job.get_platform_display()} draft is {shown}, no longer accepted.")
            return
        draft = state.active_draft
        if draft is None:
            self.end_cancelled(f"The {job.get_platform_display()} platform has no active draft any more.")
            return
        connection = job.platform_connection
        if connection is None:
            self.end_failed(
                "The platform connection was deleted; choose another connection and publish again.",
                error={"reason": "no_connection", "status": None},
            )
            return
        if not connection.is_active:
            self.end_failed(
                f"The connection “{connection.name}” is disabled; enable it and retry.",
                error={"reason": "connection_disabled", "status": None},
            )
            return
        if connection.platform_type not in _compatible_types(job.platform):
            self.end_failed(
                f"The connection “{connection.name}” can no longer publish to {job.get_platform_display()}.",
                error={"reason": "connection_incompatible", "status": None},
            )
            return
        if draft.pk != job.draft_id:
            # The user edited (or accepted another draft) after scheduling: publish what is current.
            if not self._mine().update(draft=draft, heartbeat_at=timezone.now(), updated_at=timezone.now()):
                return
            logger.info("Publishing job %s now sends draft %s instead of %s", job.pk, draft.pk, job.draft_id)
            job.draft = draft
        elif not self._mine().update(heartbeat_at=timezone.now()):
            return  # taken back by the stale-job recovery meanwhile: the next attempt will check
        # Checked again at send time: alt text edited after scheduling needs approving again.
        problems = media_gate_problems(workflow=workflow, platform=job.platform, connection=connection)
        if problems:
            self.end_failed(
                "Not published: " + " ".join(problems),
                error={"reason": "alt_text_not_approved", "status": None},
            )
            return
        publication = Publication(
            text=draft.content,
            title=_source_title(workflow) if writing_rules(job.platform).form == Form.ARTICLE else None,
            idempotency_key=job.idempotency_key,
            options=job.options if isinstance(job.options, dict) else {},
            # Signed, expiring links for receivers that fetch the files themselves (the webhook).
            media=media_items(
                workflow=workflow,
                platform=job.platform,
                url_of=lambda attachment: signed_media_url(storage_key=attachment.storage_key),
            ),
        )
        self.publish(connection, publication)

    def publish(self, connection: PlatformConnection, publication: Publication) -> None:
        try:
            # The health gate: a connection known to be expired or revoked holds the job; an OAuth
            # token about to expire is refreshed first (platforms.health).
            connection_ready(connection=connection)
            try:
                found, published = self._send(connection, publication)
            except PlatformAuthError as exc:
                if exc.status != 401 or not connection_can_refresh(connection=connection):
                    raise
                # An X or LinkedIn token refused before its time (revoked early, clock skew): a
                # 401 means nothing was posted, so renew it and try once more.
                connection_token_refresh(connection=connection, refused_token=True)
                found, published = self._send(connection, publication)
        except PlatformAuthError as exc:
            noted = connection_health_note_error(connection=connection, exc=exc)
            if isinstance(exc, ConnectionBroken) or noted in BROKEN_HEALTH:
                self.end_held(connection, status=exc.status)
                return
            self.end_failed(str(exc), error=_error_of(exc))
            return
        except PlatformUnavailableError as exc:
            self.end_unavailable(exc)
            return
        except PlatformError as exc:
            self.end_failed(str(exc), error=_error_of(exc))
            return
        self.end_published(connection, published, recovered=found is not None)

    def _send(
        self, connection: PlatformConnection, publication: Publication
    ) -> tuple[Published | None, Published]:
        """(the post an earlier attempt made, or None; the post)."""
        publisher = publisher_for(connection)
        found = None
        if self.attempt > 1:
            # An earlier attempt may have posted before it failed or its worker died.
            found = publisher.find_published(publication)
        return found, found or publisher.publish(publication)

    # Endings ----------------------------------------------------------------------------------

    def end_published(self, connection: PlatformConnection, published: Published, *, recovered: bool) -> None:
        job = self.job
        now = timezone.now()
        response = {
            "post_id": published.post_id,
            "url": published.url,
            "platform_type": published.platform_type,
            "connection_id": connection.pk,
            "details": published.details,
            "recovered": recovered,
        }
        with transaction.atomic():
            # Also when the stale-job recovery re-queued it meanwhile: the post exists, so record it
            # rather than make the next attempt look for it.
            changed = PublishingJob.objects.filter(
                Q(status=PublishingStatus.PUBLISHING, attempts=self.attempt)
                | Q(status__in=CHANGEABLE_STATUSES),
                pk=job.pk,
            ).update(
                status=PublishingStatus.PUBLISHED,
                draft=job.draft,
                published_at=now,
                completed_at=now,
                heartbeat_at=now,
                response_data=response,
                error_message=None,
                updated_at=now,
            )
            if not changed:
                logger.warning(
                    "Publishing job %s published post %s but was changed meanwhile", job.pk, published.post_id
                )
                return
            PlatformState.objects.filter(
                workflow_id=job.workflow_id, platform=job.platform, status=PlatformStatus.ACCEPTED
            ).update(status=PlatformStatus.PUBLISHED, error_message=None, updated_at=now)
            # No service writes last_used alone (connection_verify sets it as part of a check): one
            # column, so no stale encrypted field is written back.
            PlatformConnection.objects.filter(pk=connection.pk).update(last_used=now)
            audit_log_write(
                action="publishing_job.published",
                actor=None,
                target=job,
                meta=None,
                details={
                    "post_id": published.post_id,
                    "url": published.url,
                    "draft": str(job.draft_id),
                    "attempts": self.attempt,
                    "recovered": recovered,
                },
            )
            scheduled_publish_went_out_notify(job=job, post_url=published.url)
        workflow_refresh_status(workflow=job.workflow)

    def end_cancelled(self, reason: str) -> None:
        now = timezone.now()
        with transaction.atomic():
            if self._mine().update(
                status=PublishingStatus.CANCELLED, completed_at=now, error_message=reason, updated_at=now
            ):
                audit_log_write(
                    action="publishing_job.cancelled",
                    actor=None,
                    target=self.job,
                    meta=None,
                    details={"from": PublishingStatus.PUBLISHING, "reason": reason},
                )

    def end_failed(self, message: str, *, error: dict[str, Any]) -> None:
        now = timezone.now()
        with transaction.atomic():
            if self._mine().update(
                status=PublishingStatus.FAILED,
                completed_at=now,
                error_message=message,
                response_data={"error": error},
                updated_at=now,
            ):
                audit_log_write(
                    action="publishing_job.failed",
                    actor=None,
                    target=self.job,
                    meta=None,
                    details={"attempts": self.attempt, **error},
                )
                if error.get("reason") != HELD_REASON:
                    # A held job is not news of its own: the owner was told once that the
                    # connection broke, and the job goes again by itself after reconnecting.
                    publish_failed_notify(job=self.job, attempt=self.attempt, message=message)

    def end_held(self, connection: PlatformConnection, *, status: int | None) -> None:
        """The connection is broken (expired or revoked): the job fails with the reason
        `connection_broken` and waits; when the connection works again,
        `publishing_jobs_resume_for_connection` queues it again."""
        self.end_failed(
            broken_message(connection),
            error={
                "reason": HELD_REASON,
                "status": status,
                "health": connection.health,
                "connection_id": connection.pk,
            },
        )

    def end_unavailable(self, exc: PlatformUnavailableError) -> None:
        """Try again later while attempts are left (as a scheduled job), else fail."""
        error = _error_of(exc)
        if self.attempt >= int(settings.PUBLISHING_MAX_ATTEMPTS):
            self.end_failed(f"{exc} Gave up after {self.attempt} attempts.", error=error)
            return
        now = timezone.now()
        wait = REQUEUE_BACKOFF.delay(self.attempt, retry_after=getattr(exc, "retry_after", None))
        # Keep the error on the job: the calendar and the admin show why it is waiting.
        if self._mine().update(
            status=PublishingStatus.SCHEDULED,
            scheduled_for=now + timedelta(seconds=wait),
            error_message=str(exc),
            response_data={"error": error},
            heartbeat_at=None,
            updated_at=now,
        ):
            logger.info("Publishing job %s: platform unavailable, next attempt in %.0f s", self.job.pk, wait)


def publishing_jobs_resume_for_connection(connection: PlatformConnection) -> int:
    """Queue again the jobs held because `connection` was broken (it works again); each keeps its
    idempotency key and attempt count, as a manual retry does. A job that can no longer go (its
    draft changed state, another live job took its place) stays failed. Returns how many."""
    held = PublishingJob.objects.filter(
        platform_connection_id=connection.pk,
        status=PublishingStatus.FAILED,
        response_data__error__reason=HELD_REASON,
    ).order_by("created_at")
    resumed = 0
    for job in held:
        try:
            publishing_job_retry(job=job, actor=None)
        except (ValidationError, Conflict) as exc:
            logger.info("Held publishing job %s was not resumed: %s", job.pk, exc)
            continue
        resumed += 1
    return resumed


def _error_of(exc: PlatformError) -> dict[str, Any]:
    return {
        "reason": getattr(exc, "reason", "error"),
        "status": getattr(exc, "status", None),
        "ambiguous": bool(getattr(exc, "ambiguous", False)),
    }


# Stale jobs --------------------------------------------------------------------------------------


def publishing_jobs_recover_stale(*, now: datetime | None = None) -> int:
    """Jobs left `publishing` with no heartbeat for PUBLISHING_JOB_TIMEOUT seconds (their worker
    died): re-queued while attempts are left (the next attempt asks the platform before posting),
    else failed. Returns how many were taken back."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=int(settings.PUBLISHING_JOB_TIMEOUT))
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    stale = PublishingJob.objects.filter(silent, status=PublishingStatus.PUBLISHING)
    max_attempts = int(settings.PUBLISHING_MAX_ATTEMPTS)
    recovered = 0
    for job in stale.only("pk", "workflow_id", "platform", "attempts"):
        rows = PublishingJob.objects.filter(
            silent, pk=job.pk, status=PublishingStatus.PUBLISHING, attempts=job.attempts
        )
        error = {"reason": "worker_stopped", "status": None, "ambiguous": True}
        with transaction.atomic():
            if job.attempts < max_attempts:
                changed = rows.update(
                    status=PublishingStatus.QUEUED,
                    error_message=STALE_MESSAGE
                    + " It is queued again; the platform is checked before posting.",
                    response_data={"error": error},
                    heartbeat_at=None,
                    updated_at=now,
                )
                action = "publishing_job.requeued"
            else:
                changed = rows.update(
                    status=PublishingStatus.FAILED,
                    error_message=STALE_MESSAGE,
                    response_data={"error": error},
                    completed_at=now,
                    updated_at=now,
                )
                action = "publishing_job.failed"
            if changed:
                audit_log_write(
                    action=action,
                    actor=None,
                    target=job,
                    meta=None,
                    details={"attempts": job.attempts, **error},
                )
                if action == "publishing_job.failed":
                    publish_failed_notify(job=job, attempt=job.attempts, message=STALE_MESSAGE)
                recovered += 1
    if recovered:
        logger.warning("Took back %d publishing job(s) whose worker went silent", recovered)
    return recovered
