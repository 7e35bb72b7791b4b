import uuid

from django.contrib import admin
from django.db.models.functions import Length, Substr
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from scraping.models import Artifact, ContentExtraction, JobConfiguration, MetadataTag, ScrapingJob

CONTENT_PREVIEW_CHARS = 2000
RECENT_JOBS_IN_FILTER = 20


class JobConfigurationInline(admin.TabularInline):
    model = JobConfiguration
    extra = 0
    fields = ("config_key", "config_value", "created_at")
    readonly_fields = ("created_at",)


@admin.register(ScrapingJob)
class ScrapingJobAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "user",
        "job_type",
        "status",
        "progress",
        "total_items",
        "processed_items",
        "skipped_items",
        "failed_items",
        "artifacts_link",
        "created_at",
    )
    list_filter = ("status", "job_type", "cancel_requested")
    search_fields = ("title", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    inlines = [JobConfigurationInline]
    # Worker-managed state: operators request cancellation, the worker does the rest.
    readonly_fields = (
        "id",
        "status",
        "progress",
        "total_items",
        "processed_items",
        "skipped_items",
        "failed_items",
        "error_message",
        "started_at",
        "completed_at",
        "heartbeat_at",
        "attempts",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {"fields": ("id", "user", "title", "description", "job_type", "keywords", "expanded_keywords")},
        ),
        (
            _("Progress"),
            {
                "fields": (
                    "status",
                    "cancel_requested",
                    "progress",
                    ("total_items", "processed_items", "skipped_items", "failed_items"),
                    "error_message",
                )
            },
        ),
        (
            _("Worker"),
            {
                "fields": (
                    "started_at",
                    "completed_at",
                    "heartbeat_at",
                    "attempts",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    @admin.display(description=_("artifacts"))
    def artifacts_link(self, obj):
        url = reverse("admin:scraping_artifact_changelist")
        return format_html('<a href="{}?job={}">{}</a>', url, obj.pk, _("artifacts"))


@admin.register(JobConfiguration)
class JobConfigurationAdmin(admin.ModelAdmin):
    list_display = ("config_key", "config_value", "job", "created_at")
    list_filter = ("config_key",)
    search_fields = ("config_key", "config_value")
    list_select_related = ("job",)
    raw_id_fields = ("job",)
    readonly_fields = ("id", "created_at")
    ordering = ("job_id", "config_key")
    show_full_result_count = False


class JobListFilter(admin.SimpleListFilter):
    """Filter by job without loading every job: offers the recent ones, accepts any id."""

    title = _("job")
    parameter_name = "job"
    NONE = "none"

    def lookups(self, request, model_admin):
        choices = [(self.NONE, _("No job (uploads)"))]
        recent = list(ScrapingJob.objects.order_by("-created_at").only("id", "title")[:RECENT_JOBS_IN_FILTER])
        selected = self._selected_job_id()
        if selected and all(job.pk != selected for job in recent):
            recent += list(ScrapingJob.objects.filter(pk=selected).only("id", "title"))
        choices += [(str(job.pk), job.title) for job in recent]
        return choices

    def _selected_job_id(self):
        try:
            return uuid.UUID(self.value() or "")
        except ValueError:
            return None

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() == self.NONE:
            return queryset.filter(job__isnull=True)
        job_id = self._selected_job_id()
        return queryset.filter(job_id=job_id) if job_id else queryset.none()


class MetadataTagInline(admin.TabularInline):
    model = MetadataTag
    extra = 0
    fields = ("tag_type", "tag_key", "tag_value", "created_at")
    readonly_fields = ("created_at",)


class ContentExtractionInline(admin.TabularInline):
    model = ContentExtraction
    extra = 0
    fields = ("extraction_type", "confidence_score", "extracted_data", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = (
        "title_or_url",
        "artifact_type",
        "user",
        "job",
        "mime_type",
        "file_size",
        "is_public",
        "created_at",
    )
    list_filter = ("artifact_type", "is_public", JobListFilter)
    search_fields = ("title", "source_url", "=content_hash")
    list_select_related = ("user", "job")
    raw_id_fields = ("user", "job")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    inlines = [MetadataTagInline, ContentExtractionInline]
    # The stored file and its hash belong together; both are set by the storing service.
    readonly_fields = (
        "id",
        "content_hash",
        "minio_path",
        "file_size",
        "mime_type",
        "content_preview",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("id", "user", "job", "artifact_type", "title", "description", "source_url")}),
        (_("Classification"), {"fields": ("keywords", "tags", "is_public")}),
        (_("Stored content"), {"fields": ("content_hash", "minio_path", "file_size", "mime_type")}),
        (_("Extracted text"), {"fields": ("content_preview",)}),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # Extracted text can be megabytes per row: never fetch it for lists or forms.
        return super().get_queryset(request).defer("content_text")

    def has_add_permission(self, request):
        # Artifacts come from scraping jobs and uploads, which store the file and hash it.
        return False

    @admin.display(description=_("title"), ordering="title")
    def title_or_url(self, obj):
        return obj.title or obj.source_url or obj.content_hash[:12]

    @admin.display(description=_("extracted text"))
    def content_preview(self, obj):
        row = (
            Artifact.objects.filter(pk=obj.pk)
            .values_list(Substr("content_text", 1, CONTENT_PREVIEW_CHARS), Length("content_text"))
            .first()
        )
        if not row or row[1] is None:
            return "-"
        preview, length = row
        suffix = "…" if length > CONTENT_PREVIEW_CHARS else ""
        return format_html(
            '<div style="white-space: pre-wrap; max-height: 20em; overflow: auto;">{}{}</div>'
            "<p>{} characters</p>",
            preview,
            suffix,
            length,
        )


@admin.register(MetadataTag)
class MetadataTagAdmin(admin.ModelAdmin):
    list_display = ("tag_type", "tag_key", "tag_value", "artifact", "created_at")
    list_filter = ("tag_type",)
    search_fields = ("tag_key", "tag_value")
    list_select_related = ("artifact",)
    raw_id_fields = ("artifact",)
    readonly_fields = ("id", "created_at")
    ordering = ("tag_type", "tag_key")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact__content_text")


@admin.register(ContentExtraction)
class ContentExtractionAdmin(admin.ModelAdmin):
    list_display = ("extraction_type", "confidence_score", "artifact", "created_at")
    list_filter = ("extraction_type",)
    search_fields = ("extraction_type", "=artifact__content_hash")
    list_select_related = ("artifact",)
    raw_id_fields = ("artifact",)
    readonly_fields = ("id", "created_at")
    ordering = ("extraction_type",)
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer("artifact__content_text")
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("extracted_data")
        return queryset
