import uuid

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.db.models.functions import Length, Substr
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.request_meta import request_meta
from core.admin_lists import ChangedRecentlyFilter, LargeTableAdminMixin, fixed_choices_filter
from core.errors import DomainError
from scraping.admin_forms import (
    artifact_change_context,
    artifact_download_link,
    artifact_urls,
    job_options_html,
    scraping_job_change_context,
    scraping_job_start_view,
    scraping_job_urls,
)
from scraping.job_options import COMMON_KEYS, PAPER_SOURCES, TYPE_KEYS
from scraping.models import (
    Artifact,
    ContentExtraction,
    ItemStatus,
    JobConfiguration,
    JobStatus,
    MetadataTag,
    ScrapingJob,
    ScrapingJobItem,
)
from scraping.services.artifacts import artifact_delete
from scraping.services.jobs import scraping_job_cancel, scraping_job_delete, scraping_job_retry
from scraping.sources import SOURCES
from scraping.sources.paper import PaperSource

CONTENT_PREVIEW_CHARS = 2000
RECENT_JOBS_IN_FILTER = 20
# A job can find 10 000 URLs: its page shows the most telling ones and links to the rest.
ITEMS_INLINE_LIMIT = 50


class JobItemInline(admin.TabularInline):
    """Read-only: items are the runner's record. Failed ones first, at most ITEMS_INLINE_LIMIT."""

    model = ScrapingJobItem
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ("url", "source", "depth", "keyword", "status", "http_status", "error_message", "artifact")
    readonly_fields = fields
    verbose_name_plural = _("job items (failed first, at most %(limit)d)") % {"limit": ITEMS_INLINE_LIMIT}

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("artifact").defer("artifact__content_text")
        job_id = (request.resolver_match.kwargs.get("object_id") if request.resolver_match else None) or ""
        try:
            job_id = uuid.UUID(job_id)
        except ValueError:
            return queryset.none()
        # The formset filters by job itself, so the limit is a subquery, not a slice.
        shown = (
            ScrapingJobItem.objects.filter(job_id=job_id)
            .annotate(failed_first=_failed_first())
            .order_by("failed_first", "created_at", "id")
            .values("pk")[:ITEMS_INLINE_LIMIT]
        )
        return queryset.filter(pk__in=shown).order_by("status", "created_at")


def _failed_first():
    return Case(When(status=ItemStatus.FAILED, then=Value(0)), default=Value(1), output_field=IntegerField())


@admin.register(ScrapingJob)
class ScrapingJobAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "title",
        "user",
        "job_type",
        "status",
        "progress_bar",
        "item_counts",
        "artifacts_link",
        "created_at",
    )
    list_filter = ("status", ChangedRecentlyFilter, "job_type", "cancel_requested")
    search_fields = ("title", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    # The options show as named values (scraping.admin_forms.job_options_html), not as raw rows.
    inlines = [JobItemInline]
    actions = ["cancel_selected", "retry_selected"]
    change_form_template = "admin/sd_work_change_form.html"

    # Started from the job form (scraping.admin_forms): the API's service, rules and queueing.
    def add_view(self, request, form_url="", extra_context=None):
        return scraping_job_start_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**scraping_job_change_context(self, request, object_id), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [*scraping_job_urls(self), *super().get_urls()]

    @admin.display(description=_("options"))
    def options(self, obj):
        return job_options_html(obj) if obj.pk else "-"

    @admin.display(description=_("keywords"))
    def keyword_list(self, obj):
        return ", ".join(obj.keywords or []) or "-"

    @admin.display(description=_("expanded keywords"))
    def expanded_keyword_list(self, obj):
        return ", ".join(obj.expanded_keywords or []) or "-"

    def delete_model(self, request, obj):
        scraping_job_delete(job=obj, actor=request.user, meta=request_meta(request))

    def delete_queryset(self, request, queryset):
        meta = request_meta(request)
        for job in queryset.exclude(status=JobStatus.RUNNING):
            scraping_job_delete(job=job, actor=request.user, meta=meta)

    # Worker-managed state: operators cancel and retry through the actions, the worker does the rest.
    readonly_fields = (
        "id",
        "status",
        "cancel_requested",
        "progress_bar",
        "items_link",
        "options",
        "keyword_list",
        "expanded_keyword_list",
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
            {
                "fields": (
                    "id",
                    "user",
                    "title",
                    "description",
                    "job_type",
                    "keyword_list",
                    "expanded_keyword_list",
                )
            },
        ),
        (_("Options"), {"fields": ("options",)}),
        (
            _("Progress"),
            {
                "fields": (
                    "status",
                    "cancel_requested",
                    "progress_bar",
                    ("total_items", "processed_items", "skipped_items", "failed_items"),
                    "items_link",
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

    @admin.display(description=_("progress"), ordering="progress")
    def progress_bar(self, obj):
        progress = max(0, min(100, obj.progress or 0))
        return format_html('<progress value="{p}" max="100">{p}%</progress> {p}%', p=progress)

    @admin.display(description=_("items"), ordering="processed_items")
    def item_counts(self, obj):
        return format_html(
            "{} of {}<br>{} skipped, {} failed",
            obj.processed_items or 0,
            obj.total_items or 0,
            obj.skipped_items or 0,
            obj.failed_items or 0,
        )

    @admin.display(description=_("items"))
    def items_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:scraping_scrapingjobitem_changelist")
        every = f"{url}?job__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">{}</a> &middot; <a href="{}">{}</a>',
            every,
            _("all items"),
            f"{every}&status__exact={ItemStatus.FAILED}",
            _("failed items"),
        )

    def _each(self, request, queryset, service, *, statuses, done: str, rule: str) -> None:
        changed = 0
        meta = request_meta(request)
        for job in queryset.filter(status__in=statuses):
            try:
                service(job=job, actor=request.user, meta=meta)
            except (DomainError, ValidationError):  # moved on meanwhile, or nothing to retry
                continue
            changed += 1
        self.message_user(
            request, f"{changed} job(s) {done}; {rule}", messages.SUCCESS if changed else messages.WARNING
        )

    @admin.action(description=_("Cancel selected pending or running jobs"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            scraping_job_cancel,
            statuses=(JobStatus.PENDING, JobStatus.RUNNING),
            done="cancelled (running ones stop at their next item)",
            rule="only pending or running jobs can be.",
        )

    @admin.action(description=_("Retry the failed items of selected finished jobs"), permissions=["change"])
    def retry_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            scraping_job_retry,
            statuses=(JobStatus.COMPLETED, JobStatus.FAILED),
            done="queued again",
            rule="only completed or failed jobs with failed items can be.",
        )


# The list filters below offer declared values instead of Django's SELECT DISTINCT over the table.
# An item's source is the name of the source that found it; a paper search names the index it
# queried (arXiv or CrossRef) rather than itself.
ITEM_SOURCES = sorted({source.name for source in SOURCES.values()} - {PaperSource.name} | set(PAPER_SOURCES))
# The configuration keys scraping.job_options accepts; rows imported from the older application may hold
# others, which the search still finds.
CONFIG_KEYS = sorted(COMMON_KEYS.union(*TYPE_KEYS.values()))
# What scraping.services.runner writes: `_tags` yields these tag types; `extraction.extract` names
# its records main_text, metadata, media_info or error, and the runner stores a record without a
# type as "unknown". tests/scraping/test_admin_filters.py keeps these lists in step with that code.
TAG_TYPES = ("keyword", "metadata", "source")
EXTRACTION_TYPES = ("main_text", "metadata", "media_info", "error", "unknown")

ItemSourceFilter = fixed_choices_filter("source", title="source", choices=[(s, s) for s in ITEM_SOURCES])
ConfigKeyFilter = fixed_choices_filter("config_key", title="key", choices=[(k, k) for k in CONFIG_KEYS])
TagTypeFilter = fixed_choices_filter("tag_type", title="tag type", choices=[(t, t) for t in TAG_TYPES])
ExtractionTypeFilter = fixed_choices_filter(
    "extraction_type", title="extraction type", choices=[(t, t.replace("_", " ")) for t in EXTRACTION_TYPES]
)


@admin.register(ScrapingJobItem)
class ScrapingJobItemAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    """Read-only: what each job found and what became of it (the runner writes these)."""

    owner_field = "job__user"

    list_display = ("url", "job", "source", "depth", "status", "http_status", "attempts", "created_at")
    list_filter = ("status", ItemSourceFilter)
    search_fields = ("url",)
    list_select_related = ("job",)
    raw_id_fields = ("job", "artifact")
    ordering = ("-created_at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("job__description")


@admin.register(JobConfiguration)
class JobConfigurationAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "job__user"
    list_display = ("config_key", "config_value", "job", "created_at")
    list_filter = (ConfigKeyFilter,)
    search_fields = ("config_key", "config_value")
    list_select_related = ("job",)
    raw_id_fields = ("job",)
    readonly_fields = ("id", "created_at")
    ordering = ("job_id", "config_key")


class JobListFilter(admin.SimpleListFilter):
    """Filter by job without loading every job: offers the recent ones, accepts any id."""

    title = _("job")
    parameter_name = "job"
    NONE = "none"

    def lookups(self, request, model_admin):
        choices = [(self.NONE, _("No job (uploads)"))]
        # Only jobs the caller may see: a job's title is its owner's data.
        jobs = model_admin.related_choices(request, ScrapingJob).only("id", "title")
        recent = list(jobs.order_by("-created_at")[:RECENT_JOBS_IN_FILTER])
        selected = self._selected_job_id()
        if selected and all(job.pk != selected for job in recent):
            recent += list(jobs.filter(pk=selected))
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
class ArtifactAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "title_or_url",
        "artifact_type",
        "user",
        "job",
        "tag_list",
        "mime_type",
        "file_size",
        "is_public",
        "created_at",
        "download",
    )
    list_filter = ("artifact_type", "is_public", JobListFilter)
    search_fields = ("title", "source_url", "=content_hash")
    list_select_related = ("user", "job")
    raw_id_fields = ("user", "job")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
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

    change_form_template = "admin/sd_work_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**artifact_change_context(self, request, object_id), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [*artifact_urls(self), *super().get_urls()]

    @admin.display(description=_("file"))
    def download(self, obj):
        return artifact_download_link(obj)

    # Deleting goes through the service, which removes the stored file too (once committed).
    def delete_model(self, request, obj):
        artifact_delete(artifact=obj, actor=request.user, meta=request_meta(request))

    def delete_queryset(self, request, queryset):
        meta = request_meta(request)
        for artifact in queryset:
            artifact_delete(artifact=artifact, actor=request.user, meta=meta)

    @admin.display(description=_("tags"))
    def tag_list(self, obj):
        return ", ".join(obj.tags or []) or "-"

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
            '<div class="sd-content-preview">{}{}</div><p>{} characters</p>',
            preview,
            suffix,
            length,
        )


@admin.register(MetadataTag)
class MetadataTagAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "artifact__user"
    list_display = ("tag_type", "tag_key", "tag_value", "artifact", "created_at")
    list_filter = (TagTypeFilter,)
    search_fields = ("tag_key", "tag_value")
    list_select_related = ("artifact",)
    raw_id_fields = ("artifact",)
    readonly_fields = ("id", "created_at")
    ordering = ("tag_type", "tag_key")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact__content_text")


@admin.register(ContentExtraction)
class ContentExtractionAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "artifact__user"
    list_display = ("extraction_type", "confidence_score", "artifact", "created_at")
    list_filter = (ExtractionTypeFilter,)
    search_fields = ("extraction_type", "=artifact__content_hash")
    list_select_related = ("artifact",)
    raw_id_fields = ("artifact",)
    readonly_fields = ("id", "created_at")
    ordering = ("extraction_type",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer("artifact__content_text")
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer("extracted_data")
        return queryset
