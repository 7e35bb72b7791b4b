"""The workflow pages of the admin that are not a ModelAdmin's own: the review page (every
platform's draft side by side, with Accept, Reject, Edit & refine, Edit & publish and Schedule; the
media the posts carry, with their alt text to edit, approve or regenerate, to add, order and
remove; and each post's media gate), the start form, the progress JSON the pages poll, and Cancel.
`WorkflowAdmin.get_urls` wires them.

URL names: admin:workflows_workflow_review, admin:workflows_workflow_progress,
admin:workflows_workflow_cancel; starting is the stock admin:workflows_workflow_add.

Thin: every change is a service call, so the rules (transitions, limits, audit, idempotency) are
the API's. A service's ValidationError becomes a form error next to its field, a DomainError a
message; either way nothing changed (edit-then-publish runs in one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.permissions import sees_everyone
from accounts.request_meta import request_meta
from captions.quality import caption_length
from core.errors import DomainError
from core.media_sources import media_source_choices
from platforms.kinds.registry import writing_rules
from workflows.admin_forms import (
    DraftReviewForm,
    MediaAltTextForm,
    MediaAttachForm,
    WorkflowStartForm,
    add_service_errors,
)
from workflows.models import (
    AltTextStatus,
    Draft,
    Evaluation,
    MediaAttachment,
    MediaOrigin,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    Resource,
    Workflow,
    WorkflowMode,
    WorkflowStatus,
)
from workflows.selectors import media_owned, media_reviewable, workflow_progress
from workflows.services.engine import instance_char_limit
from workflows.services.media import CLOSED as MEDIA_CLOSED
from workflows.services.media import (
    alt_text_limit_of,
    attachment_targets,
    media_alt_text_approve,
    media_alt_text_edit,
    media_alt_text_regenerate,
    media_attach,
    media_gate_problems,
    media_remove,
    media_reorder,
    target_media_rules,
)
from workflows.services.publishing import publishing_job_create
from workflows.services.review import ACCEPT, EDIT_AND_PUBLISH, EDIT_AND_REFINE, REJECT, workflow_review
from workflows.services.workflows import (
    CANCELLABLE,
    source_content_from_url,
    workflow_cancel,
    workflow_create,
)
from workflows.writing import CRITERIA, platform_char_limit

SCHEDULE = "schedule"
BUTTONS = (
    (ACCEPT, "Accept"),
    (REJECT, "Reject"),
    (EDIT_AND_REFINE, "Edit & refine"),
    (EDIT_AND_PUBLISH, "Edit & publish"),
    (SCHEDULE, "Schedule"),
)
PUBLISHING = (EDIT_AND_PUBLISH, SCHEDULE)
REVIEWABLE = (PlatformStatus.AWAITING_REVIEW, PlatformStatus.ACCEPTED)
REVIEW_PERMISSION = "workflows.review_platformstate"
PUBLISH_PERMISSION = "workflows.add_publishingjob"
CANCEL_PERMISSION = "workflows.change_workflow"
MEDIA_REVIEW_PERMISSION = "workflows.review_mediaattachment"
MEDIA_ADD_PERMISSION = "workflows.add_mediaattachment"
MEDIA_CHANGE_PERMISSION = "workflows.change_mediaattachment"
MEDIA_DELETE_PERMISSION = "workflows.delete_mediaattachment"
# The media section's buttons (the `media_action` of its forms).
ATTACH, SAVE, APPROVE, REGENERATE, REMOVE, UP, DOWN = (
    "attach",
    "save",
    "approve",
    "regenerate",
    "remove",
    "up",
    "down",
)
ALT_TEXT_ACTIONS = (SAVE, APPROVE, REGENERATE)
REORDER_ACTIONS = (UP, DOWN)
GENERATED_CHOICES = 20


# --- who may do what -----------------------------------------------------------------------------


def may_review(user, workflow: Workflow) -> bool:
    """Reviewers (the review permission) review what they see; an owner who may change their own
    content reviews their own drafts, as the API lets them."""
    if user.has_perm(REVIEW_PERMISSION):
        return True
    return workflow.user_id == user.pk and user.has_perm("workflows.change_workflow")


def _owns(user, workflow: Workflow) -> bool:
    # Reviewers review everyone's drafts but publish and cancel only their own (docs/roles.md).
    return workflow.user_id == user.pk or sees_everyone(user)


def may_publish(user, workflow: Workflow) -> bool:
    return user.has_perm(PUBLISH_PERMISSION) and _owns(user, workflow)


def may_cancel(user, workflow: Workflow) -> bool:
    return workflow.status in CANCELLABLE and user.has_perm(CANCEL_PERMISSION) and _owns(user, workflow)


def may_review_media(user, workflow: Workflow) -> bool:
    """Alt text is reviewed as drafts are: reviewers edit, approve and regenerate the alt text of
    every workflow they see; an owner their own."""
    if user.has_perm(MEDIA_REVIEW_PERMISSION):
        return True
    return workflow.user_id == user.pk and user.has_perm(MEDIA_CHANGE_PERMISSION)


def may_attach_media(user, workflow: Workflow) -> bool:
    return user.has_perm(MEDIA_ADD_PERMISSION) and _owns(user, workflow)


def may_remove_media(user, workflow: Workflow) -> bool:
    return user.has_perm(MEDIA_DELETE_PERMISSION) and _owns(user, workflow)


def may_reorder_media(user, workflow: Workflow) -> bool:
    return user.has_perm(MEDIA_CHANGE_PERMISSION) and _owns(user, workflow)


def review_url(workflow_id, platform: str | None = None) -> str:
    url = reverse("admin:workflows_workflow_review", args=[workflow_id])
    return f"{url}#platform-{platform}" if platform else url


# --- what the review page shows --------------------------------------------------------------------


@dataclass
class PlatformPanel:
    """One platform's column on the review page."""

    state: PlatformState
    form: DraftReviewForm
    limit: int | None
    evaluation: Evaluation | None
    history: list[Draft]  # newest first
    lineage: list[Draft]  # the active draft, then what it was based on, back to the first
    reviews: list[dict] = field(default_factory=list)  # review actions with their feedback
    jobs: list[PublishingJob] = field(default_factory=list)
    may_review: bool = False
    may_publish: bool = False
    media_gate: MediaGate | None = None

    @property
    def reviewable(self) -> bool:
        return self.state.status in REVIEWABLE

    @property
    def criteria(self) -> list[tuple[str, object]]:
        scores = (self.evaluation.criteria_scores if self.evaluation else None) or {}
        if not isinstance(scores, dict):
            return []
        ordered = [name for name in CRITERIA if name in scores] + sorted(set(scores) - set(CRITERIA))
        return [(name.replace("_", " "), scores[name]) for name in ordered]

    @property
    def count(self) -> int:
        """The length as the review service counts it (the stripped text, in code points, or in
        graphemes where the network counts those: Bluesky)."""
        text = str(self.form["content"].value() or "").replace("\r\n", "\n").strip()
        return writing_rules(self.state.platform).length(text)

    @property
    def unit(self) -> str:
        return writing_rules(self.state.platform).unit

    @property
    def actions(self) -> list[tuple[str, str]]:
        if not self.may_review or self.state.status not in REVIEWABLE:
            return []
        shown = [
            (value, label)
            for value, label in BUTTONS
            if value != ACCEPT and (self.may_publish or value not in PUBLISHING)
        ]
        if self.state.status == PlatformStatus.AWAITING_REVIEW:
            shown.insert(0, (ACCEPT, "Accept"))
        return shown


@dataclass
class MediaGate:
    """What a platform's post carries and whether its media let it go out (media_gate_problems)."""

    count: int
    problems: list[str]
    carries_alt_text: bool


@dataclass
class MediaPanel:
    """One attachment in the review page's Media section."""

    attachment: MediaAttachment
    form: MediaAltTextForm
    limit: int
    targets: list[str]  # the platforms' labels
    first: bool
    last: bool
    may_review: bool = False
    may_remove: bool = False
    may_reorder: bool = False

    @property
    def count(self) -> int:
        """Characters as the alt-text service counts them (captions.quality.caption_length)."""
        return caption_length(str(self.form["alt_text"].value() or ""))

    @property
    def file_url(self) -> str:
        return reverse("admin:workflows_mediaattachment_file", args=[self.attachment.pk])

    @property
    def thumbnail_url(self) -> str:
        return reverse("admin:workflows_mediaattachment_thumbnail", args=[self.attachment.pk])

    @property
    def name(self) -> str:
        return f"{'Video' if self.attachment.is_video else 'Image'} {self.attachment.position + 1}"


def _media_panels(
    request,
    workflow: Workflow,
    attachments: list[MediaAttachment],
    *,
    bound: tuple[UUID, MediaAltTextForm] | None,
) -> list[MediaPanel]:
    # A cancelled or archived workflow's media no longer change: no buttons that could only fail.
    open_ = workflow.status not in MEDIA_CLOSED
    reviewing = open_ and may_review_media(request.user, workflow)
    removing = open_ and may_remove_media(request.user, workflow)
    reordering = open_ and may_reorder_media(request.user, workflow)
    labels = dict(Platform.choices)
    panels = []
    for index, attachment in enumerate(attachments):
        if bound is not None and bound[0] == attachment.pk:
            form = bound[1]
        else:
            form = MediaAltTextForm(
                prefix=f"media-{attachment.pk}", initial={"alt_text": attachment.alt_text}
            )
        attachment.workflow = workflow  # the services' limit and targets read it
        panels.append(
            MediaPanel(
                attachment=attachment,
                form=form,
                limit=alt_text_limit_of(attachment),
                targets=[labels.get(target, target) for target in attachment_targets(attachment)],
                first=index == 0,
                last=index == len(attachments) - 1,
                may_review=reviewing,
                may_remove=removing,
                may_reorder=reordering and len(attachments) > 1,
            )
        )
    return panels


def _media_label(attachment: MediaAttachment) -> str:
    kind = "Video" if attachment.is_video else "Image"
    return f"{kind} {attachment.position + 1} ({attachment.filename})"


def _media_gate(workflow: Workflow, platform: str, attachments: list[MediaAttachment]) -> MediaGate | None:
    carried = [a for a in attachments if a.platform in (None, platform)]
    if not carried:
        return None
    return MediaGate(
        count=len(carried),
        problems=media_gate_problems(workflow=workflow, platform=platform),
        carries_alt_text=target_media_rules(workflow=workflow, target=platform).carries_alt_text,
    )


def _workflow_media(workflow: Workflow) -> list[MediaAttachment]:
    return list(
        MediaAttachment.objects.filter(workflow_id=workflow.pk)
        .select_related("alt_reviewed_by")
        .order_by("position", "created_at")
    )


def _attach_form(workflow: Workflow, data=None, files=None) -> MediaAttachForm:
    platforms = workflow.platform_states.order_by("platform").values_list("platform", flat=True)
    labels = dict(Platform.choices)
    return MediaAttachForm(
        data,
        files,
        prefix="attach",
        platforms=[(platform, labels.get(platform, platform)) for platform in platforms],
        # The owner's images: media_attach takes them from the workflow owner's own.
        generated=media_source_choices(
            name=MediaOrigin.GENERATED, user=workflow.user, limit=GENERATED_CHOICES
        ),
    )


def _panels(
    request,
    workflow: Workflow,
    *,
    bound: tuple[str, DraftReviewForm] | None,
    attachments: list[MediaAttachment] | None = None,
) -> list[PlatformPanel]:
    states = list(workflow.platform_states.select_related("active_draft").order_by("platform"))
    drafts = list(
        Draft.objects.filter(workflow=workflow)
        .select_related("created_by")
        .prefetch_related(Prefetch("evaluations", queryset=Evaluation.objects.order_by("-created_at", "-id")))
        .order_by("-created_at", "-id")
    )
    by_id = {draft.pk: draft for draft in drafts}
    reviews = _review_log(workflow)
    jobs = list(workflow.publishing_jobs.order_by("-created_at"))
    reviewing = may_review(request.user, workflow)
    publishing = may_publish(request.user, workflow)
    panels = []
    for state in states:
        active = by_id.get(state.active_draft_id)
        if bound is not None and bound[0] == state.platform:
            form = bound[1]
        else:
            form = DraftReviewForm(
                prefix=state.platform, initial={"content": active.content if active else ""}
            )
        panels.append(
            PlatformPanel(
                state=state,
                form=form,
                limit=platform_char_limit(
                    state.platform,
                    char_limit=instance_char_limit(user_id=workflow.user_id, platform=state.platform),
                ),
                evaluation=next(iter(active.evaluations.all()), None) if active else None,
                history=[d for d in drafts if d.platform == state.platform],
                lineage=_lineage(active, by_id),
                reviews=[review for review in reviews if review["platform"] == state.platform],
                jobs=[job for job in jobs if job.platform == state.platform],
                may_review=reviewing,
                may_publish=publishing,
                media_gate=_media_gate(workflow, state.platform, attachments or []),
            )
        )
    return panels


def _lineage(active: Draft | None, by_id: dict) -> list[Draft]:
    """The active draft, the draft it was based on, and so on back to the first AI draft."""
    lineage: list[Draft] = []
    draft = active
    while draft is not None and draft not in lineage:
        lineage.append(draft)
        draft = by_id.get(draft.based_on_id)
    return lineage


def _review_log(workflow: Workflow) -> list[dict]:
    """Every review action on the workflow, newest first, with its reviewer and feedback (the
    review service records both on the checkpoint it writes)."""
    checkpoints = workflow.checkpoints.filter(step__startswith="review_").order_by("-sequence")
    rows = list(checkpoints.values("platform", "step", "metadata", "created_at"))
    metadata = [row["metadata"] if isinstance(row["metadata"], dict) else {} for row in rows]
    ids = {meta.get("reviewer") for meta in metadata} - {None}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}
    return [
        {
            "platform": row["platform"],
            "action": row["step"].removeprefix("review_").replace("_", " "),
            "feedback": meta.get("feedback"),
            "reviewer": names.get(meta.get("reviewer"), "—"),
            "at": row["created_at"],
        }
        for row, meta in zip(rows, metadata, strict=True)
    ]


def _resources(workflow: Workflow) -> list[Resource]:
    ids = (workflow.source_content or {}).get("resource_ids") or []
    return list(Resource.objects.filter(pk__in=ids).only("id", "title", "type")) if ids else []


# --- the views --------------------------------------------------------------------------------------


class WorkflowPages:
    """The extra pages of one WorkflowAdmin (`model_admin`), which supplies the admin's context,
    its scoped queryset and its view permission."""

    def __init__(self, model_admin):
        self.model_admin = model_admin
        self.admin_site = model_admin.admin_site

    def urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/review/", wrap(self.review_view), name="workflows_workflow_review"),
            path("<path:object_id>/progress/", wrap(self.progress_view), name="workflows_workflow_progress"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name="workflows_workflow_cancel"),
        ]

    def _workflow(self, request, object_id, *, owned: bool = False) -> Workflow:
        """The workflow if the user may see it (`owned`: change it beyond reviewing); another
        user's (or a missing or malformed id) is a 404. The rows are the admin's (OwnerScopedAdmin):
        a reviewer sees everyone's workflows, the draft review queue."""
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        queryset = self.model_admin.get_queryset(request)
        if owned:
            queryset = self.model_admin.owned_queryset(request, queryset)
        try:
            return get_object_or_404(queryset, pk=object_id)
        except (ValidationError, ValueError):
            raise Http404("No such workflow.") from None

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": Workflow._meta, **extra}

    # Review ------------------------------------------------------------------------------------

    def review_view(self, request, object_id):
        workflow = self._workflow(request, object_id)
        bound = media_bound = attach_form = None
        if request.method == "POST" and "media_action" in request.POST:
            outcome = self._media_post(request, workflow)
            if isinstance(outcome, HttpResponseRedirect):
                return outcome
            media_bound, attach_form = outcome
        elif request.method == "POST":
            platform = request.POST.get("platform", "")
            state = workflow.platform_states.filter(platform=platform).first()
            if state is None:
                raise Http404("This workflow has no such platform.")
            form = DraftReviewForm(request.POST, prefix=platform)
            action = request.POST.get("action", "")
            if form.is_valid() and self._apply(request, workflow, state, action, form):
                return HttpResponseRedirect(review_url(workflow.pk, platform))
            bound = (platform, form)
        attachments = _workflow_media(workflow)
        panels = _panels(request, workflow, bound=bound, attachments=attachments)
        attaching = workflow.status not in MEDIA_CLOSED and may_attach_media(request.user, workflow)
        return TemplateResponse(
            request,
            "admin/workflows/workflow/review.html",
            self._context(
                request,
                title=f"Review drafts of workflow {str(workflow.pk)[:8]}",
                workflow=workflow,
                source=workflow.source_content or {},
                resources=_resources(workflow),
                panels=panels,
                media_panels=_media_panels(request, workflow, attachments, bound=media_bound),
                attach_form=(attach_form or _attach_form(workflow)) if attaching else None,
                alt_text_statuses=AltTextStatus,
                criteria=CRITERIA,
                may_cancel=may_cancel(request.user, workflow),
                time_zone=timezone.get_current_timezone_name(),
                progress_url=reverse("admin:workflows_workflow_progress", args=[workflow.pk]),
                running=workflow.status == WorkflowStatus.RUNNING,
            ),
        )

    # Media -------------------------------------------------------------------------------------

    def _media_post(self, request, workflow: Workflow):
        """One button of the Media section: a redirect when it worked, else the forms to show again
        ((attachment id, its bound alt-text form) or None, the bound attach form or None)."""
        action = request.POST.get("media_action", "")
        if action == ATTACH:
            if not may_attach_media(request.user, workflow):
                raise PermissionDenied
            form = _attach_form(workflow, request.POST, request.FILES)
            if form.is_valid():
                attachment = self._attach(request, workflow, form)
                if attachment is not None:
                    return HttpResponseRedirect(f"{review_url(workflow.pk)}#media-{attachment.pk}")
            return None, form
        if action not in (*ALT_TEXT_ACTIONS, REMOVE, *REORDER_ACTIONS):
            self.model_admin.message_user(request, "Choose one of the media buttons.", messages.ERROR)
            return None, None
        attachment = self._attachment(request, workflow, action)
        label = _media_label(attachment)
        meta = request_meta(request)
        form = None
        anchor = f"#media-{attachment.pk}"
        try:
            if action in ALT_TEXT_ACTIONS:
                form = MediaAltTextForm(request.POST, prefix=f"media-{attachment.pk}")
                if not form.is_valid():
                    return (attachment.pk, form), None
                done = self._alt_text(request, attachment, action, form, meta)
            elif action == REMOVE:
                media_remove(attachment=attachment, actor=request.user, meta=meta)
                done, anchor = f"{label}: removed.", "#media"
            else:
                order = list(
                    MediaAttachment.objects.filter(workflow_id=workflow.pk)
                    .order_by("position", "created_at")
                    .values_list("pk", flat=True)
                )
                index = order.index(attachment.pk)
                other = index - 1 if action == UP else index + 1
                if not 0 <= other < len(order):
                    where = "first" if action == UP else "last"
                    self.model_admin.message_user(request, f"{label} is already {where}.", messages.ERROR)
                    return None, None
                order[index], order[other] = order[other], order[index]
                media_reorder(workflow=workflow, actor=request.user, order=order, meta=meta)
                done = f"{label}: moved {'up' if action == UP else 'down'}."
        except ValidationError as exc:
            if form is None:
                self.model_admin.message_user(request, " ".join(exc.messages), messages.ERROR)
                return None, None
            add_service_errors(form, exc, form.field_of)
            return (attachment.pk, form), None
        except DomainError as exc:
            self.model_admin.message_user(request, exc.message, messages.ERROR)
            return ((attachment.pk, form) if form is not None else None), None
        self.model_admin.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(f"{review_url(workflow.pk)}{anchor}")

    @staticmethod
    def _attachment(request, workflow: Workflow, action: str) -> MediaAttachment:
        """The attachment the button names, if the user may do `action` to it: reviewers review
        everyone's alt text they see, only the owner (moderators, admins) removes and reorders.
        Not allowed at all: 403; an attachment not among the rows they may act on: 404."""
        if action == REMOVE:
            allowed, scope = may_remove_media(request.user, workflow), media_owned
        elif action in REORDER_ACTIONS:
            allowed, scope = may_reorder_media(request.user, workflow), media_owned
        else:
            allowed, scope = may_review_media(request.user, workflow), media_reviewable
        if not allowed:
            raise PermissionDenied
        try:
            pk = UUID(str(request.POST.get("media", "")))
        except ValueError:
            raise Http404("No such attachment.") from None
        attachment = scope(user=request.user).filter(workflow_id=workflow.pk, pk=pk).first()
        if attachment is None:
            raise Http404("No such attachment.")
        return attachment

    @staticmethod
    def _alt_text(request, attachment: MediaAttachment, action: str, form: MediaAltTextForm, meta) -> str:
        label = _media_label(attachment)
        data = form.cleaned_data
        if action == SAVE:
            media_alt_text_edit(attachment=attachment, actor=request.user, text=data["alt_text"], meta=meta)
            return f"{label}: alt text saved; it needs approving before the post goes out."
        if action == APPROVE:
            # The text in the editor is saved and approved in one go.
            media_alt_text_approve(
                attachment=attachment, actor=request.user, text=data["alt_text"], meta=meta
            )
            return f"{label}: alt text approved."
        media_alt_text_regenerate(
            attachment=attachment, actor=request.user, instruction=data["instruction"] or None, meta=meta
        )
        return f"{label}: the AI is writing its alt text again."

    def _attach(self, request, workflow: Workflow, form: MediaAttachForm) -> MediaAttachment | None:
        data = form.cleaned_data
        upload = data.get("file")
        source, ref = form.source()
        try:
            attachment = media_attach(
                workflow=workflow,
                actor=request.user,
                data=upload.read() if upload is not None else None,
                filename=upload.name if upload is not None else None,
                source=source,
                ref=ref,
                platform=data.get("platform") or None,
                focus=form.focus(),
                meta=request_meta(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, form.field_of)
            return None
        except DomainError as exc:
            self.model_admin.message_user(request, exc.message, messages.ERROR)
            return None
        attachment.refresh_from_db()  # the alt text may be written already (a synchronous queue)
        if attachment.alt_status == AltTextStatus.PENDING:
            next_step = "the AI is writing its alt text."
        elif attachment.alt_status == AltTextStatus.AWAITING_REVIEW:
            next_step = "its alt text awaits your review."
        else:
            next_step = "write its alt text."
        done = f"{attachment.filename} is attached; {next_step}"
        self.model_admin.message_user(request, done, messages.SUCCESS)
        return attachment

    # Drafts ------------------------------------------------------------------------------------

    def _apply(self, request, workflow, state, action: str, form: DraftReviewForm) -> bool:
        """Run one button's service calls; True when it worked (a message says what happened)."""
        if action not in dict(BUTTONS):
            form.add_error(None, "Choose one of the buttons.")
            return False
        if not may_review(request.user, workflow) or (
            action in PUBLISHING and not may_publish(request.user, workflow)
        ):
            raise PermissionDenied
        data = form.cleaned_data
        if action == SCHEDULE and data.get("scheduled_for") is None:
            form.add_error("scheduled_for", "Give the date and time to publish at.")
            return False
        review = {"workflow": workflow, "platform": state.platform, "reviewer": request.user}
        meta = request_meta(request)
        label = state.get_platform_display()
        try:
            if action in (ACCEPT, REJECT):
                workflow_review(**review, action=action, feedback=data["feedback"] or None, meta=meta)
                done = f"{label}: {'accepted' if action == ACCEPT else 'rejected'}."
            elif action == EDIT_AND_REFINE:
                workflow_review(
                    **review,
                    action=action,
                    content=data["content"],
                    feedback=data["feedback"] or None,
                    meta=meta,
                )
                done = f"{label}: your edit is saved and the AI is writing the next draft from it."
            else:
                # One transaction: a publish the service refuses leaves the edit unsaved too.
                with transaction.atomic():
                    self._settle(request, review, state, data, meta)
                    job = publishing_job_create(
                        workflow=workflow,
                        platform=state.platform,
                        actor=request.user,
                        scheduled_for=data["scheduled_for"] if action == SCHEDULE else None,
                        meta=meta,
                    )
                if job.scheduled_for:
                    at = timezone.localtime(job.scheduled_for).strftime("%Y-%m-%d %H:%M %Z")
                    done = f"{label}: scheduled for {at}."
                else:
                    job.refresh_from_db()
                    done = f"{label}: publishing ({job.get_status_display().lower()})."
        except ValidationError as exc:
            add_service_errors(form, exc, form.field_of)
            return False
        except DomainError as exc:
            self.model_admin.message_user(request, exc.message, messages.ERROR)
            return False
        self.model_admin.message_user(request, done, messages.SUCCESS)
        return True

    @staticmethod
    def _settle(request, review: dict, state: PlatformState, data: dict, meta) -> None:
        """Before publishing: an edited text becomes the accepted draft (edit_and_publish); an
        unchanged draft awaiting review is accepted; an accepted one is published as it is."""
        content = data["content"]
        active = state.active_draft.content if state.active_draft else ""
        if content.strip() != active.strip():  # an emptied editor too: the service says what is wrong
            workflow_review(**review, action=EDIT_AND_PUBLISH, content=content, meta=meta)
        elif state.status == PlatformStatus.AWAITING_REVIEW:
            workflow_review(**review, action=ACCEPT, meta=meta)

    # Progress and cancel -----------------------------------------------------------------------

    def progress_view(self, request, object_id):
        workflow = self._workflow(request, object_id)
        return JsonResponse(workflow_progress(workflow=workflow))

    def cancel_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        workflow = self._workflow(request, object_id, owned=True)
        if not request.user.has_perm(CANCEL_PERMISSION):
            raise PermissionDenied
        try:
            workflow_cancel(workflow=workflow, actor=request.user, meta=request_meta(request))
        except DomainError as exc:
            self.model_admin.message_user(request, exc.message, messages.ERROR)
        else:
            self.model_admin.message_user(request, "The workflow is cancelled.", messages.SUCCESS)
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = review_url(workflow.pk)
        return HttpResponseRedirect(back)

    # Start -------------------------------------------------------------------------------------

    def start_view(self, request):
        if not self.model_admin.has_add_permission(request):
            raise PermissionDenied
        form = WorkflowStartForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            workflow = self._start(request, form)
            if workflow is not None:
                self.model_admin.message_user(
                    request,
                    "The workflow is started: its drafts appear below as they are written.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(review_url(workflow.pk))
        return TemplateResponse(
            request,
            "admin/workflows/workflow/start.html",
            self._context(
                request,
                title="Start a workflow",
                form=form,
                add=True,
                has_view_permission=self.model_admin.has_view_permission(request),
            ),
        )

    def _start(self, request, form: WorkflowStartForm) -> Workflow | None:
        data = form.cleaned_data
        try:
            if data["mode"] == WorkflowMode.TEMPLATE:
                source, template = None, form.template_input()
            elif data["source_url"].strip():
                source, template = source_content_from_url(data["source_url"].strip()), None
                if data["title"].strip():
                    source["title"] = data["title"]
            else:
                source, template = {"text": data["source_text"], "title": data["title"]}, None
            # workflow_create queues the engine's first steps on commit, as the API's create does.
            return workflow_create(
                user=request.user,
                mode=data["mode"],
                platforms=data["platforms"],
                source_content=source,
                template_input=template,
                manual_options=form.manual_options(),
                resource_ids=data["resources"] or None,
                meta=request_meta(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, form.field_of)
            return None
