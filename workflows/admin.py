"""Operator UI for content repurposing: workflows, drafts, reviews and publishing.

Drafts, evaluations and checkpoints are records of what happened, so they are read-only here;
state changes (review, publish, cancel) go through `workflows.services`.
"""

from django.contrib import admin
from django.db.models.functions import Substr
from django.utils.text import Truncator

from workflows.models import (
    Draft,
    Evaluation,
    PlatformState,
    PublishingJob,
    Resource,
    Workflow,
    WorkflowCheckpoint,
)

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


class PlatformStateInline(ReadOnlyInline):
    model = PlatformState
    fields = ("platform", "status", "iteration", "active_draft", "attempts", "heartbeat_at", "updated_at")
    readonly_fields = fields


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "mode", "status", "created_at", "updated_at", "completed_at")
    list_filter = ("status", "mode")
    search_fields = ("=id", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("id", "created_at", "updated_at", "completed_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    inlines = [PlatformStateInline]


@admin.register(PlatformState)
class PlatformStateAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "platform", "status", "iteration", "attempts", "updated_at")
    list_filter = ("platform", "status")
    search_fields = ("=id", "=workflow__id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "active_draft")
    readonly_fields = ("id", "created_at", "updated_at", "heartbeat_at")
    ordering = ("workflow_id", "platform")
    show_full_result_count = False


class EvaluationInline(ReadOnlyInline):
    model = Evaluation
    fields = ("score", "evaluator", "feedback", "criteria_scores", "created_at")
    readonly_fields = fields


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "platform", "source", "content_preview", "created_at")
    list_filter = ("platform", "source")
    search_fields = ("=id", "=workflow__id", "created_by__username")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "based_on", "created_by")
    readonly_fields = ("id", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
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


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("id", "draft", "score", "evaluator", "created_at")
    list_filter = ("evaluator",)
    search_fields = ("=id", "=draft__id", "=draft__workflow__id")
    list_select_related = ("draft",)
    raw_id_fields = ("draft",)
    readonly_fields = ("id", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False

    def get_queryset(self, request):
        # The listed draft is shown by its __str__, which never needs the content.
        return super().get_queryset(request).defer("draft__content")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
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
class PublishingJobAdmin(admin.ModelAdmin):
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
    list_filter = ("status", "platform")
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
    show_full_result_count = False

    def get_queryset(self, request):
        # The connection is shown by name only: never load (and decrypt) its credentials.
        secrets = [f"platform_connection__{name}" for name in CONNECTION_SECRETS]
        return super().get_queryset(request).defer(*secrets)


@admin.register(WorkflowCheckpoint)
class WorkflowCheckpointAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "platform", "sequence", "step", "created_at")
    list_filter = ("platform", "step")
    search_fields = ("=id", "=workflow__id")
    list_select_related = ("workflow",)
    raw_id_fields = ("workflow", "parent")
    ordering = ("workflow_id", "platform", "sequence")
    show_full_result_count = False

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
