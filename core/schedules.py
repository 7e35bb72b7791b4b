"""Recurring django-q2 schedules, declared by each app and upserted by `bootstrap`.

An app lists its schedules in `<app>/schedules.py` as `SCHEDULES = [RecurringTask(...)]`.
"""

from dataclasses import dataclass, field

from core.declarations import app_declarations, refuse_duplicate_names


@dataclass(frozen=True)
class RecurringTask:
    name: str
    func: str
    minutes: int
    kwargs: dict = field(default_factory=dict)


def declared_schedules() -> list[RecurringTask]:
    found = app_declarations(module="schedules", attribute="SCHEDULES")
    return refuse_duplicate_names(found, kind="Schedules")


def sync_schedules() -> tuple[int, int]:
    """Create or update every declared schedule by name, and delete retired ones.
    Returns (created, updated)."""
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=RETIRED_SCHEDULES).delete()
    created = updated = 0
    for task in declared_schedules():
        wanted = {
            "func": task.func,
            "schedule_type": Schedule.MINUTES,
            "minutes": task.minutes,
            "kwargs": repr(task.kwargs) if task.kwargs else None,
            "repeats": -1,
        }
        schedule = Schedule.objects.filter(name=task.name).first()
        if schedule is None:
            Schedule.objects.create(name=task.name, **wanted)
            created += 1
        elif any(getattr(schedule, attr) != value for attr, value in wanted.items()):
            for attr, value in wanted.items():
                setattr(schedule, attr, value)
            schedule.save()
            updated += 1
    return created, updated


# Schedules an earlier version declared, deleted by `sync_schedules` so they stop running.
RETIRED_SCHEDULES = (
    # Each app's own reaper schedule, now one `core.reap_stale_work` (core.reaper).
    "captions.fail_stale_tasks",
    "workflows.resume_stale_platform_steps",
    "scraping.resume_stale_jobs",
    "generation.recover_stale_avatar_tasks",
    "generation.recover_stale_prompts",
)

DAY = 24 * 60

SCHEDULES = [
    RecurringTask(name="core.worker_heartbeat", func="core.tasks.record_worker_heartbeat", minutes=1),
    RecurringTask(name="core.reap_stale_work", func="core.tasks.reap_stale_work", minutes=5),
    RecurringTask(name="core.cleanup", func="core.tasks.run_cleanup", minutes=DAY),
    RecurringTask(name="core.archive", func="core.tasks.run_archive", minutes=DAY),
    RecurringTask(
        name="core.clear_expired_browser_sessions",
        func="core.tasks.clear_expired_browser_sessions",
        minutes=DAY,
    ),
]
