"""Human review of captions: edit, approve, reject, in bulk too.

Status moves only along TRANSITIONS; each change re-reads the row under a lock, so two
reviewers acting at once cannot both win, and every change is audited. Posting (approved →
posted / error) and regeneration (→ pending) are their own services.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from captions.errors import InvalidTransition
from captions.models import Image, ImageStatus
from captions.quality import caption_length, caption_text_clean
from captions.selectors import caption_length_limit
from core.locking import row_lock

S = ImageStatus
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING: {S.REVIEWED, S.APPROVED, S.REJECTED, S.ERROR},
    S.REVIEWED: {S.REVIEWED, S.APPROVED, S.REJECTED, S.ERROR},
    S.APPROVED: {S.REVIEWED, S.REJECTED, S.POSTED, S.ERROR},
    S.REJECTED: {S.REVIEWED, S.PENDING},
    S.ERROR: {S.REVIEWED, S.PENDING, S.APPROVED},
    # A posted caption can be edited again, to be approved and posted anew.
    S.POSTED: {S.REVIEWED},
}
APPROVABLE = (S.PENDING, S.REVIEWED, S.ERROR)
REJECTABLE = (S.PENDING, S.REVIEWED, S.APPROVED)


def ensure_transition(image: Image, target: str) -> None:
    if target not in TRANSITIONS[image.status]:
        current = image.get_status_display().lower()
        raise InvalidTransition(f"A caption that is {current} cannot become {target}.")


def _clean_caption(*, image: Image, text: str | None, field: str) -> str:
    """The caption as it will be stored and posted (line breaks kept: `caption_text_clean`), or a
    ValidationError on `field` when it is empty or longer than the image's limit, counted as the
    network counts it (a line break is one character)."""
    text = caption_text_clean(text)
    if not text:
        raise ValidationError({field: "The caption is empty."})
    limit = caption_length_limit(image=image)
    length = caption_length(text)
    if length > limit:
        raise ValidationError({field: f"The caption has {length} characters; this image allows {limit}."})
    return text


@transaction.atomic
def caption_edit(*, image: Image, editor: User, text: str, meta: RequestMeta | None = None) -> Image:
    """Store a reviewer's wording; the caption becomes `reviewed` (approve it to post)."""
    image = row_lock(row=image, related=("platform_connection",))
    ensure_transition(image, S.REVIEWED)
    previous = image.status
    image.reviewed_caption = _clean_caption(image=image, text=text, field="reviewed_caption")
    image.status = S.REVIEWED
    image.reviewed_by = editor
    image.save(update_fields=["reviewed_caption", "status", "reviewed_by", "updated_at"])
    audit_log_write(
        action="caption.edited", actor=editor, target=image, meta=meta, details={"from": previous}
    )
    return image


@transaction.atomic
def caption_approve(
    *, image: Image, reviewer: User, text: str | None = None, meta: RequestMeta | None = None
) -> Image:
    """Approve the caption for posting: `final_caption` is the given text, else the reviewed,
    else the generated caption."""
    image = row_lock(row=image, related=("platform_connection",))
    ensure_transition(image, S.APPROVED)
    previous = image.status
    chosen = text if text is not None else (image.reviewed_caption or image.generated_caption)
    image.final_caption = _clean_caption(image=image, text=chosen, field="final_caption")
    if text is not None:
        image.reviewed_caption = image.final_caption
    image.status = S.APPROVED
    image.reviewed_by = reviewer
    image.reviewed_at = timezone.now()
    image.processing_error = None
    image.save(
        update_fields=[
            "final_caption",
            "reviewed_caption",
            "status",
            "reviewed_by",
            "reviewed_at",
            "processing_error",
            "updated_at",
        ]
    )
    audit_log_write(
        action="caption.approved", actor=reviewer, target=image, meta=meta, details={"from": previous}
    )
    return image


@transaction.atomic
def caption_reject(
    *, image: Image, reviewer: User, notes: str | None = None, meta: RequestMeta | None = None
) -> Image:
    image = row_lock(row=image, related=("platform_connection",))
    ensure_transition(image, S.REJECTED)
    previous = image.status
    image.status = S.REJECTED
    image.reviewed_by = reviewer
    image.reviewed_at = timezone.now()
    if notes:
        image.reviewer_notes = notes.strip()
    image.save(update_fields=["status", "reviewed_by", "reviewed_at", "reviewer_notes", "updated_at"])
    audit_log_write(
        action="caption.rejected", actor=reviewer, target=image, meta=meta, details={"from": previous}
    )
    return image


def _bulk(*, images: QuerySet, eligible: Iterable[str], changes: dict, action: str, actor: User, meta) -> int:
    with transaction.atomic():
        ids = list(images.filter(status__in=list(eligible)).select_for_update().values_list("pk", flat=True))
        changed = Image.objects.filter(pk__in=ids).update(**changes, updated_at=timezone.now())
        if changed:
            audit_log_write(
                action=action,
                actor=actor,
                resource_type="image",
                details={"count": changed, "ids": ids[:1000]},
                meta=meta,
            )
    return changed


def caption_bulk_approve(*, images: QuerySet, reviewer: User, meta: RequestMeta | None = None) -> int:
    """Approve every image in `images` that is pending, reviewed or in error and has a caption
    to approve, in one statement; the others are left as they are. Returns how many changed.

    Captions longer than their image's limit are not checked here row by row: the generation
    pipeline never stores one, and an edit goes through `caption_edit`, which checks.
    """
    with_caption = images.exclude(reviewed_caption__isnull=True, generated_caption__isnull=True)
    return _bulk(
        images=with_caption,
        eligible=APPROVABLE,
        changes={
            "final_caption": Coalesce(NullIf(F("reviewed_caption"), Value("")), F("generated_caption")),
            "status": S.APPROVED,
            "reviewed_by": reviewer,
            "reviewed_at": timezone.now(),
            "processing_error": None,
        },
        action="caption.bulk_approved",
        actor=reviewer,
        meta=meta,
    )


def caption_bulk_reject(*, images: QuerySet, reviewer: User, meta: RequestMeta | None = None) -> int:
    return _bulk(
        images=images,
        eligible=REJECTABLE,
        changes={"status": S.REJECTED, "reviewed_by": reviewer, "reviewed_at": timezone.now()},
        action="caption.bulk_rejected",
        actor=reviewer,
        meta=meta,
    )
