"""Image prompts (seed 002): create and queue, generate through the image backend, caption images.

- `prompt_create` validates every field (ValidationError per field), writes the `Prompt` (queued)
  and queues `generation.tasks.generate_prompt_images` once the transaction commits.
- `prompt_generate` is what the task runs. It claims the row with a conditional update
  (queued -> running), so a redelivered message or a second worker does nothing; calls the backend;
  stores the images and completes the prompt in one transaction. Failures never crash the task:
  an expired or rejected cookie/key, a moderation refusal or a configuration error fail the prompt
  with the backend's message (which never holds a secret); transient failures (timeout, 429, 5xx,
  malformed answers) put it back to `queued` and schedule another try with exponential backoff
  (Retry-After when the service gave one), at most IMAGE_GENERATION_MAX_ATTEMPTS tries in all.
- `prompt_cancel` stops a prompt: a queued one at once (its queued message or scheduled retry
  then claims nothing), a running one when the backend's call returns: the images it made are
  kept, and the prompt stays cancelled (its completing UPDATE is conditional on `running`).
- `prompt_recover_stale` (every 5 minutes) takes back prompts whose worker died mid-run.
- `generated_image_caption` captions a generated image through the backend and keeps each caption
  as a `captions.ImageCaption` with the image's `media_generation_id`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.selectors import visible_to
from accounts.services.audit import audit_log_write
from core.locking import row_lock
from core.retry import RetryPolicy
from generation.backends import (
    ImageBackend,
    ImageBackendError,
    ImageBackendUnavailable,
    ImageRequest,
    image_backend_for,
)
from generation.errors import PromptNotCancellable, PromptNotFound
from generation.models import (
    MAX_IMAGES_PER_PROMPT,
    AspectRatio,
    GeneratedImage,
    GenerationModel,
    Prompt,
    PromptStatus,
)
from generation.services.notifications import prompt_ended_notify

logger = logging.getLogger(__name__)

GENERATE_TASK = "generation.tasks.generate_prompt_images"
PROMPT_MAX_CHARS = 5000
SEED_MAX = 2_147_483_647  # the column is a 32-bit integer
MAX_CAPTIONS = 8
# Re-queue backoff: 30 s, 60 s, 120 s ... capped at 15 minutes (a worker never sleeps on it).
REQUEUE_POLICY = RetryPolicy(attempts=100, base_delay=30.0, factor=2.0, max_delay=900.0, jitter=0.1)
CRASHED = "Image generation failed unexpectedly; an operator can see the log."
DUPLICATE_ID = "The image service returned an image id that is already stored."
WORKER_LOST = "The worker stopped while generating; out of attempts."
CANCELLABLE_STATUSES = (PromptStatus.QUEUED, PromptStatus.RUNNING)
FINISHED_STATUSES = (PromptStatus.COMPLETED, PromptStatus.FAILED, PromptStatus.CANCELLED)
CAPTION_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}


def max_attempts() -> int:
    return max(1, int(getattr(settings, "IMAGE_GENERATION_MAX_ATTEMPTS", 3)))


def stale_after() -> timedelta:
    # A generation call has IMAGE_TIMEOUT per request and a few retries; twice the task timeout is safe.
    return timedelta(seconds=max(600, 2 * int(settings.Q_CLUSTER.get("timeout", 300))))


# --- validation --------------------------------------------------------------------------------


def prompt_fields_clean(*, prompt_text, seed, number_of_images, aspect_ratio, generation_model) -> dict:
    """Every field checked, all errors at once: ValidationError({field: message})."""
    errors: dict[str, str] = {}
    text = prompt_text.strip() if isinstance(prompt_text, str) else ""
    if not text:
        errors["prompt_text"] = "Describe the image (1 to 5000 characters)."
    elif len(text) > PROMPT_MAX_CHARS:
        errors["prompt_text"] = f"The prompt is {len(text)} characters; at most {PROMPT_MAX_CHARS}."
    elif "\x00" in text:
        errors["prompt_text"] = "The prompt cannot contain NUL characters."
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        errors["seed"] = f"The seed is a whole number from 0 to {SEED_MAX}."
    if (
        isinstance(number_of_images, bool)
        or not isinstance(number_of_images, int)
        or not 1 <= number_of_images <= MAX_IMAGES_PER_PROMPT
    ):
        errors["number_of_images"] = f"Between 1 and {MAX_IMAGES_PER_PROMPT} images."
    if aspect_ratio not in AspectRatio.values:
        errors["aspect_ratio"] = f"One of {', '.join(AspectRatio.values)}."
    if generation_model not in GenerationModel.values:
        errors["generation_model"] = f"One of {', '.join(GenerationModel.values)}."
    if errors:
        raise ValidationError(errors)
    return {
        "prompt_text": text,
        "seed": seed,
        "number_of_images": number_of_images,
        "aspect_ratio": aspect_ratio,
        "generation_model": generation_model,
    }


# --- create and queue --------------------------------------------------------------------------


def _queue(prompt_id: int) -> None:
    from django_q.tasks import async_task

    async_task(GENERATE_TASK, prompt_id, task_name=f"generate-prompt-{prompt_id}", group="generation")


def _schedule(prompt_id: int, *, delay: float, attempt: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.create(
        name=f"generate-prompt-{prompt_id}-retry-{attempt}"[:100],
        func=GENERATE_TASK,
        args=repr(prompt_id),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=delay),
    )


def prompt_create(
    *,
    user: User,
    prompt_text: str,
    seed: int = 0,
    number_of_images: int = 1,
    aspect_ratio: str = AspectRatio.SQUARE,
    generation_model: str = GenerationModel.IMAGEN_3,
    meta: RequestMeta | None = None,
) -> Prompt:
    """A queued prompt; its images are generated by a worker once this commits."""
    fields = prompt_fields_clean(
        prompt_text=prompt_text,
        seed=seed,
        number_of_images=number_of_images,
        aspect_ratio=aspect_ratio,
        generation_model=generation_model,
    )
    with transaction.atomic():
        prompt = Prompt.objects.create(user=user, status=PromptStatus.QUEUED, **fields)
        audit_log_write(
            action="prompt.created",
            actor=user,
            target=prompt,
            details={k: v for k, v in fields.items() if k != "prompt_text"},
            meta=meta or RequestMeta(),
        )
        # robust: a broker failure must not undo the prompt; the reaper cannot see queued rows,
        # but the prompt stays visibly queued and can be re-queued by an operator.
        transaction.on_commit(lambda: _queue(prompt.pk), robust=True)
    return prompt


# --- cancel ------------------------------------------------------------------------------------


def prompt_cancel(*, prompt: Prompt, actor: User, meta: RequestMeta | None = None) -> Prompt:
    """Cancel a prompt the actor may see: a queued one at once, a running one when the backend's
    call returns (the images it made are kept). Cancelling a cancelled prompt changes nothing; a
    completed or failed one is PromptNotCancellable (409), another user's PromptNotFound (404)."""
    if not visible_to(Prompt.objects.filter(pk=prompt.pk), user=actor).exists():
        raise PromptNotFound()
    with transaction.atomic():
        prompt = row_lock(row=prompt)
        if prompt.status == PromptStatus.CANCELLED:
            return prompt
        if prompt.status not in CANCELLABLE_STATUSES:
            raise PromptNotCancellable(
                f"The prompt is {prompt.get_status_display().lower()}; it cannot be cancelled."
            )
        previous = prompt.status
        now = timezone.now()
        # The worker's every later write is conditional on `running` (or a claim on `queued`).
        Prompt.objects.filter(pk=prompt.pk).update(
            status=PromptStatus.CANCELLED, completed_at=now, updated_at=now
        )
        audit_log_write(
            action="prompt.cancelled", actor=actor, target=prompt, meta=meta, details={"from": previous}
        )
    prompt.refresh_from_db()
    return prompt


# --- generate (the task) -----------------------------------------------------------------------


def _claim(prompt_id: int) -> bool:
    now = timezone.now()
    return bool(
        Prompt.objects.filter(pk=prompt_id, status=PromptStatus.QUEUED).update(
            status=PromptStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )


def _finish(prompt: Prompt, *, status: str, error: str | None = None, **extra) -> bool:
    """Finish a running prompt; False when it is not running any more (cancelled meanwhile)."""
    now = timezone.now()
    return bool(
        Prompt.objects.filter(pk=prompt.pk, status=PromptStatus.RUNNING).update(
            status=status, error_message=error, completed_at=now, heartbeat_at=now, updated_at=now, **extra
        )
    )


def _fail(prompt: Prompt, *, message: str, backend: str = "") -> None:
    if not _finish(prompt, status=PromptStatus.FAILED, error=message, backend=backend):
        return  # cancelled meanwhile: it stays cancelled
    prompt_ended_notify(pk=prompt.pk, failed=True)
    audit_log_write(
        action="prompt.failed",
        actor=prompt.user,
        target=prompt,
        details={"backend": backend, "error": message[:500], "attempts": prompt.attempts},
    )


def _retry_or_fail(prompt: Prompt, *, exc: ImageBackendUnavailable, backend: str) -> None:
    if prompt.attempts >= max_attempts():
        _fail(prompt, message=f"{exc} (gave up after {prompt.attempts} attempts)", backend=backend)
        return
    delay = REQUEUE_POLICY.delay(prompt.attempts, retry_after=None)
    if exc.retry_after is not None:
        delay = max(delay, min(exc.retry_after, REQUEUE_POLICY.max_delay))
    now = timezone.now()
    with transaction.atomic():
        requeued = Prompt.objects.filter(pk=prompt.pk, status=PromptStatus.RUNNING).update(
            status=PromptStatus.QUEUED,
            error_message=f"Attempt {prompt.attempts} failed: {exc} Trying again in {round(delay)} s.",
            backend=backend,
            heartbeat_at=now,
            updated_at=now,
        )
        if requeued:
            _schedule(prompt.pk, delay=delay, attempt=prompt.attempts)


def prompt_generate(*, prompt_id: int, backend: ImageBackend | None = None) -> Prompt | None:
    """Generate the prompt's images; None when it is not queued (already taken or finished)."""
    if not _claim(prompt_id):
        return None
    prompt = Prompt.objects.select_related("user").get(pk=prompt_id)
    name = ""
    try:
        backend = backend or image_backend_for(user=prompt.user)
        name = backend.name
        results = backend.generate(
            ImageRequest(
                prompt=prompt.prompt_text,
                seed=prompt.seed,
                count=prompt.number_of_images,
                aspect_ratio=prompt.aspect_ratio,
                model=prompt.generation_model,
            )
        )
    except ImageBackendUnavailable as exc:
        _retry_or_fail(prompt, exc=exc, backend=name)
    except ImageBackendError as exc:  # auth (expired cookie), refusal, configuration
        _fail(prompt, message=str(exc), backend=name)
    except Exception:  # a bug must not leave the prompt running forever
        logger.exception("Image generation crashed for prompt %s", prompt_id)
        _fail(prompt, message=CRASHED, backend=name)
    else:
        _store(prompt, results=results, backend=name)
    prompt.refresh_from_db()
    return prompt


def _store(prompt: Prompt, *, results, backend: str) -> None:
    rows = [
        GeneratedImage(
            user_id=prompt.user_id,
            prompt=prompt,
            media_generation_id=result.media_generation_id,
            encoded_image=base64.b64encode(result.data).decode("ascii"),
            seed=result.seed,
            model_name_type=(result.model or "")[:50] or None,
            aspect_ratio=prompt.aspect_ratio,
            fingerprint_log_record_id=result.fingerprint_log_record_id,
            workflow_id=result.workflow_id,
            mime_type=result.mime_type,
            metadata=result.metadata,
        )
        for result in results
    ]
    workflow = next((r.workflow_id for r in results if r.workflow_id), None)
    try:
        with transaction.atomic():
            GeneratedImage.objects.bulk_create(rows)
            if not _finish(prompt, status=PromptStatus.COMPLETED, backend=backend, workflow_id=workflow):
                # Cancelled while the backend worked: the images it made are kept, the prompt
                # stays cancelled.
                Prompt.objects.filter(pk=prompt.pk).update(backend=backend, updated_at=timezone.now())
                logger.info("Prompt %s was cancelled while generating; %d images kept", prompt.pk, len(rows))
                return
            audit_log_write(
                action="prompt.completed",
                actor=prompt.user,
                target=prompt,
                details={"backend": backend, "images": len(rows)},
            )
            prompt_ended_notify(pk=prompt.pk, failed=False)
    except IntegrityError:
        # The service answered an id we already hold: nothing is half-stored (atomic).
        _fail(prompt, message=DUPLICATE_ID, backend=backend)


def prompt_recover_stale() -> dict:
    """Prompts left running by a dead worker: queued again (or failed once out of attempts)."""
    cutoff = timezone.now() - stale_after()
    counts = {"requeued": 0, "failed": 0}
    for prompt in Prompt.objects.filter(status=PromptStatus.RUNNING, heartbeat_at__lt=cutoff).select_related(
        "user"
    ):
        if prompt.attempts >= max_attempts():
            _fail(prompt, message=WORKER_LOST, backend=prompt.backend)
            counts["failed"] += 1
            continue
        with transaction.atomic():
            still_stale = Prompt.objects.filter(
                pk=prompt.pk, status=PromptStatus.RUNNING, heartbeat_at__lt=cutoff
            )
            if still_stale.update(
                status=PromptStatus.QUEUED,
                error_message="The worker stopped while generating; queued again.",
                updated_at=timezone.now(),
            ):
                transaction.on_commit(lambda pk=prompt.pk: _queue(pk), robust=True)
                counts["requeued"] += 1
    return counts


# --- captions of generated images --------------------------------------------------------------


def generated_image_caption(
    *,
    image: GeneratedImage,
    user: User,
    count: int = 1,
    backend: ImageBackend | None = None,
    meta: RequestMeta | None = None,
):
    """Caption a generated image through the image backend; one ImageCaption per caption.

    ValidationError for a bad `count` or an image whose stored bytes cannot be read; the backend's
    ImageBackendError subclasses unchanged (nothing is stored then).
    """
    from captions.services.image_captions import image_caption_store

    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CAPTIONS:
        raise ValidationError({"count": f"Between 1 and {MAX_CAPTIONS} captions."})
    image_type = CAPTION_TYPES.get(image.mime_type)
    if image_type is None:
        raise ValidationError({"image": f"Images of type {image.mime_type} cannot be captioned."})
    data = generated_image_bytes(image=image)
    backend = backend or image_backend_for(user=user)
    texts = backend.caption(data=data, mime_type=image.mime_type, count=count)
    with transaction.atomic():
        return [
            image_caption_store(
                user=user,
                caption_text=text,
                image_path=f"generation/images/{image.pk}",
                image_type=image_type,
                media_generation_id=image.media_generation_id,
                details={"backend": backend.name, "generated_image": image.pk},
                meta=meta,
            )
            for text in texts[:count]
        ]


def generated_image_bytes(*, image: GeneratedImage) -> bytes:
    try:
        return base64.b64decode(image.encoded_image, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"image": "The stored image is not valid base64."}) from None
