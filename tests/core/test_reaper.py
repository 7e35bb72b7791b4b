"""The reaper: every kind of background work taken back the same way (core.reaper)."""

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from captions.models import CaptionGenerationTask
from captions.models import TaskStatus as CaptionStatus
from core import reaper as reaper_module
from core.reaper import Reaper, reap_stale_work, reapers
from core.schedules import RETIRED_SCHEDULES, declared_schedules, sync_schedules
from core.services import config_set
from generation.models import GenerationTask, Prompt, PromptStatus
from generation.models import TaskStatus as PersonaStatus
from scraping.models import JobStatus, ScrapingJob
from tests.factories.captions import CaptionGenerationTaskFactory
from tests.factories.generation import GenerationTaskFactory, PromptFactory
from tests.factories.scraping import ScrapingJobFactory
from tests.factories.workflows import PlatformStateFactory, PublishingJobFactory
from workflows.models import PlatformState, PlatformStatus, PublishingJob, PublishingStatus

pytestmark = pytest.mark.django_db

EVERY_KIND = {
    "captions.tasks",
    "workflows.platform_steps",
    "workflows.publishing_jobs",
    "scraping.jobs",
    "generation.prompts",
    "generation.avatar_tasks",
}
QUEUEING_MODULES = (
    "captions.services.tasks",
    "workflows.services.engine",
    "scraping.services.jobs",
    "generation.services.avatar_tasks",
)


@pytest.fixture
def budget_of_two(settings):
    """Every kind gets two runs: the first silent run is queued again, the second is failed."""
    settings.CAPTION_TASK_TIMEOUT_MINUTES = 60
    settings.AVATAR_TASK_MAX_ATTEMPTS = 2
    settings.IMAGE_GENERATION_MAX_ATTEMPTS = 2
    settings.PUBLISHING_MAX_ATTEMPTS = 2
    config_set(key="workflow_step_max_attempts", value=2)
    with mock.patch("scraping.services.jobs.MAX_ATTEMPTS", 2):
        yield


@pytest.fixture
def no_queue():
    patches = [mock.patch(f"{module}.async_task") for module in QUEUEING_MODULES]
    for patch in patches:
        patch.start()
    yield
    for patch in patches:
        patch.stop()


def silent_rows(*, attempts: int) -> dict:
    """One row of every kind, running, silent for a day, on its `attempts`-th run."""
    long_ago = timezone.now() - timedelta(days=1)
    caption = CaptionGenerationTaskFactory(status=CaptionStatus.RUNNING)
    step = PlatformStateFactory(status=PlatformStatus.GENERATING)
    publishing = PublishingJobFactory(status=PublishingStatus.PUBLISHING)
    job = ScrapingJobFactory(status=JobStatus.RUNNING)
    prompt = PromptFactory(status=PromptStatus.RUNNING)
    persona = GenerationTaskFactory(status=PersonaStatus.GENERATING_DATA)
    rows = {
        "caption": (CaptionGenerationTask, caption.pk),
        "step": (PlatformState, step.pk),
        "publishing": (PublishingJob, publishing.pk),
        "job": (ScrapingJob, job.pk),
        "prompt": (Prompt, prompt.pk),
        "persona": (GenerationTask, persona.pk),
    }
    for model, pk in rows.values():
        model.objects.filter(pk=pk).update(attempts=attempts, heartbeat_at=long_ago, updated_at=long_ago)
    return rows


def status_of(row) -> str:
    model, pk = row
    return model.objects.values_list("status", flat=True).get(pk=pk)


def test_every_kind_of_background_work_has_a_reaper():
    assert {reaper.name for reaper in reapers()} == EVERY_KIND


def test_a_first_silent_run_is_queued_again_and_a_second_is_failed_with_the_reason(budget_of_two, no_queue):
    first = silent_rows(attempts=1)
    second = silent_rows(attempts=2)

    results = {result.name: result for result in reap_stale_work()}

    assert set(results) == EVERY_KIND
    assert not any(result.error for result in results.values())
    assert {name: status_of(row) for name, row in first.items()} == {
        "caption": CaptionStatus.QUEUED,
        "step": PlatformStatus.GENERATING,  # queued again in place: its step resumes from the checkpoint
        "publishing": PublishingStatus.QUEUED,
        "job": JobStatus.PENDING,
        "prompt": PromptStatus.QUEUED,
        "persona": PersonaStatus.PENDING,
    }
    assert {name: status_of(row) for name, row in second.items()} == {
        "caption": CaptionStatus.FAILED,
        "step": PlatformStatus.FAILED,
        "publishing": PublishingStatus.FAILED,
        "job": JobStatus.FAILED,
        "prompt": PromptStatus.FAILED,
        "persona": PersonaStatus.FAILED,
    }
    reasons = {
        "caption": CaptionGenerationTask.objects.get(pk=second["caption"][1]).error_message,
        "step": PlatformState.objects.get(pk=second["step"][1]).error_message,
        "publishing": PublishingJob.objects.get(pk=second["publishing"][1]).error_message,
        "job": ScrapingJob.objects.get(pk=second["job"][1]).error_message,
        "prompt": Prompt.objects.get(pk=second["prompt"][1]).error_message,
        "persona": GenerationTask.objects.get(pk=second["persona"][1]).error_log,
    }
    assert all(reasons.values()), reasons


def test_work_with_a_fresh_heartbeat_is_left_alone(budget_of_two, no_queue):
    task = CaptionGenerationTaskFactory(status=CaptionStatus.RUNNING)
    CaptionGenerationTask.objects.filter(pk=task.pk).update(attempts=1, heartbeat_at=timezone.now())
    job = ScrapingJobFactory(status=JobStatus.RUNNING)
    ScrapingJob.objects.filter(pk=job.pk).update(attempts=1, heartbeat_at=timezone.now())

    reap_stale_work()

    assert status_of((CaptionGenerationTask, task.pk)) == CaptionStatus.RUNNING
    assert status_of((ScrapingJob, job.pk)) == JobStatus.RUNNING


def test_one_reaper_failing_does_not_stop_the_others(no_queue):
    def broken():
        raise RuntimeError("boom")

    extra = [
        Reaper(name="test.broken", description="raises", run=broken),
        Reaper(name="test.counting", description="counts", run=lambda: 4),
    ]
    with mock.patch.object(reaper_module, "reapers", return_value=extra):
        results = reap_stale_work()
    assert [(r.name, r.error, r.counts) for r in results] == [
        ("test.broken", "RuntimeError", {}),
        ("test.counting", None, {"taken_back": 4}),
    ]


def test_the_reaper_cleanup_and_archive_are_scheduled():
    minutes = {task.name: (task.func, task.minutes) for task in declared_schedules()}
    assert minutes["core.reap_stale_work"] == ("core.tasks.reap_stale_work", 5)
    assert minutes["core.cleanup"] == ("core.tasks.run_cleanup", 24 * 60)
    assert minutes["core.archive"] == ("core.tasks.run_archive", 24 * 60)
    assert minutes["workflows.dispatch_due_publishing_jobs"][1] == 1
    assert not set(RETIRED_SCHEDULES) & set(minutes)


def test_syncing_removes_the_per_app_reaper_schedules_of_earlier_versions():
    for name in RETIRED_SCHEDULES:
        Schedule.objects.create(name=name, func="core.tasks.reap_stale_work", minutes=5, schedule_type="I")
    sync_schedules()
    assert not Schedule.objects.filter(name__in=RETIRED_SCHEDULES).exists()
    assert Schedule.objects.filter(name="core.reap_stale_work").count() == 1
    assert sync_schedules() == (0, 0)


def test_the_scheduled_task_reports_counts_by_reaper(budget_of_two, no_queue):
    from core.tasks import reap_stale_work as task

    silent_rows(attempts=1)
    report = task()
    assert report["captions.tasks"] == {"requeued": 1, "failed": 0}
    assert report["scraping.jobs"] == {"taken_back": 1}


def test_the_command_prints_one_line_per_reaper(no_queue):
    out = StringIO()
    call_command("reap_stale_work", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["reaper", "outcome"]
    assert {line.split()[0] for line in lines[1:]} == EVERY_KIND

    listed = StringIO()
    call_command("reap_stale_work", "--list", stdout=listed)
    assert "CAPTION_TASK_TIMEOUT_MINUTES" in listed.getvalue()


def test_the_command_fails_when_a_reaper_fails():
    broken = Reaper(name="test.broken", description="raises", run=lambda: 1 / 0)
    with (
        mock.patch.object(reaper_module, "reapers", return_value=[broken]),
        pytest.raises(CommandError, match=r"test\.broken"),
    ):
        call_command("reap_stale_work", stdout=StringIO())
