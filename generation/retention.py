"""Retention policies of the generation app (run by `manage.py cleanup`, see core.retention).

- A failed prompt produced nothing to keep: it goes after the grace period with any image still
  linked to it in the live table. Generated images are stored in their rows (base64), not as
  files; archived ones (`manage.py archive` moves rows, never files) stay in the archive, unlinked.
- A failed persona task that was not retried goes with its personas and their image files: the
  keys its personas record, and everything else under the task's folder `personas/<task_id>/`
  (files an interrupted run wrote but had not recorded yet).
"""

from datetime import timedelta

from django.db.models import QuerySet

from core.retention import RetentionPolicy
from generation.models import (
    GeneratedImage,
    GeneratedImageArchive,
    GeneratedPersona,
    GenerationTask,
    Prompt,
    PromptStatus,
    TaskStatus,
)


def _failed_prompts(*, now, age):
    return Prompt.objects.filter(status=PromptStatus.FAILED, updated_at__lt=now - timedelta(days=age))


def _prompt_images(batch: QuerySet) -> None:
    # GeneratedImage.prompt is SET_NULL on both tables: done here set-based (the live images go,
    # the archive keeps its rows), so the prompts' delete needs no collector.
    prompts = batch.values("pk")
    GeneratedImage.objects.filter(prompt__in=prompts).delete()
    GeneratedImageArchive.objects.filter(prompt__in=prompts).update(prompt=None)


def _failed_avatar_tasks(*, now, age):
    return GenerationTask.objects.filter(status=TaskStatus.FAILED, updated_at__lt=now - timedelta(days=age))


def _personas(batch: QuerySet) -> None:
    # GeneratedPersona.task is CASCADE: one DELETE here instead of Django's collector.
    GeneratedPersona.objects.filter(task__in=batch.values("pk")).delete()


def _persona_files(batch: QuerySet) -> list[str]:
    tasks = dict(batch.values_list("pk", "task_id"))
    if not tasks:
        return []
    recorded = GeneratedPersona.objects.filter(task__in=list(tasks)).values_list("images", flat=True)
    keys = [key for images in recorded for key in (images or []) if isinstance(key, str)]
    # The folder last: what is left in it after the recorded keys is what no row knew about.
    return keys + [f"personas/{task_id}/" for task_id in tasks.values()]


POLICIES = [
    RetentionPolicy(
        name="generation.prompts_failed",
        description="failed image prompts, unchanged for more than RETENTION_PROMPT_FAILED_DAYS",
        rows=_failed_prompts,
        setting="RETENTION_PROMPT_FAILED_DAYS",
        default=30,
        before_delete=_prompt_images,
        raw=True,
    ),
    RetentionPolicy(
        name="generation.avatar_tasks_failed",
        description=(
            "failed persona tasks (personas, image files), unchanged for more than "
            "RETENTION_AVATAR_TASK_FAILED_DAYS"
        ),
        rows=_failed_avatar_tasks,
        setting="RETENTION_AVATAR_TASK_FAILED_DAYS",
        default=30,
        before_delete=_personas,
        raw=True,
        files=_persona_files,
    ),
]
