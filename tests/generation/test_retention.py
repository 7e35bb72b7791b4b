"""generation.prompts_failed and generation.avatar_tasks_failed (core.retention, `manage.py cleanup`)."""

import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.retention import policy_run
from generation.models import (
    GeneratedImage,
    GeneratedPersona,
    GenerationTask,
    Prompt,
    PromptStatus,
    TaskStatus,
)
from generation.personas.images import image_key
from tests.factories.generation import (
    GeneratedImageArchiveFactory,
    GeneratedImageFactory,
    GeneratedPersonaFactory,
    GenerationTaskFactory,
    PromptFactory,
)
from tests.fakes.storage import use_unreachable_storage

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _aged(obj, *, days):
    type(obj).objects.filter(pk=obj.pk).update(updated_at=NOW - timedelta(days=days))
    return obj


# Failed prompts -----------------------------------------------------------------------------------


def test_failed_prompts_go_after_30_days_other_prompts_stay():
    old = _aged(PromptFactory(status=PromptStatus.FAILED), days=31)
    recent = _aged(PromptFactory(status=PromptStatus.FAILED), days=29)
    done = _aged(PromptFactory(status=PromptStatus.COMPLETED), days=400)
    queued = _aged(PromptFactory(status=PromptStatus.QUEUED), days=400)

    assert policy_run(name="generation.prompts_failed", now=NOW).rows == 1

    left = set(Prompt.objects.values_list("pk", flat=True))
    assert left == {recent.pk, done.pk, queued.pk}
    assert old.pk not in left


def test_a_failed_prompt_takes_its_live_images_the_archive_keeps_its_rows():
    prompt = _aged(PromptFactory(status=PromptStatus.FAILED), days=31)
    live = GeneratedImageFactory(prompt=prompt)
    archived = GeneratedImageArchiveFactory(prompt=prompt)
    other = GeneratedImageFactory()

    policy_run(name="generation.prompts_failed", now=NOW)

    assert not GeneratedImage.objects.filter(pk=live.pk).exists()
    assert GeneratedImage.objects.filter(pk=other.pk).exists()
    archived.refresh_from_db()
    assert archived.prompt_id is None  # archiving moved the row; retention does not undo that
    connection.check_constraints()


def test_the_failed_prompt_age_is_configurable(settings):
    settings.RETENTION_PROMPT_FAILED_DAYS = 2
    old = _aged(PromptFactory(status=PromptStatus.FAILED), days=3)
    recent = _aged(PromptFactory(status=PromptStatus.FAILED), days=1)

    policy_run(name="generation.prompts_failed", now=NOW)

    assert set(Prompt.objects.filter(pk__in=[old.pk, recent.pk]).values_list("pk", flat=True)) == {recent.pk}


# Failed persona tasks -------------------------------------------------------------------------------


def _persona_files(task, *, personas=2, images=2):
    """Personas with recorded image files, stored where the image step stores them."""
    keys = []
    for position in range(personas):
        recorded = []
        for number in range(1, images + 1):
            key = image_key(task_id=task.task_id, position=position, number=number, mime_type="image/png")
            if default_storage.exists(key):
                default_storage.delete(key)
            recorded.append(default_storage.save(key, ContentFile(b"\x89PNG persona")))
        GeneratedPersonaFactory(task=task, position=position, images=recorded)
        keys += recorded
    return keys


def _failed_task(*, days, **fields):
    return _aged(GenerationTaskFactory(status=TaskStatus.FAILED, task_id=_task_id(), **fields), days=days)


def _task_id():
    return uuid.uuid4().hex[:8]


@pytest.mark.django_db(transaction=True)
def test_a_failed_persona_task_goes_after_30_days_with_personas_and_every_file_of_its_folder():
    old = _failed_task(days=31)
    recorded = _persona_files(old)
    # Written by a run that stopped before recording it: only the task's folder says whose it is.
    unrecorded = image_key(task_id=old.task_id, position=1, number=3, mime_type="image/png")
    default_storage.save(unrecorded, ContentFile(b"\x89PNG never recorded"))
    recent = _failed_task(days=29)
    recent_files = _persona_files(recent, personas=1)
    completed = _aged(GenerationTaskFactory(status=TaskStatus.COMPLETED, task_id=_task_id()), days=400)
    completed_files = _persona_files(completed, personas=1)

    result = policy_run(name="generation.avatar_tasks_failed", now=NOW)

    assert (result.rows, result.files, result.files_failed) == (1, 5, 0)
    assert set(GenerationTask.objects.values_list("pk", flat=True)) == {recent.pk, completed.pk}
    assert not GeneratedPersona.objects.filter(task_id=old.pk).exists()
    assert not any(default_storage.exists(key) for key in [*recorded, unrecorded])
    assert all(default_storage.exists(key) for key in [*recent_files, *completed_files])


@pytest.mark.parametrize(
    "status", [TaskStatus.PENDING, TaskStatus.GENERATING_DATA, TaskStatus.GENERATING_IMAGES]
)
def test_unfinished_persona_tasks_stay_however_old(status):
    task = _aged(GenerationTaskFactory(status=status, task_id=_task_id()), days=400)
    GeneratedPersonaFactory(task=task, position=0)
    assert policy_run(name="generation.avatar_tasks_failed", now=NOW).rows == 0
    assert GeneratedPersona.objects.filter(task=task).exists()


@pytest.mark.django_db(transaction=True)
def test_persona_files_stay_when_the_delete_rolls_back():
    task = _failed_task(days=31)
    keys = _persona_files(task, personas=1)

    with pytest.raises(RuntimeError), transaction.atomic():
        policy_run(name="generation.avatar_tasks_failed", now=NOW)
        raise RuntimeError("rolled back")

    assert GenerationTask.objects.filter(pk=task.pk).exists()
    assert all(default_storage.exists(key) for key in keys)


@pytest.mark.django_db(transaction=True)
def test_a_persona_file_already_gone_counts_and_an_unreachable_store_is_counted_failed(settings, caplog):
    gone_task = _failed_task(days=31)
    gone = _persona_files(gone_task, personas=1, images=1)
    default_storage.delete(gone[0])
    use_unreachable_storage(settings)
    stuck_task = _failed_task(days=31)
    GeneratedPersonaFactory(task=stuck_task, position=0, images=["personas/unreachable/0/1.png"])

    result = policy_run(name="generation.avatar_tasks_failed", now=NOW)

    assert (result.rows, result.files, result.files_failed) == (2, 1, 1)
    assert not GenerationTask.objects.filter(pk__in=[gone_task.pk, stuck_task.pk]).exists()
    assert "personas/unreachable/0/1.png" in caplog.text
    assert "AKIAEXAMPLESECRET" not in caplog.text


def test_persona_task_deletes_are_set_based():
    def queries(count):
        for _ in range(count):
            task = _failed_task(days=31)
            GeneratedPersonaFactory(task=task, position=0, images=[])
        with CaptureQueriesContext(connection) as captured:
            assert policy_run(name="generation.avatar_tasks_failed", now=NOW).rows == count
        assert not [q for q in captured.captured_queries if "persona_description" in q["sql"]]
        return len(captured)

    assert queries(2) == queries(20)
