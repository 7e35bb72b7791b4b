"""django-q2 entry points of the generation app: take ids, call a service."""


def run_avatar_task(task_id: str) -> str | None:
    """Run a queued persona task (`generation.services.avatar_tasks.avatar_task_run`); a no-op when
    it is not pending or data-generated, so a redelivered message does nothing."""
    from generation.services.avatar_tasks import avatar_task_run

    return avatar_task_run(task_id=task_id)


def generate_prompt_images(prompt_id: int) -> str | None:
    """Generate a queued prompt's images (`generation.services.prompts.prompt_generate`); a no-op
    when it is not queued any more, so a redelivered message does nothing. Returns the status."""
    from generation.services.prompts import prompt_generate

    prompt = prompt_generate(prompt_id=int(prompt_id))
    return prompt.status if prompt is not None else None
