"""Caption tasks: scan one connection for images without alt text and caption them in the background.

A task's life: `caption_task_create` (queued; one active task per owner and connection; a snapshot of
the owner's settings; handed to django-q once the transaction commits) → `caption_task_run` in a
worker → completed, failed or cancelled. `caption_task_cancel` flips the status; a running task
notices before its next image. `caption_task_fail_stale` fails tasks whose worker went silent.

Why it is built this way:
- django-q delivers at least once, so the run claims its row with a conditional UPDATE
  (queued → running): a redelivered message, or a second worker, finds nothing to claim and returns.
- The platform is read in the task's own thread (`MastodonApi`, or `BlueskyMediaClient` for
  Bluesky, whose images are listed and captioned but not posted back); only captioning
  fans out, to at most `settings.CAPTION_CONCURRENCY` threads, each keeping one database connection
  for the task, which the task's thread closes when the pool is done. With a concurrency of 1 the
  images are captioned in the task's thread.
- Progress, heartbeat and counters are small UPDATEs of their own columns, made only while the task is
  still `running`: a cancellation that arrives meanwhile is never overwritten, and the same UPDATE
  tells the task to stop. The final status is set only if the task is still running.
- Whatever goes wrong, the task ends failed with a readable `error_message` and its `ProcessingRun`
  closed with the counters so far: never left running.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.selectors import visible_to
from accounts.services.audit import audit_log_write
from captions.errors import CaptionTaskNotFound, TaskAlreadyActive, TaskNotCancellable
from captions.models import (
    ACTIVE_TASK_STATUSES,
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageStatus,
    ProcessingRun,
    ProcessingRunStatus,
    TaskStatus,
)
from captions.services.notifications import captions_awaiting_review_notify
from captions.services.scan import scan_connection, scan_feed_connection
from core.ai import backend_for
from core.locking import row_lock
from core.retry import RetryStats
from platforms.errors import ConnectionNotFound
from platforms.health import (
    ConnectionBroken,
    broken_message,
    connection_health_note_error,
    connection_health_set,
    connection_ready,
)
from platforms.kinds.common import (
    DescriptionLimit,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
)
from platforms.kinds.mastodon.client import MastodonApi
from platforms.kinds.registry import media_client_for
from platforms.models import BROKEN_HEALTH, ConnectionHealth, PlatformConnection

logger = logging.getLogger(__name__)

Captioner = Callable[..., Image]
ApiFactory = Callable[..., MastodonApi]

SNAPSHOT_FIELDS = (
    "max_posts_per_run",
    "max_caption_length",
    "optimal_min_length",
    "optimal_max_length",
    "reprocess_existing",
    "include_replies",
    "processing_delay",
    "language",
)
MAX_POSTS_RANGE = (1, 500)
DELAY_RANGE = (0.0, 60.0)
# How often a task waiting on its workers refreshes its heartbeat and looks for a cancellation.
POLL_SECONDS = 15.0
# Progress: 0-10 % for credentials, limit and scan; 10-99 % for the images; 100 % when done.
SCAN_DONE_PERCENT = 10
RUN_TASK = "captions.tasks.run_caption_task"
# A task that went silent is queued again once; silent on its second run too, it is failed.
STALE_MAX_ATTEMPTS = 2
# A warning quotes the server's answers; this keeps a hostile or verbose server from filling rows.
WARNING_MAX_CHARS = 1000


# Creating and cancelling ------------------------------------------------------------------------


def caption_settings_snapshot(*, user: User, connection: PlatformConnection) -> dict[str, Any]:
    """The owner's caption settings for the connection (model defaults where none are saved), as JSON.

    A task runs with the settings of the moment it was started, even if they change while it waits.
    """
    saved = CaptionGenerationUserSettings.objects.filter(user=user, platform_connection=connection).first()
    fields = CaptionGenerationUserSettings._meta
    return {
        name: getattr(saved, name) if saved is not None else fields.get_field(name).get_default()
        for name in SNAPSHOT_FIELDS
    }


def _queue_run(task_id: UUID) -> None:
    async_task(
        RUN_TASK,
        str(task_id),
        task_name=f"caption-task-{task_id}",
        group="captions",
        # The cluster's default timeout (minutes) would kill a long scan; the claim makes a
        # redelivery of a task still running harmless.
        timeout=int(settings.CAPTION_TASK_TIMEOUT_MINUTES) * 60,
    )


def caption_task_create(
    *, user: User, connection: PlatformConnection, meta: RequestMeta | None = None
) -> CaptionGenerationTask:
    """Queue a scan-and-caption task for a connection the user may see.

    The task belongs to the connection's owner (their settings are snapshotted, their active task
    blocks another), so a moderator starting one for someone cannot run it twice alongside theirs.
    Raises ConnectionNotFound for a connection the user may not see, ValidationError for one that cannot be
    scanned, TaskAlreadyActive (409) while a task for the connection is queued or running.
    """
    visible = visible_to(PlatformConnection.objects.filter(pk=connection.pk), user=user).first()
    if visible is None:
        raise ConnectionNotFound()
    connection = visible
    if not connection.has_caption_scan:
        raise ValidationError(
            {"platform_connection": f"{connection.get_platform_type_display()} connections have no captions."}
        )
    if not connection.is_active:
        raise ValidationError({"platform_connection": "The connection is disabled; enable it first."})
    owner = connection.user
    active = CaptionGenerationTask.objects.filter(
        user=owner, platform_connection=connection, status__in=ACTIVE_TASK_STATUSES
    )
    try:
        with transaction.atomic():
            if active.exists():
                raise TaskAlreadyActive()
            task = CaptionGenerationTask.objects.create(
                user=owner,
                platform_connection=connection,
                status=TaskStatus.QUEUED,
                settings_json=caption_settings_snapshot(user=owner, connection=connection),
                current_step="queued",
            )
            audit_log_write(
                action="caption_task.created",
                actor=user,
                target=task,
                meta=meta,
                details={"platform_connection": connection.pk, "owner": owner.pk},
            )
            # robust: a broker failure must not turn a committed task into a 500; the task stays
            # queued and can be cancelled.
            transaction.on_commit(lambda: _queue_run(task.pk), robust=True)
    except IntegrityError:
        # Two requests raced past the check: uq_caption_task_one_active let one of them in.
        raise TaskAlreadyActive() from None
    return task


def caption_task_cancel(
    *, task: CaptionGenerationTask, actor: User, meta: RequestMeta | None = None
) -> CaptionGenerationTask:
    """Cancel a queued or running task. A running one finishes the images in progress and starts no
    other. Cancelling a cancelled task changes nothing; a finished one is TaskNotCancellable (409)."""
    if not visible_to(CaptionGenerationTask.objects.filter(pk=task.pk), user=actor).exists():
        raise CaptionTaskNotFound()
    with transaction.atomic():
        task = row_lock(row=task)
        if task.status == TaskStatus.CANCELLED:
            return task
        if task.status not in ACTIVE_TASK_STATUSES:
            raise TaskNotCancellable(
                f"The task is {task.get_status_display().lower()}; it cannot be cancelled."
            )
        previous = task.status
        task.status = TaskStatus.CANCELLED
        task.completed_at = timezone.now()
        task.current_step = "cancelled" if previous == TaskStatus.QUEUED else "cancelling"
        task.save(update_fields=["status", "completed_at", "current_step", "updated_at"])
        audit_log_write(
            action="caption_task.cancelled", actor=actor, target=task, meta=meta, details={"from": previous}
        )
    return task


# Running ----------------------------------------------------------------------------------------


def caption_task_run(
    *,
    task_id: UUID | str,
    captioner: Captioner | None = None,
    api_factory: ApiFactory = media_client_for,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run a queued task: verify the account, read the instance's description limit, scan, caption.

    Safe to call twice: only a queued task is claimed. `captioner(image=..., backend=...)` captions
    one image and returns its fresh row (default: `captions.services.generation.caption_generate`);
    `api_factory(connection)` builds the platform client; `sleep` paces images (tests inject these).
    """
    now = timezone.now()
    claimed = CaptionGenerationTask.objects.filter(pk=task_id, status=TaskStatus.QUEUED).update(
        status=TaskStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        progress_percent=0,
        current_step="starting",
        error_message=None,
        warnings=[],
        updated_at=now,
    )
    if not claimed:
        logger.info("Caption task %s is not queued (claimed, cancelled or finished): nothing to do", task_id)
        return
    task = CaptionGenerationTask.objects.select_related("user", "platform_connection").get(pk=task_id)
    _TaskRunner(task=task, captioner=captioner, api_factory=api_factory, sleep=sleep).run()


@dataclass
class _Summary:
    """A task's `results_json`. `skipped`: media the scan passed over (alt text present, not an
    image) and images someone else captioned or reviewed before their turn; `remaining`: images left
    uncaptioned by a cancellation."""

    posts_seen: int = 0
    images_found: int = 0
    images_processed: int = 0
    captions_generated: int = 0
    errors: int = 0
    skipped: int = 0
    remaining: int = 0
    backlog_done: bool = False
    description_limit: int | None = None

    def as_results(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Outcome:
    """What happened to one image; `started` is False when a cancellation came first."""

    started: bool
    captioned: bool = False
    error: bool = False
    retry_stats: RetryStats | None = None


def _clamp(value: Any, low: float, high: float, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, low), high)


def _auth_message(exc: PlatformAuthError) -> str:
    advice = (
        "Update the connection's access token, then start a new task."
        if exc.status == 401
        else "Check the connection's access token, instance, platform type and token scopes, then start a "
        "new task."
    )
    return f"{exc} {advice}"


def _unavailable_message(exc: PlatformUnavailableError) -> str:
    stats = getattr(exc, "retry_stats", None)
    attempts = getattr(stats, "attempts", 0)
    return f"{exc} Gave up after {attempts} attempts." if attempts > 1 else str(exc)


def _store_description_limit(connection: PlatformConnection, limit: int) -> None:
    """Keep the instance's limit in `connection.extra`, touching only that column (a full save could
    write back stale encrypted fields)."""
    with transaction.atomic():
        extra = (
            PlatformConnection.objects.select_for_update()
            .filter(pk=connection.pk)
            .values_list("extra", flat=True)
            .first()
        )
        extra = dict(extra or {})
        if extra.get("description_limit") != limit:
            extra["description_limit"] = limit
            PlatformConnection.objects.filter(pk=connection.pk).update(extra=extra, updated_at=timezone.now())
    connection.extra = extra


def _share_thread_connection(worker_databases: list) -> None:
    """A pool thread's first step: its own database connection, kept for all its images (a new
    connection an image cost PostgreSQL a backend process each) and closed by the task's thread
    when the pool is done (`_close_connections`), which Django allows once it is marked shared."""
    database = connections[DEFAULT_DB_ALIAS]
    database.inc_thread_sharing()
    worker_databases.append(database)


def _close_connections(worker_databases: list) -> None:
    for database in worker_databases:
        database.close()
        database.dec_thread_sharing()


class _TaskRunner:
    """One claimed task, run to its end. Counters are touched by the task's thread only."""

    def __init__(
        self,
        *,
        task: CaptionGenerationTask,
        captioner: Captioner | None,
        api_factory: ApiFactory,
        sleep: Callable[[float], None],
    ):
        self.task = task
        self.connection: PlatformConnection = task.platform_connection
        self.captioner = captioner or self._caption_generate
        self.context = None
        self.api_factory = api_factory
        self.sleep = sleep
        snapshot = task.settings_json or {}
        self.max_posts = int(_clamp(snapshot.get("max_posts_per_run"), *MAX_POSTS_RANGE, default=50))
        self.reprocess = bool(snapshot.get("reprocess_existing", False))
        # Snapshots taken before the setting existed: its default, on.
        self.include_replies = bool(snapshot.get("include_replies", True))
        self.delay = _clamp(snapshot.get("processing_delay"), *DELAY_RANGE, default=1.0)
        self.summary = _Summary()
        self.warnings: list[str] = []
        self.retry = RetryStats()
        self.run_row: ProcessingRun | None = None
        self.backend = None
        self._total = 0
        self._finished = 0
        self._stop = threading.Event()
        self._pace = threading.local()

    # The whole run ----------------------------------------------------------------------------

    def run(self) -> None:
        outcome, error = ProcessingRunStatus.FAILED, None
        try:
            self.run_row = self._open_run()
            outcome = self._work()
        except PlatformAuthError as exc:
            # A refusal of the connection itself (401, a session or grant that cannot be renewed)
            # marks it broken and tells the owner once; the task ends with that one reason.
            if (
                isinstance(exc, ConnectionBroken)
                or connection_health_note_error(connection=self.connection, exc=exc) in BROKEN_HEALTH
            ):
                error = broken_message(self.connection)
            else:
                error = _auth_message(exc)
            logger.warning("Caption task %s: the platform refused: %s", self.task.pk, exc)
        except PlatformUnavailableError as exc:
            error = _unavailable_message(exc)
            logger.warning("Caption task %s: the platform is unavailable: %s", self.task.pk, exc)
        except PlatformError as exc:
            error = str(exc)
            logger.warning("Caption task %s: platform error: %s", self.task.pk, exc)
        except Exception as exc:
            logger.exception("Caption task %s failed unexpectedly", self.task.pk)
            error = str(exc) or type(exc).__name__
        except SystemExit:  # django-q's timeout: record it, then let the worker go
            self._finish_safely(
                ProcessingRunStatus.FAILED,
                f"The task ran longer than {settings.CAPTION_TASK_TIMEOUT_MINUTES} minutes and was stopped.",
            )
            raise
        self._finish_safely(outcome, error)

    def _work(self) -> str:
        # The health gate: a connection known to be expired or revoked stops here with its reason.
        connection_ready(connection=self.connection)
        api = self.api_factory(self.connection)
        try:
            if not self._advance("verifying credentials", 0):
                return ProcessingRunStatus.CANCELLED
            account = api.verify()
            # Verifying is the scan's health check: it works (again).
            connection_health_set(connection=self.connection, health=ConnectionHealth.OK)
            if not self._advance("reading the instance's description limit", 2):
                return ProcessingRunStatus.CANCELLED
            self._use_description_limit(api.read_description_limit())
            if not self._advance("scanning posts", 5):
                return ProcessingRunStatus.CANCELLED
            # A feed paged by cursor (Bluesky) has its own scan; the Mastodon API pages by status id.
            scan = scan_feed_connection if getattr(api, "pages_by_cursor", False) else scan_connection
            scanned = scan(
                connection=self.connection,
                api=api,
                max_posts=self.max_posts,
                reprocess_existing=self.reprocess,
                include_replies=self.include_replies,
                account_id=account.id,
            )
        finally:
            self.retry.add(api.retry_stats)
            api.close()
        PlatformConnection.objects.filter(pk=self.connection.pk).update(last_used=timezone.now())
        self.summary.posts_seen = scanned.posts_seen
        self.summary.skipped = scanned.images_skipped
        self.summary.backlog_done = scanned.backlog_done
        self._save_counters()
        return self._caption_all()

    def _use_description_limit(self, read: DescriptionLimit) -> None:
        """Keep the instance's limit; when it could not be read, say so on the task and the run and
        go on with the limit read last time, else Mastodon's 1500 (a guess is never stored)."""
        if read.problem is None:
            self.summary.description_limit = read.limit
            _store_description_limit(self.connection, read.limit)
            return
        known = (self.connection.extra or {}).get("description_limit")
        limit = known if isinstance(known, int) and known > 0 else read.limit
        source = "the limit it reported last time" if limit == known else "Mastodon's default"
        self.summary.description_limit = limit
        self._warn(
            f"The instance's description limit could not be read ({read.problem}); captions were "
            f"held to {limit} characters, {source}. Check the limit on the instance."
        )

    def _warn(self, text: str) -> None:
        """Add a warning to the task and its run at once, so it shows while the task runs."""
        self.warnings.append(text[:WARNING_MAX_CHARS])
        logger.warning("Caption task %s: %s", self.task.pk, text)
        CaptionGenerationTask.objects.filter(pk=self.task.pk).update(warnings=self.warnings)
        if self.run_row is not None:
            ProcessingRun.objects.filter(pk=self.run_row.pk).update(warnings=self.warnings)

    # Captioning -------------------------------------------------------------------------------

    def _to_caption(self) -> Q:
        return Q(platform_connection=self.connection, status=ImageStatus.PENDING) & (
            Q(generated_caption__isnull=True) | Q(generated_caption="")
        )

    def _load(self, image_id: int) -> Image | None:
        """The image as it is now, or None when someone captioned or reviewed it meanwhile."""
        return (
            Image.objects.filter(self._to_caption(), pk=image_id)
            .select_related("post", "platform_connection")
            .first()
        )

    def _caption_all(self) -> str:
        ids = list(
            Image.objects.filter(self._to_caption()).order_by("created_at", "pk").values_list("pk", flat=True)
        )
        self._total = self.summary.images_found = len(ids)
        if ids:
            self.backend = backend_for(user=self.connection.user)
            if self.captioner == self._caption_generate:
                from captions.services.generation import caption_context

                self.context = caption_context(
                    user_id=self.connection.user_id, connection_id=self.connection.pk
                )
        concurrency = max(1, int(settings.CAPTION_CONCURRENCY))
        if concurrency == 1 or len(ids) == 1:
            self._caption_inline(ids)
        else:
            self._caption_pooled(ids, concurrency)
        self.summary.remaining = len(ids) - self._finished
        return ProcessingRunStatus.COMPLETED if self.summary.remaining == 0 else ProcessingRunStatus.CANCELLED

    def _next_image(self, position: int, image_id: int) -> tuple[bool, Image | None]:
        """(still running?, the image to caption or None to skip it)."""
        if not self._advance(f"captioning {position} of {self._total}", self._percent()):
            self._stop.set()
            return False, None
        return True, self._load(image_id)

    def _caption_inline(self, ids: list[int]) -> None:
        for position, image_id in enumerate(ids, start=1):
            running, image = self._next_image(position, image_id)
            if not running:
                break
            self._record(self._caption_one(image) if image is not None else None)

    def _caption_pooled(self, ids: list[int], concurrency: int) -> None:
        """At most `concurrency` images in flight; the next is submitted (after the status check)
        only when one finishes, so a cancellation stops the flow at once.

        The pool is kept full: when images finish they are counted in memory, the free slots are
        refilled (the status check and the image's load are the only queries between an image and
        the next), and only then are the progress and counters written, while the workers are busy
        again. Workers get a loaded image and need no query to start."""
        queue = iter(enumerate(ids, start=1))
        in_flight: set[Future] = set()
        finished: set[Future] = set()
        worker_databases: list = []
        pool = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix=f"caption-{self.task.pk}",
            initializer=_share_thread_connection,
            initargs=(worker_databases,),
        )
        try:
            while True:
                counted = bool(finished)
                for future in finished:
                    self._count(future.result())
                progress_written = False
                while not self._stop.is_set() and len(in_flight) < concurrency:
                    following = next(queue, None)
                    if following is None:
                        break
                    running, image = self._next_image(*following)
                    if not running:
                        break
                    progress_written = True
                    if image is None:
                        counted = self._count(None)
                        continue
                    in_flight.add(pool.submit(self._caption_one, image))
                if counted:
                    if not progress_written:
                        self._advance(None, self._percent())
                    self._save_counters()
                if not in_flight:
                    break
                finished, in_flight = wait(in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if not finished and not self._advance(None, None):
                    self._stop.set()
        except BaseException:
            self._stop.set()  # images still waiting out their pause are not started
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _close_connections(worker_databases)

    def _caption_generate(self, *, image: Image, backend=None) -> Image:
        # Imported when first used: the task module does not need the caption pipeline to load.
        from captions.services.generation import caption_generate

        return caption_generate(image=image, backend=backend, context=self.context)

    def _caption_one(self, image: Image) -> _Outcome:
        if self.delay > 0:
            last = getattr(self._pace, "last_start", None)
            if last is not None:
                pause = last + self.delay - time.monotonic()
                if pause > 0:
                    self.sleep(pause)
            if self._stop.is_set():
                return _Outcome(started=False)
        self._pace.last_start = time.monotonic()
        try:
            result = self.captioner(image=image, backend=self.backend)
        except Exception as exc:
            # caption_generate turns image failures into status `error` itself; this is a bug's path.
            logger.exception("Captioning image %s of task %s raised", image.pk, self.task.pk)
            Image.objects.filter(pk=image.pk, status=ImageStatus.PENDING).update(
                status=ImageStatus.ERROR,
                processing_error=f"Captioning failed unexpectedly: {exc or type(exc).__name__}",
                updated_at=timezone.now(),
            )
            return _Outcome(started=True, error=True)
        failed = result.status == ImageStatus.ERROR
        return _Outcome(
            started=True,
            captioned=bool(result.generated_caption) and not failed,
            error=failed,
            retry_stats=getattr(result, "retry_stats", None),
        )

    def _record(self, outcome: _Outcome | None) -> None:
        """Count one image's outcome (None: skipped, someone else took it) and show the progress."""
        if self._count(outcome):
            self._advance(None, self._percent())
            self._save_counters()

    def _count(self, outcome: _Outcome | None) -> bool:
        """Add one image's outcome to the counters in memory; False when it never started."""
        if outcome is not None and not outcome.started:
            return False
        if outcome is None:
            self.summary.skipped += 1
        else:
            self.summary.images_processed += 1
            self.summary.captions_generated += int(outcome.captioned)
            self.summary.errors += int(outcome.error)
            if isinstance(outcome.retry_stats, RetryStats):
                self.retry.add(outcome.retry_stats)
        self._finished += 1
        return True

    def _percent(self) -> int:
        if not self._total:
            return SCAN_DONE_PERCENT
        return SCAN_DONE_PERCENT + (99 - SCAN_DONE_PERCENT) * self._finished // self._total

    # Rows -------------------------------------------------------------------------------------

    def _open_run(self) -> ProcessingRun:
        connection = self.connection
        run, _ = ProcessingRun.objects.update_or_create(
            batch_id=str(self.task.pk),
            platform_connection=connection,
            defaults={
                "user": self.task.user,
                "task": self.task,
                "status": ProcessingRunStatus.RUNNING,
                "started_at": timezone.now(),
                "completed_at": None,
                "platform_type": connection.platform_type,
                "instance_url": connection.instance_url,
                "posts_processed": 0,
                "images_processed": 0,
                "captions_generated": 0,
                "errors_count": 0,
                "warnings": [],
                **RetryStats().as_run_fields(),
            },
        )
        return run

    def _advance(self, step: str | None, percent: int | None) -> bool:
        """Write the step, progress and heartbeat; False when the task is no longer running (the
        same UPDATE reads the status, so a cancellation is seen before the next image)."""
        now = timezone.now()
        fields: dict[str, Any] = {"heartbeat_at": now, "updated_at": now}
        if step is not None:
            fields["current_step"] = step
        if percent is not None:
            fields["progress_percent"] = percent
        running = CaptionGenerationTask.objects.filter(pk=self.task.pk, status=TaskStatus.RUNNING)
        return bool(running.update(**fields))

    def _run_counters(self) -> dict[str, Any]:
        return {
            "posts_processed": self.summary.posts_seen,
            "images_processed": self.summary.images_processed,
            "captions_generated": self.summary.captions_generated,
            "errors_count": self.summary.errors,
            **self.retry.as_run_fields(),
        }

    def _save_counters(self) -> None:
        if self.run_row is not None:
            ProcessingRun.objects.filter(pk=self.run_row.pk).update(**self._run_counters())

    def _finish_safely(self, outcome: str, error: str | None) -> None:
        try:
            self._finish(outcome, error)
        except Exception:
            # The database itself failed; the stale-task check will fail the task later.
            logger.exception("Caption task %s could not record its end", self.task.pk)

    def _finish(self, outcome: str, error: str | None) -> None:
        now = timezone.now()
        results = self.summary.as_results()
        task_rows = CaptionGenerationTask.objects.filter(pk=self.task.pk)
        ended = {"results_json": results, "completed_at": now, "heartbeat_at": now, "updated_at": now}
        changed = 0
        if outcome == ProcessingRunStatus.COMPLETED:
            changed = task_rows.filter(status=TaskStatus.RUNNING).update(
                **ended,
                status=TaskStatus.COMPLETED,
                progress_percent=100,
                current_step="done",
                error_message=None,
            )
        elif outcome == ProcessingRunStatus.FAILED:
            changed = task_rows.filter(status=TaskStatus.RUNNING).update(
                **ended, status=TaskStatus.FAILED, current_step="failed", error_message=error
            )
        if not changed:
            # Cancelled (or failed by the stale check) while it ran: keep that status, add the results.
            status = task_rows.values_list("status", flat=True).first()
            extra = {"current_step": "cancelled"} if status == TaskStatus.CANCELLED else {}
            task_rows.update(**ended, **extra)
            if outcome != ProcessingRunStatus.FAILED:
                outcome = (
                    ProcessingRunStatus.CANCELLED
                    if status == TaskStatus.CANCELLED
                    else ProcessingRunStatus.FAILED
                )
        if self.run_row is not None:
            ProcessingRun.objects.filter(pk=self.run_row.pk).update(
                status=outcome, completed_at=now, **self._run_counters()
            )
        logger.info("Caption task %s ended %s: %s", self.task.pk, outcome, results)
        if self.summary.captions_generated:
            # Cancelled or not, what it captioned awaits review; the hourly key dedupes the digest.
            captions_awaiting_review_notify(user=self.task.user)


# The stale-task check ---------------------------------------------------------------------------


def caption_tasks_recover_stale(*, now: datetime | None = None) -> dict[str, int]:
    """Take back running tasks whose heartbeat is older than CAPTION_TASK_TIMEOUT_MINUTES (their
    worker died or was killed). A task on its first run is queued again, once: the scan resumes
    from its cursor and only images still without a caption are captioned, so nothing is done
    twice. A task that went silent on its second run is failed with the reason. Either way its
    open processing run is closed as failed. Returns counts by outcome."""
    now = now or timezone.now()
    minutes = int(settings.CAPTION_TASK_TIMEOUT_MINUTES)
    cutoff = now - timedelta(minutes=minutes)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    stale = CaptionGenerationTask.objects.filter(silent, status=TaskStatus.RUNNING)
    outcome = {"requeued": 0, "failed": 0}
    for task_id, attempts in stale.values_list("pk", "attempts"):
        rows = CaptionGenerationTask.objects.filter(silent, pk=task_id, status=TaskStatus.RUNNING)
        with transaction.atomic():
            if attempts < STALE_MAX_ATTEMPTS:
                changed = rows.update(
                    status=TaskStatus.QUEUED,
                    current_step="queued again",
                    error_message=(
                        f"The worker stopped responding (no heartbeat for {minutes} minutes); "
                        "queued again to resume."
                    ),
                    heartbeat_at=None,
                    updated_at=now,
                )
                key = "requeued"
            else:
                changed = rows.update(
                    status=TaskStatus.FAILED,
                    current_step="failed",
                    error_message=(
                        f"The worker stopped responding (no heartbeat for {minutes} minutes) "
                        f"on {attempts} runs; giving up."
                    ),
                    completed_at=now,
                    updated_at=now,
                )
                key = "failed"
            if not changed:
                continue
            ProcessingRun.objects.filter(task_id=task_id, status=ProcessingRunStatus.RUNNING).update(
                status=ProcessingRunStatus.FAILED, completed_at=now
            )
            if key == "requeued":
                transaction.on_commit(lambda pk=task_id: _queue_run(pk), robust=True)
            outcome[key] += 1
    if any(outcome.values()):
        logger.warning("Took back caption tasks whose worker went silent: %s", outcome)
    return outcome
