"""The end of an image prompt is told to its owner once, finished or failed."""

import pytest
from django.core import mail

from accounts.models import Notification, NotificationEvent
from generation.backends.builtin import BuiltinImageBackend
from generation.models import PromptStatus
from generation.services.prompts import prompt_generate
from tests.factories.generation import PromptFactory

pytestmark = pytest.mark.django_db


def test_a_completed_prompt_is_told_once(django_capture_on_commit_callbacks):
    prompt = PromptFactory(status=PromptStatus.QUEUED, prompt_text="a lighthouse at dusk")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            prompt_generate(prompt_id=prompt.pk, backend=BuiltinImageBackend()).status
            == PromptStatus.COMPLETED
        )
        assert prompt_generate(prompt_id=prompt.pk, backend=BuiltinImageBackend()) is None
    [told] = Notification.objects.filter(user=prompt.user)
    assert (told.event, told.key) == (NotificationEvent.JOB_FINISHED, f"image_prompt:{prompt.pk}:finished")
    assert told.title == "The image prompt “a lighthouse at dusk” finished"
    assert (
        told.body == "1 image(s) generated." and told.url == f"/admin/generation/prompt/{prompt.pk}/change/"
    )
    assert mail.outbox == []


def test_a_failed_prompt_is_told_once_and_emailed(django_capture_on_commit_callbacks):
    class Broken:
        name = "broken"

        def generate(self, request):
            raise RuntimeError("boom")

    prompt = PromptFactory(status=PromptStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        assert prompt_generate(prompt_id=prompt.pk, backend=Broken()).status == PromptStatus.FAILED
        assert prompt_generate(prompt_id=prompt.pk, backend=Broken()) is None
    [told] = Notification.objects.filter(user=prompt.user)
    assert told.event == NotificationEvent.JOB_FAILED and "unexpectedly" in told.body
    assert len(mail.outbox) == 1


def test_a_persona_task_that_completes_or_fails_is_told_once(monkeypatch):
    from generation.models import TaskStatus
    from generation.services.avatar_tasks import avatar_task_run
    from tests.factories.generation import GeneratedPersonaFactory, GenerationTaskFactory

    def unwanted(**_kwargs):
        raise AssertionError("nothing was left to write or draw")

    monkeypatch.setattr("generation.services.avatar_tasks.persona_writer_for", unwanted)
    task = GenerationTaskFactory(number_to_generate=1, images_per_persona=4, status=TaskStatus.PENDING)
    GeneratedPersonaFactory(task=task, position=0, images=[f"k/{n}.png" for n in range(1, 5)])
    assert avatar_task_run(task_id=task.task_id) == TaskStatus.COMPLETED
    avatar_task_run(task_id=task.task_id)  # redelivered: claims nothing, tells nothing
    [told] = Notification.objects.filter(user=task.user)
    assert (told.event, told.key) == (NotificationEvent.JOB_FINISHED, f"persona_task:{task.pk}:finished")
    assert told.title.startswith(f"The persona task {task.task_id} (") and told.title.endswith("finished")
