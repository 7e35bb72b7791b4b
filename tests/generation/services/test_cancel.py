"""Cancelling image prompts and persona tasks: at once while waiting, at the next step while
running (what was made stays), refused once finished, scoped to the actor, safe twice, audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog, Role
from generation import tasks
from generation.backends.builtin import BuiltinImageBackend
from generation.errors import (
    AvatarTaskNotCancellable,
    AvatarTaskNotFound,
    PromptNotCancellable,
    PromptNotFound,
)
from generation.models import (
    GeneratedImage,
    GeneratedPersona,
    GenerationTask,
    Prompt,
    PromptStatus,
    TaskStatus,
)
from generation.personas.data import MAX_BATCH, BuiltinPersonaWriter
from generation.retention import POLICIES
from generation.services.avatar_tasks import avatar_task_cancel, avatar_task_recover_stale, avatar_task_run
from generation.services.prompts import prompt_cancel, prompt_generate, prompt_recover_stale
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedPersonaFactory, GenerationTaskFactory, PromptFactory
from tests.generation.personas.conftest import ScriptedImageBackend, TinyImageBackend

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _audits(action: str, resource_id) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action, resource_id=str(resource_id)))


# --- prompts -------------------------------------------------------------------------------------


def test_a_queued_prompt_is_cancelled_at_once_and_its_worker_does_nothing():
    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=PromptStatus.QUEUED)

    cancelled = prompt_cancel(prompt=prompt, actor=owner)

    assert cancelled.status == PromptStatus.CANCELLED and cancelled.completed_at is not None
    [audit] = _audits("prompt.cancelled", prompt.pk)
    assert audit.details == {"from": "queued"} and audit.user_id == owner.pk
    # The queued message (or a scheduled retry) arrives later: nothing is claimed or generated.
    assert tasks.generate_prompt_images(prompt.pk) is None
    assert prompt_generate(prompt_id=prompt.pk, backend=BuiltinImageBackend()) is None
    assert not GeneratedImage.objects.filter(prompt=prompt).exists()
    assert Prompt.objects.get(pk=prompt.pk).status == PromptStatus.CANCELLED


def test_a_running_prompt_keeps_the_images_its_call_returns_and_stays_cancelled():
    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=PromptStatus.QUEUED, number_of_images=3)

    class CancelledWhileGenerating(BuiltinImageBackend):
        def generate(self, request):
            running = Prompt.objects.get(pk=prompt.pk)
            assert running.status == PromptStatus.RUNNING
            prompt_cancel(prompt=running, actor=owner)
            return super().generate(request)

    result = prompt_generate(prompt_id=prompt.pk, backend=CancelledWhileGenerating())

    assert result.status == PromptStatus.CANCELLED
    assert GeneratedImage.objects.filter(prompt=prompt).count() == 3  # what was made stays
    assert result.backend == "builtin" and result.error_message is None
    assert [a.details for a in _audits("prompt.cancelled", prompt.pk)] == [{"from": "running"}]
    assert not _audits("prompt.completed", prompt.pk)


def test_a_running_prompt_whose_call_fails_after_the_cancel_stays_cancelled():
    from generation.backends import ImageBackendRefused

    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=PromptStatus.QUEUED)

    class CancelledThenRefused(BuiltinImageBackend):
        def generate(self, request):
            prompt_cancel(prompt=Prompt.objects.get(pk=prompt.pk), actor=owner)
            raise ImageBackendRefused("blocked")

    assert (
        prompt_generate(prompt_id=prompt.pk, backend=CancelledThenRefused()).status == PromptStatus.CANCELLED
    )
    assert not _audits("prompt.failed", prompt.pk)


@pytest.mark.parametrize("status", [PromptStatus.COMPLETED, PromptStatus.FAILED])
def test_a_finished_prompt_cannot_be_cancelled(status):
    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=status)
    with pytest.raises(PromptNotCancellable) as raised:
        prompt_cancel(prompt=prompt, actor=owner)
    assert raised.value.code == "prompt_finished"
    assert status.label.lower() in raised.value.message
    assert Prompt.objects.get(pk=prompt.pk).status == status
    assert not _audits("prompt.cancelled", prompt.pk)


def test_another_users_prompt_is_not_found_but_a_moderator_may_cancel_it():
    owner, stranger = UserFactory(role=Role.USER), UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=PromptStatus.RUNNING)
    with pytest.raises(PromptNotFound):
        prompt_cancel(prompt=prompt, actor=stranger)
    assert Prompt.objects.get(pk=prompt.pk).status == PromptStatus.RUNNING

    moderator = UserFactory(role=Role.MODERATOR)
    assert prompt_cancel(prompt=prompt, actor=moderator).status == PromptStatus.CANCELLED
    [audit] = _audits("prompt.cancelled", prompt.pk)
    assert audit.user_id == moderator.pk


def test_cancelling_a_prompt_twice_changes_nothing_the_second_time():
    owner = UserFactory(role=Role.USER)
    prompt = PromptFactory(user=owner, status=PromptStatus.QUEUED)
    first = prompt_cancel(prompt=prompt, actor=owner)
    second = prompt_cancel(prompt=prompt, actor=owner)
    assert second.status == PromptStatus.CANCELLED and second.completed_at == first.completed_at
    assert len(_audits("prompt.cancelled", prompt.pk)) == 1


def test_the_reaper_and_retention_leave_cancelled_prompts_alone():
    owner = UserFactory(role=Role.USER)
    old = timezone.now() - timedelta(days=400)
    prompt = PromptFactory(user=owner, status=PromptStatus.CANCELLED, heartbeat_at=old)
    Prompt.objects.filter(pk=prompt.pk).update(updated_at=old)
    assert prompt_recover_stale() == {"requeued": 0, "failed": 0}
    policy = next(p for p in POLICIES if p.name == "generation.prompts_failed")
    assert not policy.rows(now=timezone.now(), age=1).filter(pk=prompt.pk).exists()
    assert Prompt.objects.get(pk=prompt.pk).status == PromptStatus.CANCELLED


# --- persona tasks -------------------------------------------------------------------------------


def _run(task, *, writer=None, backend=None):
    return avatar_task_run(
        task_id=task.task_id,
        writer=writer or BuiltinPersonaWriter(),
        image_backend=backend or ScriptedImageBackend(inner=TinyImageBackend()),
    )


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.DATA_GENERATED])
def test_a_waiting_task_is_cancelled_at_once_and_its_worker_does_nothing(status):
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=status, number_to_generate=2)

    cancelled = avatar_task_cancel(task=task, actor=owner)

    assert cancelled.status == TaskStatus.CANCELLED and cancelled.completed_at is not None
    [audit] = _audits("avatar_task.cancelled", task.task_id)
    assert audit.details == {"from": status, "personas": 0, "images": 0}
    backend = ScriptedImageBackend(inner=TinyImageBackend())
    assert _run(task, backend=backend) is None
    assert tasks.run_avatar_task(task.task_id) is None
    assert backend.requests == [] and not GeneratedPersona.objects.filter(task=task).exists()
    assert GenerationTask.objects.get(pk=task.pk).status == TaskStatus.CANCELLED


def test_a_task_cancelled_while_writing_personas_stops_before_the_next_batch_keeping_them():
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, number_to_generate=MAX_BATCH + 5)

    class CancelAfterFirstBatch(BuiltinPersonaWriter):
        calls = 0

        def write(self, **kwargs):
            CancelAfterFirstBatch.calls += 1
            batch = super().write(**kwargs)
            if CancelAfterFirstBatch.calls == 1:
                avatar_task_cancel(task=GenerationTask.objects.get(pk=task.pk), actor=owner)
            return batch

    backend = ScriptedImageBackend(inner=TinyImageBackend())
    assert _run(task, writer=CancelAfterFirstBatch(), backend=backend) == TaskStatus.CANCELLED

    task.refresh_from_db()
    assert CancelAfterFirstBatch.calls == 1  # no second batch asked for
    assert GeneratedPersona.objects.filter(task=task).count() == MAX_BATCH  # the first batch stays
    assert task.personas_generated == MAX_BATCH and task.images_generated == 0
    assert backend.requests == [] and task.error_log is None
    assert [a.details["from"] for a in _audits("avatar_task.cancelled", task.task_id)] == ["generating-data"]


def test_a_task_cancelled_during_its_last_batch_of_personas_makes_no_images_and_counts_them():
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, number_to_generate=3)

    class CancelWhileWriting(BuiltinPersonaWriter):
        def write(self, **kwargs):
            avatar_task_cancel(task=GenerationTask.objects.get(pk=task.pk), actor=owner)
            return super().write(**kwargs)

    backend = ScriptedImageBackend(inner=TinyImageBackend())
    assert _run(task, writer=CancelWhileWriting(), backend=backend) == TaskStatus.CANCELLED
    task.refresh_from_db()
    assert GeneratedPersona.objects.filter(task=task).count() == 3 and task.personas_generated == 3
    assert backend.requests == [] and task.images_generated == 0


def test_a_task_cancelled_while_making_images_stops_before_the_next_call_keeping_them():
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, number_to_generate=3, images_per_persona=4)

    class CancelAfterSecondCall(ScriptedImageBackend):
        def generate(self, request):
            results = super().generate(request)
            if len(self.requests) == 2:  # persona 0: its base image, then its variations
                avatar_task_cancel(task=GenerationTask.objects.get(pk=task.pk), actor=owner)
            return results

    backend = CancelAfterSecondCall(inner=TinyImageBackend())
    assert _run(task, backend=backend) == TaskStatus.CANCELLED

    task.refresh_from_db()
    assert len(backend.requests) == 2
    personas = list(GeneratedPersona.objects.filter(task=task).order_by("position"))
    assert [len(p.images) for p in personas] == [4, 0, 0]  # persona 0's images stay, recorded
    assert task.personas_generated == 3 and task.images_generated == 4
    assert task.status == TaskStatus.CANCELLED and task.error_log is None
    # A redelivered message finds nothing to claim.
    assert _run(task, backend=backend) is None and len(backend.requests) == 2


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED])
def test_a_finished_task_cannot_be_cancelled(status):
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=status)
    with pytest.raises(AvatarTaskNotCancellable) as raised:
        avatar_task_cancel(task=task, actor=owner)
    assert raised.value.code == "task_finished"
    assert status.label.lower() in raised.value.message
    assert GenerationTask.objects.get(pk=task.pk).status == status
    assert not _audits("avatar_task.cancelled", task.task_id)


def test_another_users_task_is_not_found_but_a_moderator_may_cancel_it():
    owner, stranger = UserFactory(role=Role.USER), UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=TaskStatus.GENERATING_IMAGES)
    with pytest.raises(AvatarTaskNotFound):
        avatar_task_cancel(task=task, actor=stranger)
    assert GenerationTask.objects.get(pk=task.pk).status == TaskStatus.GENERATING_IMAGES
    moderator = UserFactory(role=Role.MODERATOR)
    assert avatar_task_cancel(task=task, actor=moderator).status == TaskStatus.CANCELLED


def test_cancelling_a_task_twice_changes_nothing_the_second_time():
    owner = UserFactory(role=Role.USER)
    task = GenerationTaskFactory(user=owner, status=TaskStatus.GENERATING_DATA)
    first = avatar_task_cancel(task=task, actor=owner)
    second = avatar_task_cancel(task=task, actor=owner)
    assert second.status == TaskStatus.CANCELLED and second.completed_at == first.completed_at
    assert len(_audits("avatar_task.cancelled", task.task_id)) == 1


def test_the_reaper_and_retention_leave_cancelled_tasks_and_their_personas_alone():
    owner = UserFactory(role=Role.USER)
    old = timezone.now() - timedelta(days=400)
    task = GenerationTaskFactory(user=owner, status=TaskStatus.CANCELLED, heartbeat_at=old)
    GeneratedPersonaFactory(task=task, position=0)
    GenerationTask.objects.filter(pk=task.pk).update(updated_at=old)
    assert avatar_task_recover_stale() == {"requeued": 0, "failed": 0, "resent": 0}
    policy = next(p for p in POLICIES if p.name == "generation.avatar_tasks_failed")
    assert not policy.rows(now=timezone.now(), age=1).filter(pk=task.pk).exists()
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED and task.personas.count() == 1
