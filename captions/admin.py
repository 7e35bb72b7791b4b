"""The moderators' operator UI for captions. Platform credentials are never shown here:
connections appear only by their name and platform type."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    Post,
    ProcessingRun,
)

CAPTION_PREVIEW_CHARS = 80


def _preview(text: str | None) -> str:
    return Truncator(text or "").chars(CAPTION_PREVIEW_CHARS) or "—"


class ImageInline(admin.TabularInline):
    model = Image
    fields = [
        "attachment_index",
        "image_post_id",
        "status",
        "caption_preview",
        "caption_quality_score",
        "needs_special_review",
    ]
    readonly_fields = fields
    ordering = ["attachment_index"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="Caption")
    def caption_preview(self, obj: Image) -> str:
        return _preview(obj.current_caption)


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["post_id", "platform_connection", "platform_user_id", "post_url", "created_at"]
    list_filter = ["platform_connection__platform_type"]
    search_fields = ["post_id", "post_url", "platform_user_id"]
    list_select_related = ["platform_connection"]
    raw_id_fields = ["platform_connection"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {"fields": ["post_id", "platform_connection", "platform_user_id", "post_url", "post_content"]},
        ),
        ("Legacy", {"fields": ["platform_type", "instance_url"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [ImageInline]
    ordering = ["-created_at"]
    show_full_result_count = False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    """The review queue. `images` reaches a million rows: no full count, no date hierarchy."""

    list_display = [
        "id",
        "post",
        "platform_connection",
        "attachment_index",
        "status",
        "caption_preview",
        "caption_quality_score",
        "needs_special_review",
        "created_at",
    ]
    list_display_links = ["id"]
    list_filter = ["status", "needs_special_review", "image_category", "platform_connection__platform_type"]
    search_fields = ["image_post_id", "generated_caption", "reviewed_caption", "post__post_id"]
    search_help_text = "Platform media id, post id, or words of the generated or reviewed caption."
    list_select_related = ["post", "platform_connection"]
    raw_id_fields = ["post", "platform_connection"]
    readonly_fields = ["reviewed_by", "reviewed_at", "posted_at", "created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "post",
                    "platform_connection",
                    "attachment_index",
                    "image_post_id",
                    "image_url",
                    "local_path",
                    "original_filename",
                    "media_type",
                    "original_post_date",
                ]
            },
        ),
        (
            "Caption",
            {
                "fields": [
                    "original_caption",
                    "generated_caption",
                    "reviewed_caption",
                    "final_caption",
                    "image_category",
                    "caption_quality_score",
                    "needs_special_review",
                    "reviewer_notes",
                ]
            },
        ),
        ("Status", {"fields": ["status", "reviewed_by", "reviewed_at", "posted_at", "processing_error"]}),
        ("Generation", {"fields": ["prompt_used"], "classes": ["collapse"]}),
        ("Legacy", {"fields": ["platform_type", "instance_url"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]
    ordering = ["-created_at"]
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="Caption")
    def caption_preview(self, obj: Image) -> str:
        return _preview(obj.reviewed_caption or obj.generated_caption)


class ProcessingRunInline(admin.TabularInline):
    model = ProcessingRun
    fields = [
        "batch_id",
        "status",
        "started_at",
        "completed_at",
        "posts_processed",
        "images_processed",
        "captions_generated",
        "errors_count",
    ]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


@admin.register(CaptionGenerationTask)
class CaptionGenerationTaskAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "user",
        "platform_connection",
        "status",
        "progress",
        "current_step",
        "attempts",
        "created_at",
        "started_at",
        "completed_at",
        "heartbeat_at",
    ]
    list_filter = ["status", "platform_connection__platform_type"]
    search_fields = ["user__username", "current_step", "error_message"]
    list_select_related = ["user", "platform_connection"]
    raw_id_fields = ["user", "platform_connection"]
    readonly_fields = [
        "id",
        "progress",
        "progress_percent",
        "current_step",
        "attempts",
        "heartbeat_at",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "user", "platform_connection", "status"]}),
        ("Progress", {"fields": ["progress", "current_step", "attempts", "heartbeat_at", "error_message"]}),
        ("Data", {"fields": ["settings_json", "results_json"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at", "started_at", "completed_at"]}),
    ]
    inlines = [ProcessingRunInline]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    @admin.display(description="Task", ordering="id")
    def short_id(self, obj: CaptionGenerationTask) -> str:
        return str(obj.id)[:8]

    @admin.display(description="Progress", ordering="progress_percent")
    def progress(self, obj: CaptionGenerationTask) -> str:
        return format_html(
            '<progress value="{}" max="100" title="{} %"></progress> {} %',
            obj.progress_percent,
            obj.progress_percent,
            obj.progress_percent,
        )


@admin.register(ProcessingRun)
class ProcessingRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "batch_id",
        "user",
        "platform_connection",
        "status",
        "started_at",
        "completed_at",
        "posts_processed",
        "images_processed",
        "captions_generated",
        "errors_count",
    ]
    list_filter = ["status", "platform_connection__platform_type"]
    search_fields = ["batch_id", "user__username"]
    list_select_related = ["user", "platform_connection"]
    raw_id_fields = ["user", "platform_connection", "task"]
    readonly_fields = ["started_at"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "user",
                    "platform_connection",
                    "task",
                    "batch_id",
                    "status",
                    "started_at",
                    "completed_at",
                ]
            },
        ),
        ("Counts", {"fields": ["posts_processed", "images_processed", "captions_generated", "errors_count"]}),
        (
            "Retries",
            {
                "fields": [
                    "retry_attempts",
                    "retry_successes",
                    "retry_failures",
                    "retry_total_time",
                    "retry_stats",
                ]
            },
        ),
        ("Legacy", {"fields": ["platform_type", "instance_url"], "classes": ["collapse"]}),
    ]
    date_hierarchy = "started_at"
    ordering = ["-started_at"]
    show_full_result_count = False


@admin.register(CaptionGenerationUserSettings)
class CaptionGenerationUserSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "platform_connection",
        "max_posts_per_run",
        "max_caption_length",
        "optimal_min_length",
        "optimal_max_length",
        "processing_delay",
        "language",
        "reprocess_existing",
        "updated_at",
    ]
    list_filter = ["reprocess_existing", "platform_connection__platform_type"]
    search_fields = ["user__username", "platform_connection__name"]
    list_select_related = ["user", "platform_connection"]
    raw_id_fields = ["user", "platform_connection"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["user__username", "platform_connection__name"]


@admin.register(ImageCaption)
class ImageCaptionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "image_type", "caption_preview", "media_generation_id", "created_at"]
    list_filter = ["image_type"]
    search_fields = ["caption_text", "media_generation_id", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False

    @admin.display(description="Caption")
    def caption_preview(self, obj: ImageCaption) -> str:
        return _preview(obj.caption_text)
