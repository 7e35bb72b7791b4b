"""django-q2 entry points of the captions app: take ids, call a service."""


def run_caption_task(task_id: str) -> None:
    """Run a queued caption task (`captions.services.tasks.caption_task_run`); a no-op when it is not
    queued any more, so a redelivered message does nothing."""
    from captions.services.tasks import caption_task_run

    caption_task_run(task_id=task_id)


def generate_image_caption(image_id: int, instruction: str | None = None) -> str | None:
    """Caption one image after `caption_regenerate` (`captions.services.generation.caption_generate`).

    Safe to run twice (django-q delivers at least once): an image that already has a generated
    caption is left alone, since `caption_regenerate` clears it, so a second delivery finds it set.
    A missing image (deleted meanwhile) is not an error. Returns the image's status, for the
    task's result in the admin. `instruction`: the reviewer's request given with the regenerate.
    """
    from captions.models import Image
    from captions.services.generation import caption_generate

    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return None
    if image.generated_caption is not None:
        return image.status
    return caption_generate(image=image, instruction=instruction).status
