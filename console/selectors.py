"""Reads for the admin index's pictures (console.charts draws them): captions by status and quality
band, work done per day, and running work with its progress.

Every read goes through `accounts.selectors.visible_to`: moderators and admins count everyone's
rows, every other role their own (the same owner paths as the API's). Each is one query, and each
per-day series selects its rows by a range on an indexed timestamp (docs/performance.md,
"Admin dashboard"), so the cost follows the rows in the last 30 days, not the table.

Days are the person's days: a timestamp is counted on its date in `zone` (the zone the request
runs in, see accounts.time_zones), and the 30 days end with today there.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.selectors import visible_to
from captions.models import CaptionGenerationTask, Image, ImageStatus, ProcessingRun
from captions.models import TaskStatus as CaptionTaskStatus
from captions.quality import QUALITY_BANDS
from captions.selectors import CONNECTION_OWNER
from generation.models import GenerationTask
from generation.services.avatar_tasks import RUNNING_STATUSES as PERSONA_RUNNING_STATUSES
from scraping.models import Artifact, JobStatus, ScrapingJob
from workflows.models import PlatformStatus, PublishingJob, PublishingStatus, Workflow, WorkflowStatus

DAYS = 30
UNSCORED = "unscored"
# Images belong to whoever owns the connection they came from (as in the captions API).
IMAGE_OWNER = CONNECTION_OWNER
# Rows shown per kind of running work; the "Running now" counts link to the rest.
RUNNING_ROWS = 5
# A workflow's platform has its draft once it is past these.
PLATFORM_WORKING = (PlatformStatus.PENDING, PlatformStatus.GENERATING, PlatformStatus.EVALUATING)


# --- captions by status and quality band -----------------------------------------------------------


@dataclass(frozen=True)
class CaptionCounts:
    by_status: dict[str, int]  # every ImageStatus value, in its order
    by_band: dict[str, int]  # every quality band, best first, then "unscored"


def caption_counts(*, user, since: datetime) -> CaptionCounts:
    """The person's captions collected since `since`, by status now and by quality band, in one
    query (grouped by status, each group counting its bands).

    Bounded by time, like the rest of the index: counting every caption ever is a scan of the
    whole table (about a second per million images, docs/performance.md), the window's rows are
    found by `ix_images_created_at`."""
    bands = {
        name: Count("pk", filter=Q(caption_quality_score__gte=low, caption_quality_score__lte=high))
        for name, (low, high) in QUALITY_BANDS.items()
    }
    bands[UNSCORED] = Count("pk", filter=Q(caption_quality_score__isnull=True))
    rows = (
        visible_to(Image.objects.filter(created_at__gte=since), user=user, owner_field=IMAGE_OWNER)
        .order_by()
        .values("status")
        .annotate(total=Count("pk"), **bands)
    )
    by_status = dict.fromkeys(ImageStatus.values, 0)
    by_band = dict.fromkeys(bands, 0)
    for row in rows:
        by_status[row["status"]] = row["total"]
        for name in by_band:
            by_band[name] += row[name]
    return CaptionCounts(by_status=by_status, by_band=by_band)


# --- work done per day ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailySeries:
    key: str
    label: str
    counts: list[int]  # one per day of `days`, oldest first

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class WorkPerDay:
    days: list[date]
    series: list[DailySeries]


def day_window(*, now: datetime, zone: tzinfo, days: int = DAYS) -> tuple[list[date], datetime, datetime]:
    """The last `days` dates in `zone` (today included), and the instants they start and end at."""
    today = now.astimezone(zone).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    start = datetime.combine(dates[0], time.min, tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone)
    return dates, start, end


def _per_day(queryset: QuerySet, field: str, *, zone: tzinfo, start: datetime, end: datetime, value=None):
    rows = (
        queryset.filter(**{f"{field}__gte": start, f"{field}__lt": end})
        .order_by()
        .annotate(day=TruncDate(field, tzinfo=zone))
        .values("day")
        .annotate(n=value if value is not None else Count("pk"))
        .values_list("day", "n")
    )
    return {day: n or 0 for day, n in rows}


# (key, label, model, how one person's rows are found, the rows counted, timestamp, value per row)
SERIES = (
    (
        "captions_generated",
        "Captions generated",
        ProcessingRun,
        IMAGE_OWNER,
        Q(),
        "started_at",
        Sum("captions_generated"),
    ),
    (
        "captions_approved",
        "Captions approved",
        Image,
        IMAGE_OWNER,
        # reviewed_at is set by approving and by rejecting; a posted caption was approved first.
        # The same condition as the partial index ix_images_approved_at, so it is used.
        Q(status__in=[ImageStatus.APPROVED, ImageStatus.POSTED]),
        "reviewed_at",
        None,
    ),
    ("captions_posted", "Captions posted", Image, IMAGE_OWNER, Q(), "posted_at", None),
    (
        "drafts_published",
        "Drafts published",
        PublishingJob,
        "workflow__user",
        Q(status=PublishingStatus.PUBLISHED),
        "published_at",
        None,
    ),
    # Artifacts a job stored (uploads have no job).
    ("pages_scraped", "Pages scraped", Artifact, "user", Q(job__isnull=False), "created_at", None),
)


def work_per_day(*, user, now: datetime, zone: tzinfo, models: set[type] | None = None) -> WorkPerDay:
    """What got done on each of the last 30 days, one query per series; `models` limits the
    series to those whose model is in it (None: all)."""
    days, start, end = day_window(now=now, zone=zone)
    series = []
    for key, label, model, owner, condition, field, value in SERIES:
        if models is not None and model not in models:
            continue
        rows = visible_to(model.objects.filter(condition), user=user, owner_field=owner)
        per_day = _per_day(rows, field, zone=zone, start=start, end=end, value=value)
        series.append(DailySeries(key=key, label=label, counts=[per_day.get(day, 0) for day in days]))
    return WorkPerDay(days=days, series=series)


# --- running work -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningWork:
    kind: str
    model: type
    pk: object
    label: str
    percent: int
    detail: str


def _percent(done: int, total: int) -> int:
    return 0 if total <= 0 else max(0, min(100, round(100 * done / total)))


def running_caption_tasks(*, user) -> list[RunningWork]:
    tasks = (
        visible_to(CaptionGenerationTask.objects.all(), user=user)
        .filter(status=CaptionTaskStatus.RUNNING)
        .select_related("platform_connection")
        .only("id", "progress_percent", "current_step", "platform_connection__name")
        .order_by("-created_at")[:RUNNING_ROWS]
    )
    return [
        RunningWork(
            kind="Caption scan",
            model=CaptionGenerationTask,
            pk=task.pk,
            label=task.platform_connection.name,
            percent=_percent(task.progress_percent, 100),
            detail=task.current_step or "",
        )
        for task in tasks
    ]


def running_scraping_jobs(*, user) -> list[RunningWork]:
    jobs = (
        visible_to(ScrapingJob.objects.all(), user=user)
        .filter(status=JobStatus.RUNNING)
        .only("id", "title", "progress", "processed_items", "total_items")
        .order_by("-created_at")[:RUNNING_ROWS]
    )
    return [
        RunningWork(
            kind="Scraping job",
            model=ScrapingJob,
            pk=job.pk,
            label=job.title,
            percent=_percent(job.progress, 100),
            detail=f"{job.processed_items} of {job.total_items} items stored" if job.total_items else "",
        )
        for job in jobs
    ]


def running_persona_tasks(*, user) -> list[RunningWork]:
    """A persona task's work is its personas, then their images: its percent counts both."""
    tasks = (
        visible_to(GenerationTask.objects.all(), user=user)
        .filter(status__in=PERSONA_RUNNING_STATUSES)
        .only(
            "id",
            "task_id",
            "status",
            "number_to_generate",
            "images_per_persona",
            "personas_generated",
            "images_generated",
        )
        .order_by("-created_at")[:RUNNING_ROWS]
    )
    return [
        RunningWork(
            kind="Persona task",
            model=GenerationTask,
            pk=task.pk,
            label=task.task_id,
            percent=_percent(
                task.personas_generated + task.images_generated,
                task.number_to_generate + task.images_expected,
            ),
            detail=(
                f"{task.personas_generated} of {task.number_to_generate} personas, "
                f"{task.images_generated} of {task.images_expected} images"
            ),
        )
        for task in tasks
    ]


def running_workflows(*, user) -> list[RunningWork]:
    """A running workflow's percent is the share of its platforms whose draft is written."""
    workflows = (
        visible_to(Workflow.objects.all(), user=user)
        .filter(status=WorkflowStatus.RUNNING)
        .annotate(
            platforms=Count("platform_states"),
            drafted=Count("platform_states", filter=~Q(platform_states__status__in=PLATFORM_WORKING)),
        )
        .only("id", "mode", "status")
        .order_by("-created_at")[:RUNNING_ROWS]
    )
    return [
        RunningWork(
            kind="Workflow",
            model=Workflow,
            pk=workflow.pk,
            label=f"{str(workflow.pk)[:8]} ({workflow.get_mode_display().lower()})",
            percent=_percent(workflow.drafted, workflow.platforms),
            detail=f"{workflow.drafted} of {workflow.platforms} platform drafts written",
        )
        for workflow in workflows
    ]


RUNNING_READS = (
    (CaptionGenerationTask, running_caption_tasks),
    (ScrapingJob, running_scraping_jobs),
    (GenerationTask, running_persona_tasks),
    (Workflow, running_workflows),
)


def running_work(*, user, models: set[type] | None = None) -> list[RunningWork]:
    """Running work of every kind whose model is in `models` (None: all), one query per kind."""
    rows: list[RunningWork] = []
    for model, read in RUNNING_READS:
        if models is None or model in models:
            rows += read(user=user)
    return rows
