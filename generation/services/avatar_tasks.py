"""Persona dataset tasks ("avatar tasks", seed 004): create, run, retry, delete, recover.

A task's life: `avatar_task_create` (pending, an 8-character `task_id`, queued once the
transaction commits) → `avatar_task_run` in a worker: generating-data (personas written batch by
batch) → generating-images (a base image and its variations per persona) → completed; any failure
→ failed with `error_log`. `completed_at` is set at either end. Data-generated is where a task
with all its personas waits for a run that starts at the images (a retry, the reaper); a run that
wrote the personas goes straight on.

Why it is built this way:
- django-q delivers at least once, so a run claims its step with a conditional UPDATE on the task
  row alone (pending → generating-data, data-generated → generating-images): a second delivery, or
  a second worker, claims nothing and returns.
- Nothing is generated twice. Personas are written batch by batch with unique positions per task,
  and a run starts from the count already present; images are recorded per persona after each call
  (generation.personas.images). So a run stopped anywhere (crash, timeout kill, the reaper, a retry)
  resumes where it stopped.
- Heartbeat and counters are small UPDATEs made only while the task is in the step's status: the
  same UPDATE tells the run to stop when the task was failed, deleted or taken back meanwhile. The
  UPDATE that ends a step is conditional the same way and carries its last heartbeat. The claim
  returns the personas' images with the row, so a task with nothing left to do (a redelivery, a
  resumed run) costs two statements, the claim and completed, before its owner is told
  (benchmark `queue_drain`). Its commits are durable like any other.
- `avatar_task_cancel` stops a task: a waiting one (pending, data-generated) at once, a running
  one at its next heartbeat, which comes before every batch of personas and every image call: the
  task is `cancelled` and that heartbeat, conditional on the step's status, stops the run. What
  it made stays (personas, images and their counters).
- `avatar_task_recover_stale` (every 5 minutes) takes back tasks whose heartbeat is older than
  AVATAR_TASK_TIMEOUT seconds and queues them again, up to AVATAR_TASK_MAX_ATTEMPTS runs; then it
  fails them. Queued tasks whose message was lost are queued again (a duplicate claims nothing).
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.selectors import visible_to
from accounts.services.audit import audit_log_write
from core.ai import AIError
from core.locking import row_lock
from core.sql import columns_of, instance_from_row, names
from core.stored_files import stored_files_delete_on_commit
from generation.backends.base import ImageBackendError
from generation.errors import (
    AvatarTaskNotCancellable,
    AvatarTaskNotFound,
    AvatarTaskNotRetryable,
    AvatarTaskRunning,
)
from generation.models import (
    MAX_PERSONAS_PER_TASK,
    GeneratedPersona,
    GenerationTask,
    ImagesPerPersona,
    TaskStatus,
)
from generation.personas.data import MAX_BATCH, PersonaWriter, persona_writer_for
from generation.services.notifications import avatar_task_ended_notify

logger = logging.getLogger(__name__)

RUN_TASK = "generation.tasks.run_avatar_task"
TASK_ID_LENGTH = 8
DESCRIPTION_MAX_CHARS = 5000
LANGUAGE_MAX_CHARS = 100
# Consecutive answers without one usable persona before the data step gives up.
MAX_UNUSABLE_ANSWERS = 3
ERROR_LOG_MAX_CHARS = 4000
RUNNING_STATUSES = (TaskStatus.GENERATING_DATA, TaskStatus.GENERATING_IMAGES)
WAITING_STATUSES = (TaskStatus.PENDING, TaskStatus.DATA_GENERATED)
CANCELLABLE_STATUSES = (*WAITING_STATUSES, *RUNNING_STATUSES)
FINISHED_STATUSES = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)
# Where a task taken back from a dead worker resumes.
RESUME_STATUS = {
    TaskStatus.GENERATING_DATA: TaskStatus.PENDING,
    TaskStatus.GENERATING_IMAGES: TaskStatus.DATA_GENERATED,
}


class _Stopped(Exception):
    """The task left the step's status meanwhile (failed by the reaper, deleted): stop quietly."""


# --- creating ------------------------------------------------------------------------------------


def avatar_task_id_new() -> str:
    return uuid.uuid4().hex[:TASK_ID_LENGTH]


def avatar_task_validate(
    *, persona_description: Any, bio_language: Any, number_to_generate: Any, images_per_persona: Any
) -> dict[str, Any]:
    """The cleaned fields, or ValidationError naming every bad one."""
    errors: dict[str, str] = {}
    description = persona_description.strip() if isinstance(persona_description, str) else ""
    if not description:
        errors["persona_description"] = "Describe the personas (1 to 5000 characters)."
    elif len(description) > DESCRIPTION_MAX_CHARS:
        errors["persona_description"] = f"At most {DESCRIPTION_MAX_CHARS} characters."
    language = " ".join(bio_language.split()) if isinstance(bio_language, str) else ""
    if not language:
        errors["bio_language"] = "Name the language of the bios (e.g. English or de)."
    elif len(language) > LANGUAGE_MAX_CHARS:
        errors["bio_language"] = f"At most {LANGUAGE_MAX_CHARS} characters."
    if isinstance(number_to_generate, bool) or not isinstance(number_to_generate, int):
        errors["number_to_generate"] = "A whole number from 1 to 300."
    elif not 1 <= number_to_generate <= MAX_PERSONAS_PER_TASK:
        errors["number_to_generate"] = f"Between 1 and {MAX_PERSONAS_PER_TASK} personas."
    if isinstance(images_per_persona, bool) or images_per_persona not in ImagesPerPersona.values:
        errors["images_per_persona"] = "4 or 8 images per persona."
    if errors:
        raise ValidationError(errors)
    return {
        "persona_description": description,
        "bio_language": language,
        "number_to_generate": number_to_generate,
        "images_per_persona": images_per_persona,
    }


def _queue(task_id: str) -> None:
    async_task(
        RUN_TASK,
        task_id,
        task_name=f"avatar-task-{task_id}",
        group="generation",
        # The cluster's default timeout would kill a long image step; the claim makes a redelivery
        # of a task still running harmless, and a killed run resumes.
        timeout=int(settings.AVATAR_TASK_RUN_TIMEOUT),
    )


def _queue_on_commit(task_id: str) -> None:
    # robust: a broker failure must not turn a committed task into a 500; the reaper queues it again.
    transaction.on_commit(lambda: _queue(task_id), robust=True)


def avatar_task_create(
    *,
    user: User,
    persona_description: str,
    bio_language: str,
    number_to_generate: int,
    images_per_persona: int,
    meta: RequestMeta | None = None,
) -> GenerationTask:
    """Queue a persona dataset task for `user`. ValidationError names each bad field."""
    fields = avatar_task_validate(
        persona_description=persona_description,
        bio_language=bio_language,
        number_to_generate=number_to_generate,
        images_per_persona=images_per_persona,
    )
    for attempt in range(5):
        try:
            with transaction.atomic():
                task = GenerationTask.objects.create(
                    task_id=avatar_task_id_new(), user=user, status=TaskStatus.PENDING, **fields
                )
                audit_log_write(
                    action="avatar_task.created",
                    actor=user,
                    target=task,
                    meta=meta,
                    details={
                        "number_to_generate": task.number_to_generate,
                        "images_per_persona": task.images_per_persona,
                        "bio_language": task.bio_language,
                    },
                )
                _queue_on_commit(task.task_id)
            return task
        except IntegrityError:
            # Another task drew the same 8 characters (1 in 4 billion): draw again.
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


# --- retrying and deleting -----------------------------------------------------------------------


def avatar_task_retry(
    *, task: GenerationTask, actor: User, meta: RequestMeta | None = None
) -> GenerationTask:
    """Queue a failed task again; it resumes after what was already generated (409 otherwise)."""
    with transaction.atomic():
        task = row_lock(row=task)
        if task.status != TaskStatus.FAILED:
            raise AvatarTaskNotRetryable(
                f"The task is {task.get_status_display().lower()}; only a failed task can be retried."
            )
        personas = GeneratedPersona.objects.filter(task=task).count()
        resume = TaskStatus.PENDING if personas < task.number_to_generate else TaskStatus.DATA_GENERATED
        now = timezone.now()
        GenerationTask.objects.filter(pk=task.pk).update(
            status=resume, attempts=0, completed_at=None, heartbeat_at=None, updated_at=now
        )
        audit_log_write(
            action="avatar_task.retried",
            actor=actor,
            target=task,
            meta=meta,
            details={"resume_from": resume, "previous_error": (task.error_log or "")[:200]},
        )
        _queue_on_commit(task.task_id)
    task.refresh_from_db()
    return task


def avatar_task_delete(*, task: GenerationTask, actor: User, meta: RequestMeta | None = None) -> None:
    """Delete a task that is not running, its personas, and (after commit) their image files:
    the recorded ones and anything else in the task's folder (an interrupted run's unrecorded
    files)."""
    with transaction.atomic():
        task = row_lock(row=task)
        if task.status in RUNNING_STATUSES:
            raise AvatarTaskRunning()
        keys = [
            key
            for images in GeneratedPersona.objects.filter(task=task).values_list("images", flat=True)
            for key in (images or [])
            if isinstance(key, str)
        ]
        audit_log_write(
            action="avatar_task.deleted",
            actor=actor,
            target=task,
            meta=meta,
            details={"status": task.status, "personas": task.personas_generated, "images": len(keys)},
        )
        task.delete()
        # A file already gone or a storage failure must not fail the deletion (core.stored_files).
        stored_files_delete_on_commit(names=[*keys, f"personas/{task.task_id}/"])


# --- cancelling ----------------------------------------------------------------------------------


def avatar_task_cancel(
    *, task: GenerationTask, actor: User, meta: RequestMeta | None = None
) -> GenerationTask:
    """Cancel a task the actor may see: a waiting one at once, a running one at its next step
    (before the next batch of personas or image call); what it made stays. Cancelling a
    cancelled task changes nothing; a completed or failed one is AvatarTaskNotCancellable (409),
    another user's AvatarTaskNotFound (404)."""
    if not visible_to(GenerationTask.objects.filter(pk=task.pk), user=actor).exists():
        raise AvatarTaskNotFound()
    with transaction.atomic():
        task = row_lock(row=task)
        if task.status == TaskStatus.CANCELLED:
            return task
        if task.status not in CANCELLABLE_STATUSES:
            raise AvatarTaskNotCancellable(
                f"The task is {task.get_status_display().lower()}; it cannot be cancelled."
            )
        previous = task.status
        now = timezone.now()
        # The run's next heartbeat is conditional on its step's status: this stops it.
        GenerationTask.objects.filter(pk=task.pk).update(
            status=TaskStatus.CANCELLED, completed_at=now, updated_at=now
        )
        audit_log_write(
            action="avatar_task.cancelled",
            actor=actor,
            target=task,
            meta=meta,
            details={
                "from": previous,
                "personas": task.personas_generated,
                "images": task.images_generated,
            },
        )
    task.refresh_from_db()
    return task


# --- running -------------------------------------------------------------------------------------


# Each persona's position, id, images and image errors as one JSON array: what the claim needs to
# tell which personas still miss images without reading them again. Per backend, as JSON
# aggregates are; ordered by position in Python.
_PERSONAS_IMAGES_SQL = {
    "postgresql": "json_agg(json_build_array({position}, {id}, {images}, {image_errors}))",
    "sqlite": "json_group_array(json_array({position}, {id}, json({images}), json({image_errors})))",
}


@functools.cache
def _claim_sql(vendor: str) -> str:
    task, personas = names(GenerationTask), names(GeneratedPersona)
    persona = {name: personas.of(name) for name in ("task", "position", "id", "images", "image_errors")}
    of_task = f"FROM {personas.table} WHERE {persona['task']} = {task.of('id')}"
    images = _PERSONAS_IMAGES_SQL.get(vendor)
    images = f"(SELECT {images.format(**persona)} {of_task})" if images else "NULL"
    # The model's own table and column names only; every value is a parameter.
    return (
        f"UPDATE {task.table} SET {task['status']} = %s, {task['heartbeat_at']} = %s, "  # noqa: S608
        f"{task['updated_at']} = %s, {task['started_at']} = COALESCE({task['started_at']}, %s), "
        f"{task['completed_at']} = NULL, {task['attempts']} = {task['attempts']} + %s "
        f"WHERE {task['task_id']} = %s AND {task['status']} = %s "
        f"RETURNING {columns_of(GenerationTask)}, (SELECT COUNT(*) {of_task}), {images}"
    )


def _claim(task_id: str, *, source: str, target: str, count_attempt: bool) -> GenerationTask | None:
    """Move the task from `source` to `target` if it is there; the claimed row, or None. The row
    carries `personas_present`, the task's personas at the claim (where the data step starts), and
    `personas_images`, their images as `_images_left` reads them (None on other backends).

    One UPDATE ... RETURNING (PostgreSQL, SQLite 3.35+) rather than an UPDATE and three SELECTs:
    the ORM has no UPDATE that returns rows, and on a queue of short tasks every statement and
    every query built shows (docs/performance.md, `queue_drain`).
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [target, now, now, now, int(count_attempt), task_id, source]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor), params)
        row = cursor.fetchone()
    if row is None:
        return None
    *columns, present, images = row
    task = instance_from_row(GenerationTask, columns)
    task.personas_present, task.personas_images = present, images
    return task


def avatar_task_run(*, task_id: str, writer: PersonaWriter | None = None, image_backend=None) -> str | None:
    """Run whatever step the task is queued for: the data step when pending, then the image step.

    Safe to call twice: only a pending or data-generated task is claimed. `writer` and
    `image_backend` default to the configured ones (tests inject these). Returns the final status
    (None when there was nothing to claim).
    """
    left: list[int] | None = None
    task = _claim(task_id, source=TaskStatus.PENDING, target=TaskStatus.GENERATING_DATA, count_attempt=True)
    if task is not None:

        def data_step_then_plan() -> None:
            nonlocal left
            present = task.personas_present
            _data_step(task, writer)
            # The claim's view of the images holds while the step wrote no persona: nothing else
            # writes a claimed task's personas.
            left = _claimed_left(task) if task.personas_generated == present else _images_left(task)

        if not _guarded(task, TaskStatus.GENERATING_DATA, data_step_then_plan):
            return _status(task)
        if not left:
            # Every image is recorded already (a resumed run, a redelivery): the data step's end
            # and completion in one conditional UPDATE. Each is a commit a queue of short tasks
            # waits for.
            return _complete(task, TaskStatus.GENERATING_DATA, personas_generated=task.personas_generated)
        # Straight on to the images in one conditional UPDATE: the data step's last heartbeat and
        # count, and the image step's claim (the same run keeps the task, so the attempt is not
        # counted again).
        now = timezone.now()
        moved = _step_update(
            task,
            TaskStatus.GENERATING_DATA,
            status=TaskStatus.GENERATING_IMAGES,
            personas_generated=task.personas_generated,
            heartbeat_at=now,
            updated_at=now,
        )
        if not moved:
            _stopped(task, TaskStatus.GENERATING_DATA)
            return _status(task)
    else:
        task = _claim(
            task_id, source=TaskStatus.DATA_GENERATED, target=TaskStatus.GENERATING_IMAGES, count_attempt=True
        )
    if task is None:
        logger.info("Avatar task %s is not queued (claimed, failed or done): nothing to do", task_id)
        return None
    if not _guarded(task, TaskStatus.GENERATING_IMAGES, lambda: _image_step(task, image_backend, left=left)):
        return _status(task)
    return _complete(task, TaskStatus.GENERATING_IMAGES)


def _complete(task: GenerationTask, step_status: str, **fields: Any) -> str | None:
    """Completed, conditional on the step's status as a heartbeat is: it doubles as the last one."""
    now = timezone.now()
    if not _step_update(
        task,
        step_status,
        status=TaskStatus.COMPLETED,
        completed_at=now,
        heartbeat_at=now,
        updated_at=now,
        **fields,
    ):
        _stopped(task, step_status)
        return _status(task)
    logger.info("Avatar task %s completed", task.task_id)
    # Ending the data step, the claimed row plus `fields` is the row as it is now (the claim
    # keeps others off it); after the image step its image counters moved in the database.
    if step_status == TaskStatus.GENERATING_DATA:
        ended = {"status": TaskStatus.COMPLETED, "completed_at": now, "heartbeat_at": now, "updated_at": now}
        for name, value in {**ended, **fields}.items():
            setattr(task, name, value)
        avatar_task_ended_notify(pk=task.pk, failed=False, task=task)
    else:
        avatar_task_ended_notify(pk=task.pk, failed=False)
    return TaskStatus.COMPLETED


def _status(task: GenerationTask | None) -> str | None:
    if task is None:
        return None
    return GenerationTask.objects.filter(pk=task.pk).values_list("status", flat=True).first()


def _guarded(task: GenerationTask, step_status: str, step) -> bool:
    """Run a step; True when it finished. Failures fail the task with a readable error_log."""
    try:
        step()
        return True
    except _Stopped:
        _stopped(task, step_status)
        return False
    except AIError as exc:
        message = f"Writing personas failed: {exc}"
        logger.warning("Avatar task %s: %s", task.task_id, message)
    except ImageBackendError as exc:
        message = f"Generating images failed: {exc}"
        logger.warning("Avatar task %s: %s", task.task_id, message)
    except Exception as exc:
        logger.exception("Avatar task %s failed unexpectedly", task.task_id)
        message = f"Unexpected error: {exc or type(exc).__name__}"
    _fail(task, step_status, message)
    return False


def _stopped(task: GenerationTask, step_status: str) -> None:
    """The task left the step meanwhile. A cancelled one keeps what the run made: its persona
    count is set from the rows (the step's heartbeat that would have counted them stopped it)."""
    logger.info("Avatar task %s left %s meanwhile; stopping", task.task_id, step_status)
    if step_status == TaskStatus.GENERATING_DATA:
        GenerationTask.objects.filter(pk=task.pk, status=TaskStatus.CANCELLED).update(
            personas_generated=GeneratedPersona.objects.filter(task=task).count()
        )


def _fail(task: GenerationTask, step_status: str, message: str) -> None:
    now = timezone.now()
    if _step_update(
        task,
        step_status,
        status=TaskStatus.FAILED,
        error_log=message[:ERROR_LOG_MAX_CHARS],
        completed_at=now,
        heartbeat_at=now,
        updated_at=now,
    ):
        avatar_task_ended_notify(pk=task.pk, failed=True)


@functools.cache
def _step_update_sql(vendor: str, names: tuple[str, ...]) -> str:
    del vendor  # the cache key: quoted for one backend
    quote = connection.ops.quote_name
    meta = GenerationTask._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    # The model's own table and column names only; every value is a parameter.
    return (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(meta.pk.column)} = %s AND {quote(meta.get_field('status').column)} = %s"
    )


def _step_update(task: GenerationTask, step_status: str, **fields: Any) -> bool:
    """Write `fields` to the task if it is still in `step_status`; whether it was. Every write a
    run makes to its task while it holds it (heartbeats, counters, the step's end) goes through
    here, so a task failed, cancelled or taken back meanwhile is never written over. Plain SQL
    written once per set of fields: the ORM builds its UPDATE on every call, which a queue of
    short tasks pays on each run (docs/performance.md, `queue_drain`)."""
    names = tuple(sorted(fields))
    meta = GenerationTask._meta
    params = [meta.get_field(name).get_db_prep_save(fields[name], connection) for name in names]
    with connection.cursor() as cursor:
        cursor.execute(_step_update_sql(connection.vendor, names), [*params, task.pk, step_status])
        return cursor.rowcount > 0


def _beat(task: GenerationTask, step_status: str, **fields: Any) -> None:
    """Heartbeat (and counters); _Stopped when the task is no longer in this step."""
    now = timezone.now()
    if not _step_update(task, step_status, heartbeat_at=now, updated_at=now, **fields):
        raise _Stopped()


def _data_step(task: GenerationTask, writer: PersonaWriter | None) -> None:
    """Write the missing personas; leaves their count in `task.personas_generated` for the caller's
    UPDATE that ends the step."""
    # Counted by the claim; nothing else writes a claimed task's personas.
    present = getattr(task, "personas_present", None)
    if present is None:
        present = GeneratedPersona.objects.filter(task=task).count()
    if present >= task.number_to_generate:
        task.personas_generated = present
        return
    personas = GeneratedPersona.objects.filter(task=task)
    if writer is None:
        # Only when there is something to write: the LLM writer reads four system settings.
        writer = persona_writer_for(seed=task.task_id, user=task.user)
    unusable = 0
    while present < task.number_to_generate:
        _beat(task, TaskStatus.GENERATING_DATA, personas_generated=present)
        count = min(MAX_BATCH, task.number_to_generate - present)
        names = [
            f"{first} {last}".strip()
            for first, last in personas.order_by("-position").values_list("first_name", "last_name")[:60]
        ]
        try:
            batch = writer.write(
                description=task.persona_description,
                language=task.bio_language,
                count=count,
                start=present,
                avoid_names=names,
            )
        except AIError as exc:
            if getattr(exc, "retry_reason", None) != "malformed":
                raise
            unusable += 1
            logger.info("Avatar task %s: unusable answer %d: %s", task.task_id, unusable, exc)
            if unusable >= MAX_UNUSABLE_ANSWERS:
                raise
            continue
        unusable = 0
        rows = [
            GeneratedPersona(task=task, position=present + offset, metadata=batch.metadata, **persona)
            for offset, persona in enumerate(batch.personas[:count])
        ]
        # A position another run wrote meanwhile is kept as it is (uq_generated_persona_position).
        GeneratedPersona.objects.bulk_create(rows, ignore_conflicts=True)
        present = personas.count()
    task.personas_generated = present


def _images_left(task: GenerationTask) -> list[int]:
    """The personas still missing images, in order, from one read of the two columns that say it:
    a task with nothing left (a resumed run, a redelivery) costs one query, not one per persona."""
    recorded = GeneratedPersona.objects.filter(task=task).values_list(
        "position", "pk", "images", "image_errors"
    )
    return _left_of(list(recorded), task=task)


def _claimed_left(task: GenerationTask) -> list[int]:
    """`_images_left` as the claim saw it (nothing else writes a claimed task's personas), or read
    when the claim could not carry it."""
    claimed = getattr(task, "personas_images", None)
    return _images_left(task) if claimed is None else _left_of(claimed, task=task)


def _left_of(personas: str | list, *, task: GenerationTask) -> list[int]:
    """The ids of `personas` ([position, id, images, image_errors] each, or their JSON) still
    missing images, by position."""
    from generation.personas.images import images_done

    if isinstance(personas, str):
        personas = json.loads(personas)
    planned = int(task.images_per_persona)
    return [
        pk
        for _position, pk, images, errors in sorted(personas or [], key=lambda persona: persona[0])
        if not images_done(images=images, image_errors=errors, planned=planned)
    ]


def _image_step(task: GenerationTask, image_backend, *, left: list[int] | None = None) -> None:
    """Generate the images the personas still miss (`left`, when the caller has just read it). The
    caller's completing UPDATE, conditional on the step's status, is the step's last heartbeat."""
    from generation.personas.images import PersonaImages, persona_images_done

    if left is None:
        left = _claimed_left(task)
    if not left:
        return
    if image_backend is None:
        from generation.backends import image_backend_for

        image_backend = image_backend_for(user=task.user)

    def keep_going() -> bool:
        _beat(task, TaskStatus.GENERATING_IMAGES)
        return True

    planned = int(task.images_per_persona)
    for persona_id in left:
        # Read fresh, whole: the prompt needs every trait.
        persona = GeneratedPersona.objects.filter(pk=persona_id).first()
        if persona is None or persona_images_done(persona, planned=planned):
            continue
        PersonaImages(task=task, persona=persona, backend=image_backend, keep_going=keep_going).run()


# --- the reaper ----------------------------------------------------------------------------------


def avatar_task_recover_stale(*, now: datetime | None = None) -> dict[str, int]:
    """Take back running tasks silent for AVATAR_TASK_TIMEOUT seconds: queue them again to resume,
    or fail them after AVATAR_TASK_MAX_ATTEMPTS runs. Also queue again pending or data-generated
    tasks nobody picked up within the timeout. Returns counts by outcome."""
    now = now or timezone.now()
    seconds = int(settings.AVATAR_TASK_TIMEOUT)
    max_attempts = max(1, int(settings.AVATAR_TASK_MAX_ATTEMPTS))
    cutoff = now - timedelta(seconds=seconds)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    outcome = {"requeued": 0, "failed": 0, "resent": 0}
    stale = GenerationTask.objects.filter(silent, status__in=RUNNING_STATUSES)
    for pk, task_id, status, attempts in stale.values_list("pk", "task_id", "status", "attempts"):
        rows = GenerationTask.objects.filter(silent, pk=pk, status=status)
        with transaction.atomic():
            if attempts >= max_attempts:
                changed = rows.update(
                    status=TaskStatus.FAILED,
                    error_log=(
                        f"The worker stopped responding (no heartbeat for {seconds} seconds) "
                        f"after {attempts} run(s); retry the task to resume it."
                    ),
                    completed_at=now,
                    updated_at=now,
                )
                outcome["failed"] += changed
                if changed:
                    avatar_task_ended_notify(pk=pk, failed=True)
            else:
                changed = rows.update(status=RESUME_STATUS[status], heartbeat_at=None, updated_at=now)
                if changed:
                    outcome["requeued"] += 1
                    _queue_on_commit(task_id)
    waiting = GenerationTask.objects.filter(
        status__in=(TaskStatus.PENDING, TaskStatus.DATA_GENERATED), updated_at__lt=cutoff
    )
    for pk, task_id in waiting.values_list("pk", "task_id"):
        # Touch it, so the next pass waits another timeout before sending it again.
        if GenerationTask.objects.filter(pk=pk, updated_at__lt=cutoff).update(updated_at=now):
            outcome["resent"] += 1
            _queue(task_id)
    if any(outcome.values()):
        logger.warning("Recovered avatar tasks: %s", outcome)
    return outcome
