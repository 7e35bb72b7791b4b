"""The end of a persona task or an image prompt, told to its owner
(accounts.services.notifications.job_ended_notify): called where the conditional update recorded it."""

from django.urls import reverse

from accounts.services.notifications import job_ended_notify
from generation.models import GenerationTask, Prompt


def _excerpt(text: str, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def avatar_task_ended_notify(*, pk, failed: bool, task: GenerationTask | None = None) -> None:
    """`task`: the row as the caller's ending UPDATE left it, when the caller holds it (saves
    reading it again); else it is read."""
    if task is None:
        task = GenerationTask.objects.filter(pk=pk).first()
    if task is None:
        return
    detail = (
        task.error_log or ""
        if failed
        else f"{task.personas_generated} persona(s) and {task.images_generated} image(s) generated."
    )
    job_ended_notify(
        user_id=task.user_id,
        kind="persona_task",
        job_id=task.pk,
        failed=failed,
        name=f"The persona task {task.task_id} (“{_excerpt(task.persona_description)}”)",
        detail=detail,
        url=reverse("admin:generation_generationtask_change", args=[task.pk]),
    )


def prompt_ended_notify(*, pk, failed: bool) -> None:
    prompt = Prompt.objects.filter(pk=pk).first()
    if prompt is None:
        return
    job_ended_notify(
        user_id=prompt.user_id,
        kind="image_prompt",
        job_id=prompt.pk,
        failed=failed,
        name=f"The image prompt “{_excerpt(prompt.prompt_text)}”",
        detail=(prompt.error_message or "")
        if failed
        else f"{prompt.generated_images.count()} image(s) generated.",
        url=reverse("admin:generation_prompt_change", args=[prompt.pk]),
    )
