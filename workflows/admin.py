"""Operator UI for content repurposing: workflows, drafts, reviews and publishing.

Drafts, evaluations and checkpoints are records of what happened, so they are read-only here;
state changes (review, publish, cancel) go through `workflows.services`.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce, Substr
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.text import Truncator

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.request_meta import request_meta
from core.admin_lists import (
    ChangedRecentlyFilter,
    LargeTableAdminMixin,
    fixed_choices_filter,
    recent_values_filter,
    short_id_column,
)
from core.admin_thumbnails import stored_thumbnail_response
from core.errors import DomainError
from workflows.admin_review import WorkflowPages, may_cancel, review_url
from workflows.models import (
    AltTextStatus,
    Draft,
    Evaluation,
    MediaAttachment,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Resource,
    Workflow,
    WorkflowCheckpoint,
    WorkflowStatus,
)
from workflows.selectors import ALT_TEXT_NEEDS_A_PERSON
from workflows.services.engine import STEP_EVALUATE, STEP_FAILED, STEP_GENERATE
from workflows.services.publishing import publishing_job_cancel, publishing_job_retry
from workflows.services.review import ACTIONS as REVIEW_ACTION_NAMES
from workflows.services.workflows import workflow_cancel

PREVIEW_CHARS = 80
CONNECTION_SECRETS = ("access_token", "client_key", "client_secret")


def _preview(text: str | None) -> str:
    return Truncator(text or "").chars(PREVIEW_CHARS)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _review_link(state: PlatformState) -> str:
    url = review_url(state.workflow_id, state.platform)
    label = "Review" if state.status == PlatformStatus.AWAITING_REVIEW else "Drafts"
    return format_html('<a class="wf-review-link" href="{}">{}</a>', url, label)


class PlatformStateInline(ReadOnlyInline):
    model = PlatformState
    fields = (
        "platform",
        "status",
        "iteration",
        "active_draft",
        "review",
        "attempts",
        "error_message",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="review")
    def review(self, obj):
        return _review_link(obj) if obj.pk else "—"


@admin.register(Workflow)
class WorkflowAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    review_queue = True
    list_display = (
        "id_short",
        "review_link",
        "user",
        "mode",
        "status",
        "created_at",
        "updated_at",
        "completed_at",
    )
    id_short = short_id_column("id", description="ID")
    list_filter = ("status", ChangedRecentlyFilter, "mode")
    search_fields = ("=id", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("id", "created_at", "updated_at", "completed_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [PlatformStateInline]
    actions = ["cancel_selected"]

    change_form_template = "admin/workflows/workflow/change_form.html"

    class Media:  # the Review column, the progress panel and Cancel (list and workflow pages)
        css = {"all": ("workflows/review.css",)}
        js = ("workflows/review.js",)

    # Starting, reviewing, progress and cancelling: workflows.admin_review (same services as the API).
    @property
    def pages(self) -> WorkflowPages:
        return WorkflowPages(self)

    def get_urls(self):
        return [*self.pages.urls(), *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        return self.pages.start_view(request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workflow = self.get_object(request, unquote(object_id))
        if workflow is not None:
            extra_context = {
                **(extra_context or {}),
                "review_url": review_url(workflow.pk),
                "progress_url": reverse("admin:workflows_workflow_progress", args=[workflow.pk]),
                "cancel_url": reverse("admin:workflows_workflow_cancel", args=[workflow.pk]),
                "may_cancel": may_cancel(request.user, workflow),
                "running": workflow.status == WorkflowStatus.RUNNING,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            # The page's rows only: a correlated count per shown row, no join over the table.
            awaiting = (
                PlatformState.objects.filter(workflow=OuterRef("pk"), status=PlatformStatus.AWAITING_REVIEW)
                .order_by()
                .values("workflow")
                .annotate(n=Count("pk"))
                .values("n")
            )
            queryset = queryset.annotate(
                drafts_awaiting=Coalesce(Subquery(awaiting, output_field=IntegerField()), 0)
            )
        return queryset

    @admin.display(description="review")
    def review_link(self, obj):
        awaiting = getattr(obj, "drafts_awaiting", 0)
        if awaiting:
            return format_html(
                '<a class="wf-review-link" href="{}">Review ({})</a>', review_url(obj.pk), awaiting
            )
        return format_html('<a href="{}">Drafts</a>', review_url(obj.pk))

    # A workflow's state is the engine's: a status, mode or error set by hand would bypass its rules
    # and the audit log. The list's actions (cancel) still need the change permission.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Cancel selected workflows", permissions=["change"])
    def cancel_selected(self, request, queryset):
        cancelled = skipped = 0
        meta = request_meta(request)
        # A reviewer sees everyone's workflows (to review their drafts) but cancels only their own.
        cancellable = self.owned_queryset(request, queryset).filter(
            status__in=(WorkflowStatus.RUNNING, WorkflowStatus.AWAITING_REVIEW)
        )
        for workflow in cancellable:
            try:
                workflow_cancel(workflow=workflow, actor=request.user, meta=meta)
            except DomainError:  # moved on meanwhile
                skipped += 1
                continue
            cancelled += 1
        self.message_user(
            request,
            f"{cancelled} workflow(s) cancelled; only running or awaiting-review workflows can be.",
            messages.SUCCESS if cancelled else messages.WARNING,
        )


class ReviewPageChangeList(ChangeList):
    """Each row opens the workflow's review page at that platform, not the read-only change page."""

    def url_for_result(self, result):
        return review_url(result.workflow_id, result.platform)


@admin.register(PlatformState)
class PlatformStateAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    """Platform states; each row opens its workflow's review page at that platform."""

    owner_field = "workflow__user"
    review_queue = True

    list_display = (
        "id_short",
        "review",
        "workflow",
        "platform",
        "status",
        "iteration",
        "attempts",
        "updated_at",
    )
    id_short = short_id_column("id", description="ID")
    list_filter = ("platform", "status")
    search_fields = ("=id", "=workflow__id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "active_draft")
    readonly_fields = (
        "id",
        "workflow",
        "platform",
        "status",
        "active_draft",
        "iteration",
        "last_feedback",
        "error_message",
        "attempts",
        "created_at",
        "updated_at",
        "heartbeat_at",
    )
    ordering = ("workflow_id", "platform")

    # States change only through the engine and the review page's service calls.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    class Media:
        css = {"all": ("workflows/review.css",)}

    def get_changelist(self, request, **kwargs):
        return ReviewPageChangeList

    @admin.display(description="review")
    def review(self, obj):
        return _review_link(obj)

    def get_urls(self):
        review = self.admin_site.admin_view(self.review_view)
        return [
            path("<path:object_id>/review/", review, name="workflows_platformstate_review"),
            *super().get_urls(),
        ]

    def review_view(self, request, object_id):
        """The platform's column on its workflow's review page (the old per-platform URL)."""
        state = self.get_object(request, unquote(object_id))
        if state is None:
            raise Http404("No such platform state.")
        return HttpResponseRedirect(review_url(state.workflow_id, state.platform))


class EvaluationInline(ReadOnlyInline):
    model = Evaluation
    fields = ("score", "evaluator", "feedback", "criteria_scores", "created_at")
    readonly_fields = fields


@admin.register(Draft)
class DraftAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "workflow__user"
    review_queue = True
    list_display = ("id_short", "workflow", "platform", "source", "content_preview", "created_at")
    id_short = short_id_column("id", description="ID")
    list_filter = ("platform", "source")
    search_fields = ("=id", "=workflow__id", "created_by__username")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "based_on", "created_by")
    readonly_fields = ("id", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [EvaluationInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            # Blog drafts run to thousands of words: load only the head.
            queryset = queryset.defer("content").annotate(
                content_head=Substr("content", 1, PREVIEW_CHARS + 1)
            )
        return queryset

    # Drafts are immutable: an edit is a new human draft made by the review service.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="content")
    def content_preview(self, obj):
        head = getattr(obj, "content_head", None)
        return _preview(head if head is not None else obj.content)


# Evaluators are named by the scoring backend ("builtin-rules-1", "<backend>:<model>" for whatever
# model is configured): an open set, so the options are the names on the newest evaluations.
EvaluatorFilter = recent_values_filter("evaluator", title="evaluator", newest_first="-created_at")


@admin.register(Evaluation)
class EvaluationAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "draft__workflow__user"
    review_queue = True
    list_display = ("id", "draft", "score", "evaluator", "created_at")
    list_filter = (EvaluatorFilter,)
    search_fields = ("=id", "=draft__id", "=draft__workflow__id")
    list_select_related = ("draft",)
    raw_id_fields = ("draft",)
    readonly_fields = ("id", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    def get_queryset(self, request):
        # The listed draft is shown by its __str__, which never needs the content.
        return super().get_queryset(request).defer("draft__content")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Resource)
class ResourceAdmin(OwnerScopedAdmin, admin.ModelAdmin):
    list_display = ("id", "title", "user", "type", "content_preview", "created_at")
    list_filter = ("type",)
    search_fields = ("=id", "title", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("id", "created_at", "updated_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("content").annotate(
                content_head=Substr("content", 1, PREVIEW_CHARS + 1)
            )
        return queryset

    @admin.display(description="content")
    def content_preview(self, obj):
        head = getattr(obj, "content_head", None)
        return _preview(head if head is not None else obj.content)


@admin.register(PublishingJob)
class PublishingJobAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "workflow__user"
    list_display = (
        "id",
        "workflow",
        "platform",
        "status",
        "scheduled_for",
        "published_at",
        "attempts",
        "platform_connection",
    )
    list_filter = ("status", ChangedRecentlyFilter, "platform")
    search_fields = ("=id", "=workflow__id", "=idempotency_key")
    list_select_related = ("workflow", "platform_connection")
    raw_id_fields = ("workflow", "draft", "platform_connection")
    readonly_fields = (
        "id",
        "idempotency_key",
        "published_at",
        "response_data",
        "attempts",
        "heartbeat_at",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "scheduled_for"
    ordering = ("-created_at",)
    actions = ["cancel_selected", "retry_selected"]

    # Jobs are made by publishing an accepted draft (API) and changed by the actions below.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm("workflows.change_publishingjob")

    def _each(self, request, queryset, service, *, statuses, done: str, rule: str) -> None:
        changed = 0
        meta = request_meta(request)
        for job in queryset.filter(status__in=statuses):
            try:
                service(job=job, actor=request.user, meta=meta)
            except (DomainError, ValidationError):
                continue
            changed += 1
        self.message_user(
            request, f"{changed} job(s) {done}; {rule}", messages.SUCCESS if changed else messages.WARNING
        )

    @admin.action(description="Cancel selected queued or scheduled jobs", permissions=["publish"])
    def cancel_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            publishing_job_cancel,
            statuses=(PublishingStatus.QUEUED, PublishingStatus.SCHEDULED),
            done="cancelled",
            rule="only queued or scheduled jobs can be.",
        )

    @admin.action(description="Retry selected failed jobs", permissions=["publish"])
    def retry_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            publishing_job_retry,
            statuses=(PublishingStatus.FAILED,),
            done="queued again",
            rule="only failed jobs without another live job for the same platform can be.",
        )

    def get_queryset(self, request):
        # The connection is shown by name only: never load (and decrypt) its credentials.
        secrets = [f"platform_connection__{name}" for name in CONNECTION_SECRETS]
        return super().get_queryset(request).defer(*secrets)


# The engine's steps and one per review action (workflow_review writes "review_<action>").
CHECKPOINT_STEPS = (
    STEP_GENERATE,
    STEP_EVALUATE,
    STEP_FAILED,
    *(f"review_{action}" for action in REVIEW_ACTION_NAMES),
)
CheckpointStepFilter = fixed_choices_filter(
    "step", title="step", choices=[(step, step.replace("_", " ")) for step in CHECKPOINT_STEPS]
)


@admin.register(WorkflowCheckpoint)
class WorkflowCheckpointAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "workflow__user"
    list_display = ("id_short", "workflow", "platform", "sequence", "step", "created_at")
    id_short = short_id_column("id", description="ID")
    list_filter = ("platform", CheckpointStepFilter)
    search_fields = ("=id", "=workflow__id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "parent")
    ordering = ("workflow_id", "platform", "sequence")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("state", "metadata")
        return queryset

    def has_add_permission(self, request):
        return False

    # Deletion stays allowed: the admin's workflow delete cascades to checkpoints and needs it.
    def has_change_permission(self, request, obj=None):
        return False


# --- media --------------------------------------------------------------------------------------

NEEDS_A_PERSON = "needs_person"
MEDIA_THUMBNAIL_SIZE = 320  # the review page's; the list shows the same copy smaller (CSS)


def media_review_url(attachment: MediaAttachment) -> str:
    return f"{review_url(attachment.workflow_id)}#media-{attachment.pk}"


class AltStatusFilter(admin.SimpleListFilter):
    """The alt text's status, and "needs a person": awaiting review or to be written on a workflow
    still open (the dashboard's "Alt text awaiting review", selectors.media_awaiting_review)."""

    title = "alt text"
    parameter_name = "alt"

    def lookups(self, request, model_admin):
        return [(NEEDS_A_PERSON, "Needs a person (awaiting review or to be written)"), *AltTextStatus.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value == NEEDS_A_PERSON:
            return queryset.filter(ALT_TEXT_NEEDS_A_PERSON)
        if value in AltTextStatus.values:
            return queryset.filter(alt_status=value)
        return queryset


class MediaReviewChangeList(ChangeList):
    """Each row opens its workflow's review page at the attachment, where every change is made."""

    def url_for_result(self, result):
        return media_review_url(result)


@admin.register(MediaAttachment)
class MediaAttachmentAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    """The media on workflows' posts and their alt text: a read-only list (the review queue's rows:
    reviewers see everyone's); attaching, editing, approving, ordering and removing happen on the
    workflow's review page through workflows.services.media."""

    owner_field = "workflow__user"
    review_queue = True

    list_display = ("thumbnail", "filename", "workflow_link", "alt_status", "alt_score", "alt_text_excerpt")
    list_filter = (AltStatusFilter,)
    search_fields = ("=id", "=workflow__id", "filename")
    list_select_related = ("workflow",)
    ordering = ("-created_at",)
    fields = (
        "id",
        "preview",
        "workflow_link",
        "platform",
        "position",
        "filename",
        "media_type",
        "size",
        "width",
        "height",
        "focus_x",
        "focus_y",
        "origin",
        "origin_ref",
        "language",
        "alt_status",
        "alt_text",
        "generated_alt_text",
        "alt_score",
        "alt_notes",
        "needs_special_review",
        "alt_reviewed_by",
        "alt_reviewed_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("workflows/review.css",)}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workflow", "alt_reviewed_by")

    def get_changelist(self, request, **kwargs):
        return MediaReviewChangeList

    # Every change is a service call on the review page (audit, order, the stored file).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removing renumbers the rest: one at a time, by the service
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        """Removing is the review page's Remove (media_remove): this sends the person there.
        The permission stays (deleting a workflow deletes its media with it)."""
        attachment = self.get_object(request, unquote(object_id))
        if not self.has_delete_permission(request, attachment):
            raise PermissionDenied
        return HttpResponseRedirect(media_review_url(attachment))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/file/", wrap(self.file_view), name="workflows_mediaattachment_file"),
            path(
                "<path:object_id>/thumbnail/",
                wrap(self.thumbnail_view),
                name="workflows_mediaattachment_thumbnail",
            ),
            *super().get_urls(),
        ]

    def _viewable(self, request, object_id) -> MediaAttachment:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self.get_object(request, unquote(object_id))

    def file_view(self, request, object_id):
        """The attached file itself, for those who may see the attachment; never public."""
        attachment = self._viewable(request, object_id)
        try:
            handle = default_storage.open(attachment.storage_key, "rb")
        except (OSError, ValueError):
            raise Http404("The attachment's file is missing from storage.") from None
        response = FileResponse(handle, content_type=attachment.media_type)
        response["Content-Disposition"] = content_disposition_header(False, attachment.filename)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def thumbnail_view(self, request, object_id):
        """A small copy of an attached image (a video has none: the page shows a player)."""
        attachment = self._viewable(request, object_id)
        if attachment.is_video:
            raise Http404("A video has no thumbnail.")
        return stored_thumbnail_response(attachment.storage_key, size=MEDIA_THUMBNAIL_SIZE)

    # --- columns ------------------------------------------------------------------------------

    @admin.display(description="media")
    def thumbnail(self, obj: MediaAttachment) -> str:
        if obj.is_video:
            return format_html('<span class="wf-media-video-icon" title="{}">▶ video</span>', obj.media_type)
        url = reverse("admin:workflows_mediaattachment_thumbnail", args=[obj.pk])
        return format_html(
            '<img src="{}" alt="{}" loading="lazy" class="wf-media-thumb-small">', url, obj.filename
        )

    @admin.display(description="preview")
    def preview(self, obj: MediaAttachment) -> str:
        url = reverse("admin:workflows_mediaattachment_file", args=[obj.pk])
        if obj.is_video:
            return format_html(
                '<video src="{}" controls preload="metadata" class="wf-media-thumb"></video>', url
            )
        thumbnail = reverse("admin:workflows_mediaattachment_thumbnail", args=[obj.pk])
        return format_html(
            '<a href="{}"><img src="{}" alt="{}" class="wf-media-thumb"></a>', url, thumbnail, obj.alt_text
        )

    @admin.display(description="workflow", ordering="workflow__created_at")
    def workflow_link(self, obj: MediaAttachment) -> str:
        return format_html(
            '<a class="wf-review-link" href="{}">Review {}</a>',
            media_review_url(obj),
            str(obj.workflow_id)[:8],
        )

    @admin.display(description="alt text")
    def alt_text_excerpt(self, obj: MediaAttachment) -> str:
        return _preview(obj.alt_text) or "—"
