"""Media on a workflow's posts and their alt text: attach, order, remove; describe, edit, approve.

Every image this project publishes carries alt text a person approved. An attachment enters as
`pending` and the caption backends write its alt text (`media_alt_text_write`, a task queued on
commit; the same chain, fitting and quality rules as fediverse captions, within the smallest
alt-text limit of the networks it goes to). It is then `awaiting_review`: the owner or a reviewer
edits it and approves it (`approved`). Video, and images the AI could not describe, are
`needs_writing`: a person writes the text, nothing is skipped silently. An edit after approval
needs approving again.

`media_gate_problems` is the gate: a platform whose post carries an attachment that is not
approved cannot be accepted, published or scheduled (AltTextNotApproved, 409, naming each image).
The owner may relax it (User.alt_text_gate) only to "not empty".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import AltTextGate, User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from captions.alt_text import alt_text_missing
from captions.models import CaptionGenerationUserSettings
from captions.quality import caption_length, caption_quality, caption_text_clean
from core.media_sources import media_source_fetch
from core.stored_files import stored_files_delete
from platforms.kinds.media import MediaItem, MediaRules, media_rules_loosest
from platforms.kinds.registry import kind_of, kinds_for_target, media_rules_for_target
from platforms.models import PlatformConnection
from workflows.errors import AltTextNotApproved, MediaRefused
from workflows.media_files import MediaUnreadable, media_facts, media_read, media_store
from workflows.models import (
    LIVE_PUBLISHING_STATUSES,
    AltTextStatus,
    MediaAttachment,
    MediaOrigin,
    Platform,
    PublishingJob,
    Workflow,
    WorkflowStatus,
)

logger = logging.getLogger(__name__)

S = AltTextStatus
TASK_PATH = "workflows.tasks.write_alt_text"
DEFAULT_ALT_TEXT_LIMIT = 1500
MAX_FILENAME_CHARS = 200
# A cancelled or archived workflow's media no longer change; a post that is queued, scheduled or
# publishing keeps what it carries until its job is cancelled (as its draft does).
CLOSED = (WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED)
VIDEO_NOTE = "Alt text for a video is written by a person: the caption backends describe still images only."


# What a workflow's posts may carry -------------------------------------------------------------


def _targets(workflow: Workflow) -> list[str]:
    return list(workflow.platform_states.order_by("platform").values_list("platform", flat=True))


def target_media_rules(*, workflow: Workflow, target: str) -> MediaRules:
    """What the post for `target` may carry: what the owner's own active connections for it take
    (each instance's limits included), else what the target's networks take by their documents.
    The connection a job publishes through is checked again before it publishes."""
    connections = PlatformConnection.objects.filter(
        user_id=workflow.user_id, is_active=True, platform_type__in=kinds_for_target(target)
    ).only("platform_type", "extra")
    rules = [kind_of(c.platform_type).media_for(extra=c.extra) for c in connections]
    loosest = media_rules_loosest(rules)
    return loosest if loosest.takes_media else media_rules_for_target(target)


def attachment_targets(attachment: MediaAttachment) -> list[str]:
    """The workflow targets whose posts carry this attachment."""
    if attachment.platform:
        return [attachment.platform]
    return _targets(attachment.workflow)


def alt_text_limit_of(attachment: MediaAttachment) -> int:
    """The smallest alt-text limit among the networks the attachment goes to."""
    limits = [
        rules.alt_text_limit
        for rules in (
            target_media_rules(workflow=attachment.workflow, target=t) for t in attachment_targets(attachment)
        )
        if rules.alt_text_limit
    ]
    return min(limits) if limits else DEFAULT_ALT_TEXT_LIMIT


def _post_media(workflow: Workflow, platform: str) -> list[MediaAttachment]:
    """The attachments on `platform`'s post, in order."""
    return list(
        MediaAttachment.objects.filter(workflow_id=workflow.pk)
        .filter(Q(platform__isnull=True) | Q(platform=platform))
        .order_by("position", "created_at")
    )


def media_rule_problems(*, rules: MediaRules, attachments: Iterable[MediaAttachment]) -> list[str]:
    return rules.problems([(a.media_type, a.size, (a.width or 0) * (a.height or 0)) for a in attachments])


# Attaching -------------------------------------------------------------------------------------


def _ensure_open(workflow: Workflow, *, targets: list[str] | None = None) -> None:
    if workflow.status in CLOSED:
        raise MediaRefused(
            f"The workflow is {workflow.get_status_display().lower()}; its media no longer change."
        )
    live = PublishingJob.objects.filter(workflow_id=workflow.pk, status__in=LIVE_PUBLISHING_STATUSES)
    if targets is not None:
        live = live.filter(platform__in=targets)
    platform = live.values_list("platform", flat=True).first()
    if platform is not None:
        raise MediaRefused(
            f"The {Platform(platform).label} post is queued, scheduled or publishing with these "
            "media; cancel its job first."
        )


def _clean_platform(workflow: Workflow, platform: str | None) -> str | None:
    if platform in (None, ""):
        return None
    if platform not in _targets(workflow):
        choices = ", ".join(_targets(workflow))
        raise ValidationError({"platform": f"This workflow writes for {choices}; leave it blank for all."})
    return platform


def _clean_focus(focus) -> tuple[float | None, float | None]:
    if focus in (None, "", []):
        return None, None
    try:
        x, y = (float(value) for value in focus)
    except (TypeError, ValueError):
        raise ValidationError({"focus": "Give two numbers from -1 to 1: [x, y]."}) from None
    if not (-1 <= x <= 1 and -1 <= y <= 1):
        raise ValidationError({"focus": "Both numbers of the focus point are from -1 to 1."})
    return x, y


def _clean_language(language: str | None, workflow: Workflow) -> str:
    """The alt text's language: as given, else the language the owner captions in (their caption
    settings), else English."""
    text = (language or "").strip()
    if not text:
        text = (
            CaptionGenerationUserSettings.objects.filter(user_id=workflow.user_id)
            .exclude(language__isnull=True)
            .exclude(language="")
            .order_by("-updated_at")
            .values_list("language", flat=True)
            .first()
            or "en"
        )
    if len(text) > 16 or not text.replace("-", "").isalnum():
        raise ValidationError({"language": "A language code such as en, de or pt-BR."})
    return text


def _fit_problems(workflow: Workflow, candidate: MediaAttachment) -> list[str]:
    """Would the posts still be publishable with `candidate` added (each target's own rules)?"""
    found = []
    for target in attachment_targets(candidate):
        rules = target_media_rules(workflow=workflow, target=target)
        items = [*_post_media(workflow, target), candidate]
        problems = media_rule_problems(rules=rules, attachments=items)
        found += [f"{Platform(target).label}: {problem}" for problem in problems]
    return found


def media_attach(
    *,
    workflow: Workflow,
    actor: User | None,
    data: bytes | None = None,
    filename: str | None = None,
    source: str | None = None,
    ref: str | None = None,
    platform: str | None = None,
    language: str | None = None,
    focus=None,
    meta: RequestMeta | None = None,
) -> MediaAttachment:
    """Add an image or video at the end of the workflow's media: uploaded bytes (`data`,
    `filename`), or the owner's own media from a source (`source` "generated" with `ref` an image
    id, "persona" with `ref` "<persona id>/<n>"). Checked by content, size and pixels, and against
    the rules of every network the posts go to; ValidationError (nothing stored) otherwise."""
    platform = _clean_platform(workflow, platform)
    _ensure_open(workflow, targets=[platform] if platform else None)
    focus_x, focus_y = _clean_focus(focus)
    language = _clean_language(language, workflow)
    if (data is None) == (source is None):
        raise ValidationError({"file": "Upload a file, or pick a generated or persona image (not both)."})
    origin, origin_ref = MediaOrigin.UPLOAD, ""
    if source is not None:
        if source not in (MediaOrigin.GENERATED, MediaOrigin.PERSONA):
            raise ValidationError({"source": "Choose generated or persona."})
        try:
            found = media_source_fetch(name=source, user=workflow.user, ref=str(ref or ""))
        except LookupError as exc:
            raise ValidationError({"ref": str(exc)}) from None
        data, filename, origin, origin_ref = found.data, found.filename, MediaOrigin(source), str(ref)
    try:
        facts = media_facts(data)
    except MediaUnreadable as exc:
        raise ValidationError({"file": str(exc)}) from None
    name = (
        " ".join(str(filename or "").split())[-MAX_FILENAME_CHARS:]
        or f"media.{facts.media_type.split('/')[1]}"
    )
    candidate = MediaAttachment(
        workflow=workflow,
        platform=platform,
        media_type=facts.media_type,
        size=facts.size,
        width=facts.width,
        height=facts.height,
    )
    problems = _fit_problems(workflow, candidate)
    if problems:
        raise ValidationError({"file": problems})
    key = media_store(data=data, facts=facts, owner_id=workflow.user_id)
    video = facts.media_type.startswith("video/")
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        _ensure_open(locked, targets=[platform] if platform else None)
        last = locked.media.aggregate(last=Max("position"))["last"]
        attachment = MediaAttachment.objects.create(
            workflow=locked,
            platform=platform,
            position=0 if last is None else last + 1,
            origin=origin,
            origin_ref=origin_ref,
            storage_key=key,
            media_type=facts.media_type,
            filename=name,
            size=facts.size,
            width=facts.width,
            height=facts.height,
            focus_x=focus_x,
            focus_y=focus_y,
            language=language,
            alt_status=S.NEEDS_WRITING if video else S.PENDING,
            alt_notes=VIDEO_NOTE if video else "",
        )
        audit_log_write(
            action="workflow.media_attached",
            actor=actor,
            target=locked,
            meta=meta,
            details={"media": str(attachment.pk), "type": facts.media_type, "origin": origin},
        )
        if not video:
            transaction.on_commit(lambda: _queue_alt_text(attachment.pk, None))
    return attachment


def media_remove(*, attachment: MediaAttachment, actor: User | None, meta: RequestMeta | None = None) -> None:
    """Take an attachment off the posts (its file goes once no attachment names it)."""
    workflow = attachment.workflow
    _ensure_open(workflow, targets=attachment_targets(attachment))
    with transaction.atomic():
        Workflow.objects.select_for_update().get(pk=workflow.pk)
        deleted, _ = MediaAttachment.objects.filter(pk=attachment.pk).delete()
        if not deleted:
            return
        _renumber(workflow)
        audit_log_write(
            action="workflow.media_removed",
            actor=actor,
            target=workflow,
            meta=meta,
            details={"media": str(attachment.pk), "filename": attachment.filename},
        )
        key = attachment.storage_key
        if not MediaAttachment.objects.filter(storage_key=key).exists():
            transaction.on_commit(lambda: stored_files_delete(names=[key]))


def _renumber(workflow: Workflow, order: list[UUID] | None = None) -> None:
    attachments = list(
        MediaAttachment.objects.filter(workflow_id=workflow.pk).order_by("position", "created_at")
    )
    if order is not None:
        rank = {pk: index for index, pk in enumerate(order)}
        attachments.sort(key=lambda a: rank[a.pk])
    for position, attachment in enumerate(attachments):
        if attachment.position != position:
            attachment.position = position
            attachment.save(update_fields=["position", "updated_at"])


def media_reorder(
    *, workflow: Workflow, actor: User | None, order: list, meta: RequestMeta | None = None
) -> list[MediaAttachment]:
    """Put the workflow's attachments in `order` (every attachment's id, once each)."""
    _ensure_open(workflow)
    with transaction.atomic():
        Workflow.objects.select_for_update().get(pk=workflow.pk)
        current = set(MediaAttachment.objects.filter(workflow_id=workflow.pk).values_list("pk", flat=True))
        try:
            wanted = [UUID(str(value)) for value in order]
        except (TypeError, ValueError):
            raise ValidationError({"order": "Give the attachments' ids."}) from None
        if len(wanted) != len(set(wanted)) or set(wanted) != current:
            raise ValidationError({"order": "Name every attachment of the workflow exactly once."})
        _renumber(workflow, wanted)
        audit_log_write(
            action="workflow.media_reordered",
            actor=actor,
            target=workflow,
            meta=meta,
            details={"order": [str(pk) for pk in wanted]},
        )
    return list(MediaAttachment.objects.filter(workflow_id=workflow.pk).order_by("position"))


# Alt text --------------------------------------------------------------------------------------


def _queue_alt_text(attachment_id: UUID, instruction: str | None) -> None:
    extra = {"instruction": instruction} if instruction else {}
    async_task(TASK_PATH, str(attachment_id), task_name=f"alt-text-{attachment_id}", **extra)


def media_alt_text_write(
    *, attachment_id: UUID | str, instruction: str | None = None, backend=None
) -> MediaAttachment | None:
    """Describe a pending image with the caption backends (task body; safe to run twice: only a
    `pending` attachment is written, under a row lock, and a person's edit meanwhile wins)."""
    from captions.services.generation import PictureNotDescribed, picture_describe

    attachment = MediaAttachment.objects.select_related("workflow").filter(pk=attachment_id).first()
    if attachment is None or attachment.alt_status != S.PENDING:
        return attachment
    limit = alt_text_limit_of(attachment)
    try:
        described = picture_describe(
            data=media_read(attachment.storage_key),
            language=attachment.language,
            limit=limit,
            instruction=instruction,
            user=attachment.workflow.user,
            backend=backend,
        )
        fields = {
            "generated_alt_text": described.text,
            "alt_text": described.text,
            "alt_score": described.score,
            "alt_notes": described.notes or "",
            "needs_special_review": described.needs_special_review,
            "alt_status": S.AWAITING_REVIEW,
        }
    except (PictureNotDescribed, OSError) as exc:
        logger.info("Attachment %s could not be described: %s", attachment.pk, exc)
        fields = {
            "alt_status": S.NEEDS_WRITING,
            "alt_notes": f"The AI could not describe this image ({exc}); write the alt text.",
        }
    with transaction.atomic():
        locked = MediaAttachment.objects.select_for_update().filter(pk=attachment.pk).first()
        if locked is None or locked.alt_status != S.PENDING:
            return locked
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*fields, "updated_at"])
    return locked


def _clean_alt_text(attachment: MediaAttachment, text) -> str:
    if not isinstance(text, str):
        raise ValidationError({"alt_text": "Must be text."})
    cleaned = caption_text_clean(text)
    if alt_text_missing(cleaned):
        raise ValidationError(
            {"alt_text": "Write what the image shows: alt text needs words, not only symbols."}
        )
    limit = alt_text_limit_of(attachment)
    if caption_length(cleaned) > limit:
        count = caption_length(cleaned)
        message = f"The alt text has {count} characters; the networks it goes to allow {limit}."
        raise ValidationError({"alt_text": message})
    return cleaned


def _locked(attachment: MediaAttachment) -> MediaAttachment:
    locked = (
        MediaAttachment.objects.select_for_update()
        .select_related("workflow")
        .filter(pk=attachment.pk)
        .first()
    )
    if locked is None:
        raise MediaRefused("The attachment was removed.")
    _ensure_open(locked.workflow, targets=attachment_targets(locked))
    return locked


def media_alt_text_edit(
    *, attachment: MediaAttachment, actor: User | None, text: str, meta: RequestMeta | None = None
) -> MediaAttachment:
    """Save a person's wording (scored by the caption rules); it still needs approving."""
    with transaction.atomic():
        locked = _locked(attachment)
        cleaned = _clean_alt_text(locked, text)
        limit = alt_text_limit_of(locked)
        report = caption_quality(
            text=cleaned, optimal_min=min(80, limit), optimal_max=min(200, limit), limit=limit
        )
        previous = locked.alt_status
        locked.alt_text = cleaned
        locked.alt_score = report.score
        locked.alt_notes = report.reviewer_notes
        locked.alt_status = S.AWAITING_REVIEW
        locked.alt_reviewed_by = None
        locked.alt_reviewed_at = None
        locked.save()
        audit_log_write(
            action="workflow.alt_text_edited",
            actor=actor,
            target=locked.workflow,
            meta=meta,
            details={"media": str(locked.pk), "from": previous},
        )
    return locked


def media_alt_text_approve(
    *, attachment: MediaAttachment, actor: User, text: str | None = None, meta: RequestMeta | None = None
) -> MediaAttachment:
    """Approve the alt text as it stands (or as `text`, saved first). Only a person approves."""
    with transaction.atomic():
        locked = _locked(attachment)
        if locked.alt_status == S.PENDING and text is None:
            raise MediaRefused("The alt text is still being written; edit it or wait for it.")
        cleaned = _clean_alt_text(locked, locked.alt_text if text is None else text)
        previous = locked.alt_status
        locked.alt_text = cleaned
        locked.alt_status = S.APPROVED
        locked.alt_reviewed_by = actor
        locked.alt_reviewed_at = timezone.now()
        locked.save()
        audit_log_write(
            action="workflow.alt_text_approved",
            actor=actor,
            target=locked.workflow,
            meta=meta,
            details={"media": str(locked.pk), "from": previous, "edited": text is not None},
        )
    return locked


def media_alt_text_regenerate(
    *,
    attachment: MediaAttachment,
    actor: User | None,
    instruction: str | None = None,
    meta: RequestMeta | None = None,
) -> MediaAttachment:
    """Ask the caption backends again (optionally with an instruction to the model)."""
    from captions.services.generation import instruction_clean

    instruction = instruction_clean(instruction)
    with transaction.atomic():
        locked = _locked(attachment)
        if locked.is_video:
            raise MediaRefused(VIDEO_NOTE)
        previous = locked.alt_status
        locked.alt_status = S.PENDING
        locked.alt_score = None
        locked.alt_notes = ""
        locked.needs_special_review = False
        locked.alt_reviewed_by = None
        locked.alt_reviewed_at = None
        locked.save()
        audit_log_write(
            action="workflow.alt_text_regenerate_requested",
            actor=actor,
            target=locked.workflow,
            meta=meta,
            details={
                "media": str(locked.pk),
                "from": previous,
                **({"instruction": instruction} if instruction else {}),
            },
        )
        pk = locked.pk
        transaction.on_commit(lambda: _queue_alt_text(pk, instruction))
    return locked


# The gate --------------------------------------------------------------------------------------


def _why_not_ready(attachment: MediaAttachment, gate: str) -> str | None:
    name = f"Image {attachment.position + 1} ({attachment.filename})"
    if gate == AltTextGate.NON_EMPTY:
        if alt_text_missing(attachment.alt_text):
            return f"{name}: has no alt text yet."
        return None
    if attachment.alt_status == S.APPROVED:
        return None
    return f"{name}: alt text is {attachment.get_alt_status_display().lower()}, not approved."


def media_gate_problems(*, workflow: Workflow, platform: str, connection=None) -> list[str]:
    """Why `platform`'s post may not go out yet because of its media (none: it may). With the
    publishing `connection`, its network's (and instance's) own rules apply."""
    gate = User.objects.filter(pk=workflow.user_id).values_list("alt_text_gate", flat=True).first()
    attachments = _post_media(workflow, platform)
    problems = [p for p in (_why_not_ready(a, gate or AltTextGate.APPROVED) for a in attachments) if p]
    if connection is not None:
        rules = kind_of(connection.platform_type).media_for(extra=connection.extra)
    else:
        rules = target_media_rules(workflow=workflow, target=platform)
    problems += media_rule_problems(rules=rules, attachments=attachments)
    return problems


def media_gate_check(*, workflow: Workflow, platform: str, connection=None) -> None:
    problems = media_gate_problems(workflow=workflow, platform=platform, connection=connection)
    if problems:
        label = Platform(platform).label
        raise AltTextNotApproved(
            f"The {label} post cannot be published yet: " + " ".join(problems), problems=problems
        )


def media_items(*, workflow: Workflow, platform: str, url_of=None) -> tuple[MediaItem, ...]:
    """The publication's media, in order, with the alt text as approved. `url_of(attachment)`
    gives a fetchable URL where a network wants one (the webhook)."""
    items = []
    for attachment in _post_media(workflow, platform):
        key = attachment.storage_key
        focus = None
        if attachment.focus_x is not None and attachment.focus_y is not None:
            focus = (attachment.focus_x, attachment.focus_y)
        items.append(
            MediaItem(
                key=str(attachment.pk),
                media_type=attachment.media_type,
                filename=attachment.filename,
                size=attachment.size,
                read=lambda key=key: media_read(key),
                alt_text=attachment.alt_text,
                width=attachment.width,
                height=attachment.height,
                focus=focus,
                url=url_of(attachment) if url_of else None,
            )
        )
    return tuple(items)
