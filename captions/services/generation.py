"""Writing the caption of one image: fetch, classify, prompt, caption, fit, score, keep the best.

`caption_generate` is the whole pipeline for one image, called by caption tasks (many images, a
shared backend) and by `captions.tasks.generate_image_caption` (one image, after a regenerate):

1. the image bytes: the stored copy (`local_path`), else download (`core.retry` retries transient
   failures), normalise (upright, ≤ 1024 px, JPEG/PNG without EXIF) and store under the
   connection's id;
2. the category from the backend's `classify_image` (a failed classification is not fatal: the
   image is captioned with the `other` prompt and the reviewer is told);
3. the prompt for that category (`captions.prompts`), naming the language and the length budget;
4. a chain of caption attempts: the category prompt on `AI_VISION_MODEL`, then the simpler
   fallback prompt on the same model, then the category prompt on `AI_VISION_BACKUP_MODEL`. The
   chain moves on when an attempt fails (unavailable, malformed, any error but a refusal) or its
   caption scores below 70 (`captions.quality`), and stops at the first caption scoring 70 or more.
   Every caption is first cut to the image's limit at a sentence boundary, then scored; the
   best-scoring caption seen is kept (the earlier one on a tie), never a worse later one. A backend
   that ignores prompts and models (the builtin one says so in its metadata) is asked once;
5. the result saved under a row lock, only while the image is still `pending` or `error`: a
   reviewer who edited, approved or rejected it meanwhile (or a post that went out) wins, and the
   row is left as it is.

Image-level failures (unreadable or oversized image, download failure, a refusal, every attempt
failing) end as status `error` with a readable `processing_error`, never as an exception: a task
moves on to its next image. Configuration errors (an unknown `AI_BACKEND`) do raise.

The returned row carries `retry_stats` (a `core.retry.RetryStats`: download and caption retries;
successful classifications report none) for the caller's `ProcessingRun`.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from captions.images import ImageError, ImageUnavailable, download_image, normalise_image, store_image
from captions.models import CaptionGenerationUserSettings, Image, ImageCategory, ImageStatus
from captions.prompts import INSTRUCTION_MAX_CHARS, caption_prompt, prompt_overrides
from captions.quality import REVIEW_BELOW, QualityReport, caption_fit, caption_quality
from captions.selectors import caption_length_rule
from captions.services.review import InvalidTransition
from core.ai import (
    AIBackend,
    AIError,
    AIInvalidImage,
    AIRefused,
    CaptionRequest,
    CaptionResult,
    ImageInput,
    backend_for,
)
from core.outbound import platform_throttle
from core.retry import RetryPolicy, RetryStats, call_with_retries

__all__ = [
    "GENERATABLE",
    "REGENERATABLE",
    "CaptionContext",
    "PictureDescription",
    "PictureNotDescribed",
    "caption_context",
    "caption_generate",
    "caption_regenerate",
    "instruction_clean",
    "picture_describe",
]

logger = logging.getLogger(__name__)

S = ImageStatus
# Generation writes only into these; any other status belongs to a reviewer or to posting.
GENERATABLE = (S.PENDING, S.ERROR)
REGENERATABLE = (S.REJECTED, S.ERROR, S.PENDING, S.REVIEWED)
DOWNLOAD_POLICY = RetryPolicy()
DEFAULT_LANGUAGE = "en"
MIME_BY_SUFFIX = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
ORIGINAL_FILENAME_CHARS = 200
TASK_PATH = "captions.tasks.generate_image_caption"
OTHER = ImageCategory.OTHER.value

_defaults = {f.name: f.default for f in CaptionGenerationUserSettings._meta.concrete_fields}
DEFAULT_OPTIMAL_MIN = int(_defaults["optimal_min_length"])
DEFAULT_OPTIMAL_MAX = int(_defaults["optimal_max_length"])


class _ImageFailed(Exception):
    """This image cannot be captioned now; the message becomes its `processing_error`."""


@dataclass(frozen=True, kw_only=True)
class CaptionContext:
    """What every image of one connection shares: the owner's caption settings and the operator's
    prompt overrides. A task reads them once (`caption_context`) instead of three queries an image;
    a setting changed while it runs applies from its next task, as its other settings do."""

    language: str | None
    optimal_min: int
    optimal_max: int
    max_caption_length: int | None
    prompt_overrides: dict[str, str]


def caption_context(*, user_id: int, connection_id: int) -> CaptionContext:
    own = CaptionGenerationUserSettings.objects.filter(
        user_id=user_id, platform_connection_id=connection_id
    ).first()
    return CaptionContext(
        language=own.language if own else None,
        optimal_min=own.optimal_min_length if own else DEFAULT_OPTIMAL_MIN,
        optimal_max=own.optimal_max_length if own else DEFAULT_OPTIMAL_MAX,
        max_caption_length=own.max_caption_length if own else None,
        prompt_overrides=prompt_overrides(),
    )


@dataclass(frozen=True)
class _Attempt:
    prompt: str
    model: str | None


@dataclass(frozen=True)
class _Candidate:
    text: str
    report: QualityReport
    result: CaptionResult
    attempt: _Attempt


@dataclass
class _Loaded:
    picture: ImageInput
    stored: dict = field(default_factory=dict)  # local_path, media_type, original_filename when new


# --- the image bytes -------------------------------------------------------------------------------


def _add_stats(stats: RetryStats, found) -> None:
    """Add statistics from an exception's `retry_stats` or a result's metadata["retry"] dict."""
    if isinstance(found, RetryStats):
        stats.add(found)
    elif isinstance(found, dict):
        with contextlib.suppress(TypeError):  # a backend with other statistics keys: not ours to count
            stats.add(RetryStats(**found))


def _filename_from_url(url: str) -> str | None:
    name = PurePosixPath(unquote(urlsplit(url).path)).name.strip()
    return name[:ORIGINAL_FILENAME_CHARS] or None


def _read_stored(image: Image) -> ImageInput | None:
    """The stored copy, or None when there is none or it is gone (then it is downloaded again)."""
    if not image.local_path:
        return None
    try:
        with default_storage.open(image.local_path, "rb") as handle:
            data = handle.read()
    except OSError:
        logger.info("Stored copy %s of image %s is missing; downloading again", image.local_path, image.pk)
        return None
    if not data:
        return None
    suffix = PurePosixPath(image.local_path).suffix.lower()
    mime_type = image.media_type or MIME_BY_SUFFIX.get(suffix, "image/jpeg")
    return ImageInput(data=data, mime_type=mime_type)


def _load_image(image: Image, *, stats: RetryStats, sleep: Callable[[float], None]) -> _Loaded:
    stored = _read_stored(image)
    if stored is not None:
        return _Loaded(picture=stored)
    try:
        downloaded, download_stats = call_with_retries(
            lambda: platform_throttle().call(
                image.image_url,
                lambda: download_image(url=image.image_url),
                retry_after_of=lambda exc: getattr(exc, "retry_after", None),
            ),
            policy=DOWNLOAD_POLICY,
            is_transient=lambda exc: isinstance(exc, ImageUnavailable) and exc.transient,
            retry_after_of=lambda exc: getattr(exc, "retry_after", None),
            sleep=sleep,
        )
        stats.add(download_stats)
        normalised = normalise_image(data=downloaded.data)
    except ImageError as exc:
        _add_stats(stats, getattr(exc, "retry_stats", None))
        raise _ImageFailed(exc.reason) from None
    key = store_image(
        data=normalised.data, mime_type=normalised.mime_type, key_prefix=str(image.platform_connection_id)
    )
    return _Loaded(
        picture=ImageInput(data=normalised.data, mime_type=normalised.mime_type),
        stored={
            "local_path": key,
            "media_type": normalised.mime_type,
            "original_filename": _filename_from_url(image.image_url),
        },
    )


# --- captioning ------------------------------------------------------------------------------------


def _classify(backend: AIBackend, picture: ImageInput, *, stats: RetryStats) -> tuple[str, str | None]:
    """(category, a note for the reviewer when classification failed)."""
    try:
        category, _confidence = backend.classify_image(picture)
    except AIRefused as exc:
        _add_stats(stats, getattr(exc, "retry_stats", None))
        raise _ImageFailed(f"The AI backend refused this image: {exc}") from None
    except AIInvalidImage as exc:
        raise _ImageFailed(f"The AI backend could not read this image: {exc}") from None
    except AIError as exc:
        _add_stats(stats, getattr(exc, "retry_stats", None))
        logger.info("Classifying an image failed, captioning it as 'other': %s", exc)
        return OTHER, f"The image category could not be determined ({exc}); 'other' was used."
    if category not in ImageCategory.values:  # a backend outside the contract: be lenient
        return OTHER, f"The AI backend named an unknown category {category!r}; 'other' was used."
    return ImageCategory(category).value, None


def _attempts(
    *,
    category: str,
    language: str,
    limit: int,
    optimal_min: int,
    optimal_max: int,
    instruction: str | None = None,
    overrides: dict[str, str] | None = None,
) -> list[_Attempt]:
    budget = {
        "language": language,
        "max_length": limit,
        "optimal_min": optimal_min,
        "optimal_max": optimal_max,
        "instruction": instruction,
        "overrides": overrides,
    }
    main = caption_prompt(category=category, **budget)
    simpler = caption_prompt(category=category, fallback=True, **budget)
    chain = [
        _Attempt(prompt=main, model=settings.AI_VISION_MODEL),
        _Attempt(prompt=simpler, model=settings.AI_VISION_MODEL),
        _Attempt(prompt=main, model=getattr(settings, "AI_VISION_BACKUP_MODEL", None) or None),
    ]
    unique: list[_Attempt] = []
    for attempt in chain:  # a backup model equal to the main one adds nothing
        if attempt.model and attempt not in unique:
            unique.append(attempt)
    return unique


def _best_caption(
    *,
    backend: AIBackend,
    picture: ImageInput,
    attempts: list[_Attempt],
    language: str,
    limit: int,
    optimal_min: int,
    optimal_max: int,
    stats: RetryStats,
) -> _Candidate:
    best: _Candidate | None = None
    last_error: AIError | None = None
    for attempt in attempts:
        request = CaptionRequest(
            image=picture, prompt=attempt.prompt, language=language, max_length=limit, model=attempt.model
        )
        try:
            result = backend.caption_image(request)
        except AIRefused as exc:
            _add_stats(stats, getattr(exc, "retry_stats", None))
            raise _ImageFailed(f"The AI backend refused this image: {exc}") from None
        except AIInvalidImage as exc:
            raise _ImageFailed(f"The AI backend could not read this image: {exc}") from None
        except AIError as exc:
            _add_stats(stats, getattr(exc, "retry_stats", None))
            logger.info("Caption attempt with model %s failed: %s", attempt.model, exc)
            last_error = exc
            continue
        _add_stats(stats, result.metadata.get("retry"))
        text = caption_fit(text=result.text, max_length=limit)
        report = caption_quality(
            text=text,
            optimal_min=optimal_min,
            optimal_max=optimal_max,
            limit=limit,
            placeholder=bool(result.metadata.get("basic_description")),
        )
        if text and (best is None or report.score > best.report.score):
            best = _Candidate(text=text, report=report, result=result, attempt=attempt)
        if best is not None and best.report.score >= REVIEW_BELOW:
            break
        if result.metadata.get("prompt_used") is False:
            break  # the backend ignores prompt and model: asking again gives the same caption
    if best is None:
        reason = f": {last_error}" if last_error else " (the backend returned only empty captions)."
        raise _ImageFailed(f"No caption could be written{reason}")
    return best


def _described(
    *,
    picture: ImageInput,
    backend: AIBackend,
    stats: RetryStats,
    language: str,
    limit: int,
    optimal_min: int,
    optimal_max: int,
    instruction: str | None,
    overrides: dict[str, str] | None = None,
) -> dict:
    """Classify, caption through the attempt chain and score: the caption fields of one picture."""
    category, classify_note = _classify(backend, picture, stats=stats)
    attempts = _attempts(
        category=category,
        language=language,
        limit=limit,
        optimal_min=optimal_min,
        optimal_max=optimal_max,
        instruction=instruction,
        overrides=overrides,
    )
    best = _best_caption(
        backend=backend,
        picture=picture,
        attempts=attempts,
        language=language,
        limit=limit,
        optimal_min=optimal_min,
        optimal_max=optimal_max,
        stats=stats,
    )
    metadata = best.result.metadata
    issues = best.report.issues
    if metadata.get("review_reason"):  # the backend says in its own words why it is a placeholder
        issues = [i for i, rule in zip(issues, best.report.rules, strict=True) if rule != "placeholder"]
    notes = [
        *issues,
        *(metadata.get(key) for key in ("review_reason", "language_note")),
        classify_note,
    ]
    notes = [note for note in notes if isinstance(note, str) and note.strip()]
    return {
        "generated_caption": best.text,
        "caption_quality_score": best.report.score,
        "needs_special_review": bool(
            best.report.needs_special_review
            or metadata.get("needs_review")
            or metadata.get("basic_description")
        ),
        "reviewer_notes": "\n".join(notes) or None,
        "prompt_used": best.attempt.prompt,
        "image_category": category,
    }


def _caption_fields(
    image: Image,
    picture: ImageInput,
    backend: AIBackend,
    stats: RetryStats,
    instruction: str | None,
    context: CaptionContext,
) -> dict:
    # The user's chosen language first, else the language the post itself was written in.
    language = (context.language or image.post.language or "").strip() or DEFAULT_LANGUAGE
    limit = caption_length_rule(
        configured=context.max_caption_length, connection_extra=image.platform_connection.extra
    )
    fields = _described(
        picture=picture,
        backend=backend,
        stats=stats,
        language=language,
        limit=limit,
        optimal_min=context.optimal_min,
        optimal_max=context.optimal_max,
        instruction=instruction,
        overrides=context.prompt_overrides,
    )
    return {**fields, "processing_error": None, "status": S.PENDING}


class PictureNotDescribed(Exception):
    """The picture could not be captioned; the message says why, in plain words."""


@dataclass(frozen=True, kw_only=True)
class PictureDescription:
    text: str
    score: int
    needs_special_review: bool
    notes: str | None
    category: str
    prompt: str


def picture_describe(
    *,
    data: bytes,
    language: str,
    limit: int,
    instruction: str | None = None,
    user=None,
    backend: AIBackend | None = None,
) -> PictureDescription:
    """Caption image bytes that belong to no fediverse post (an image attached to a draft) with the
    same chain, fitting and quality rules as `caption_generate`. `limit` is the target network's
    alt-text limit. `user` owns the picture: `backend` defaults to `core.ai.backend_for(user=user)`,
    which keeps it on this machine when they chose builtin AI only. Raises PictureNotDescribed
    (unreadable image, refusal, every attempt failed)."""
    try:
        normalised = normalise_image(data=data)
    except ImageError as exc:
        raise PictureNotDescribed(exc.reason) from None
    picture = ImageInput(data=normalised.data, mime_type=normalised.mime_type)
    try:
        fields = _described(
            picture=picture,
            backend=backend or backend_for(user=user),
            stats=RetryStats(),
            language=(language or "").strip() or DEFAULT_LANGUAGE,
            limit=limit,
            optimal_min=min(DEFAULT_OPTIMAL_MIN, limit),
            optimal_max=min(DEFAULT_OPTIMAL_MAX, limit),
            instruction=instruction_clean(instruction),
        )
    except _ImageFailed as exc:
        raise PictureNotDescribed(str(exc)) from None
    return PictureDescription(
        text=fields["generated_caption"],
        score=fields["caption_quality_score"],
        needs_special_review=fields["needs_special_review"],
        notes=fields["reviewer_notes"],
        category=fields["image_category"],
        prompt=fields["prompt_used"],
    )


def _finish(image: Image, fields: dict) -> Image:
    """Write `fields` if the image is still the pipeline's; return the row as it is now.

    One conditional UPDATE is the check and the write at once: a reviewer's change that landed
    meanwhile makes it match nothing, and then the row is read back as they left it."""
    now = timezone.now()
    if Image.objects.filter(pk=image.pk, status__in=GENERATABLE).update(**fields, updated_at=now):
        for name, value in fields.items():
            setattr(image, name, value)
        image.updated_at = now
        return image
    current = Image.objects.select_related("post", "platform_connection").filter(pk=image.pk).first()
    if current is None:  # deleted meanwhile (its post was removed): nothing to write
        return image
    logger.info("Image %s became %s while captioning; left as it is", image.pk, current.status)
    return current


def caption_generate(
    *,
    image: Image,
    backend: AIBackend | None = None,
    sleep: Callable[[float], None] = time.sleep,
    instruction: str | None = None,
    context: CaptionContext | None = None,
) -> Image:
    """Caption one image (see the module docstring); return its fresh row with `retry_stats`.

    `backend` defaults to `core.ai.backend_for(user=<the connection's owner>)` (their builtin-only
    preference holds); a task passes one instance for all its images.
    `instruction`: a reviewer's request for this image, added to every prompt (`caption_prompt`).
    `sleep` paces download retries (tests inject a no-op). An image that is not `pending` or
    `error` is returned untouched, without any outside call.
    `context`: a task's `caption_context` for the image's connection; with it, `image` is taken as
    the task just loaded it (with its post and connection) instead of being read again.
    """
    stats = RetryStats()
    if context is not None:
        current = image
    else:
        current = Image.objects.select_related("post", "platform_connection").filter(pk=image.pk).first()
    if current is None:
        image.retry_stats = stats
        return image
    if current.status not in GENERATABLE:
        current.retry_stats = stats
        return current
    backend = backend or backend_for(user=current.platform_connection.user)
    if context is None:
        connection = current.platform_connection
        context = caption_context(user_id=connection.user_id, connection_id=connection.pk)

    stored: dict = {}
    try:
        loaded = _load_image(current, stats=stats, sleep=sleep)
        stored = loaded.stored
        fields = {**stored, **_caption_fields(current, loaded.picture, backend, stats, instruction, context)}
    except _ImageFailed as exc:
        logger.info("Image %s could not be captioned: %s", current.pk, exc)
        fields = {**stored, "status": S.ERROR, "processing_error": str(exc)}
    result = _finish(current, fields)
    result.retry_stats = stats
    return result


# --- regenerate ------------------------------------------------------------------------------------


def _queue_generation(image_id: int, instruction: str | None) -> None:
    extra = {"instruction": instruction} if instruction else {}
    async_task(TASK_PATH, image_id, task_name=f"caption-image-{image_id}", **extra)


def instruction_clean(instruction: str | None) -> str | None:
    """A reviewer's instruction to the model, whitespace collapsed; ValidationError when too long."""
    text = " ".join((instruction or "").split())
    if len(text) > INSTRUCTION_MAX_CHARS:
        raise ValidationError(
            {"instruction": f"The instruction has {len(text)} characters; at most {INSTRUCTION_MAX_CHARS}."}
        )
    return text or None


def caption_regenerate(
    *,
    image: Image,
    actor: User | None,
    meta: RequestMeta | None = None,
    instruction: str | None = None,
) -> Image:
    """Ask for a new caption: back to `pending` with the generated caption, its score, review flag
    and error cleared, and `captions.tasks.generate_image_caption` queued once the transaction
    commits. Allowed from rejected, error, pending and reviewed; a reviewer's earlier wording is
    cleared too, so approving afterwards takes the new caption. An approved or posted caption
    raises InvalidTransition (409).

    `instruction` (at most INSTRUCTION_MAX_CHARS after whitespace is collapsed, else a
    ValidationError on `instruction`) is passed to the model with the prompt, e.g. "transcribe the
    sign"; it is kept in the audit row, and the prompt sent is in the image's `prompt_used`.
    """
    instruction = instruction_clean(instruction)
    with transaction.atomic():
        locked = Image.objects.select_for_update().filter(pk=image.pk).get()
        if locked.status not in REGENERATABLE:
            current = locked.get_status_display().lower()
            raise InvalidTransition(f"A caption that is {current} cannot be regenerated.")
        previous = locked.status
        locked.status = S.PENDING
        locked.generated_caption = None
        locked.reviewed_caption = None
        locked.caption_quality_score = None
        locked.needs_special_review = False
        locked.processing_error = None
        locked.save(
            update_fields=[
                "status",
                "generated_caption",
                "reviewed_caption",
                "caption_quality_score",
                "needs_special_review",
                "processing_error",
                "updated_at",
            ]
        )
        audit_log_write(
            action="caption.regenerate_requested",
            actor=actor,
            target=locked,
            meta=meta,
            details={"from": previous, **({"instruction": instruction} if instruction else {})},
        )
        image_id = locked.pk
        transaction.on_commit(lambda: _queue_generation(image_id, instruction))
    return Image.objects.select_related("post", "platform_connection").get(pk=image_id)
