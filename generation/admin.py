from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models.functions import Length
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.request_meta import request_meta
from core.admin_lists import (
    ChangedRecentlyFilter,
    LargeTableAdminMixin,
    fixed_choices_filter,
    short_id_column,
)
from core.errors import DomainError
from generation.admin_forms import (
    generated_image_thumbnail,
    generated_image_urls,
    persona_gallery,
    persona_portrait,
    persona_task_change_context,
    persona_task_start_view,
    persona_task_urls,
    persona_urls,
    prompt_change_context,
    prompt_start_view,
    prompt_urls,
)
from generation.models import (
    AspectRatio,
    GeneratedImage,
    GeneratedImageArchive,
    GeneratedPersona,
    GenerationModel,
    GenerationTask,
    Prompt,
    TaskStatus,
)
from generation.services import avatar_tasks, prompts
from generation.services.avatar_tasks import RUNNING_STATUSES


class CancelWorkMixin:
    """Cancelling background work whose change form is read-only: the role's change permission
    (a viewer's is missing) through the app's cancel service, on the change page's Cancel button
    (core.admin_progress) and in the changelist's action."""

    actions = ["cancel_selected"]
    cancellable_statuses: tuple[str, ...] = ()
    noun = "item"

    def has_cancel_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")

    def cancel_one(self, obj, *, actor, meta) -> None:
        raise NotImplementedError

    @admin.action(
        description="Cancel selected (running ones stop at their next step)", permissions=["cancel"]
    )
    def cancel_selected(self, request, queryset):
        cancelled = skipped = 0
        meta = request_meta(request)
        for obj in queryset.filter(status__in=self.cancellable_statuses).order_by("pk"):
            try:
                self.cancel_one(obj, actor=request.user, meta=meta)
            except DomainError:  # finished meanwhile, or not the actor's to cancel
                skipped += 1
                continue
            cancelled += 1
        text = f"{cancelled} {self.noun}(s) cancelled; only waiting or running ones can be cancelled."
        if skipped:
            text += f" {skipped} could not be cancelled."
        self.message_user(request, text, messages.SUCCESS if cancelled else messages.WARNING)


# Inline previews only for images whose base64 text is at most this long (~150 kB decoded).
PREVIEW_MAX_ENCODED_CHARS = 200_000
PREVIEW_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
IMAGE_FIELDS = [
    "id",
    "user",
    "prompt",
    "media_generation_id",
    "image_preview",
    "image_size",
    "mime_type",
    "seed",
    "model_name_type",
    "aspect_ratio",
    "fingerprint_log_record_id",
    "workflow_id",
    "metadata",
    "created_at",
]


# model_name_type, aspect_ratio and mime_type are plain CharFields (no `choices`): Django's own filter
# for them would run SELECT DISTINCT over the whole table on every changelist load.
MimeTypeFilter = fixed_choices_filter(
    "mime_type", title="MIME type", choices=[(m, m) for m in sorted(PREVIEW_MIME_TYPES)]
)
ImageModelFilter = fixed_choices_filter("model_name_type", title="model", choices=GenerationModel.choices)
ImageAspectRatioFilter = fixed_choices_filter(
    "aspect_ratio", title="aspect ratio", choices=AspectRatio.choices
)


class GeneratedImageInline(admin.TabularInline):
    model = GeneratedImage
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["thumbnail", "media_generation_id", "model_name_type", "aspect_ratio", "seed", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("encoded_image")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Image")
    def thumbnail(self, obj: GeneratedImage) -> str:
        # The browser fetches each thumbnail from an admin-only view, so this page never loads
        # the base64 blobs itself.
        return generated_image_thumbnail(obj, size=96)


@admin.register(Prompt)
class PromptAdmin(OwnerScopedAdmin, CancelWorkMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "short_text",
        "user",
        "generation_model",
        "aspect_ratio",
        "number_of_images",
        "status",
        "backend",
        "created_at",
    ]
    list_filter = ["status", ChangedRecentlyFilter, "generation_model", "aspect_ratio"]
    search_fields = ["prompt_text", "workflow_id", "user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "status",
        "error_message",
        "backend",
        "started_at",
        "completed_at",
        "heartbeat_at",
        "attempts",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "user",
                    "prompt_text",
                    "generation_model",
                    "aspect_ratio",
                    "number_of_images",
                    "seed",
                    "workflow_id",
                ]
            },
        ),
        ("Progress", {"fields": ["status", "error_message", "backend"]}),
        (
            "Worker",
            {
                "fields": [
                    "started_at",
                    "completed_at",
                    "heartbeat_at",
                    "attempts",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [GeneratedImageInline]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    # A prompt is a record of a request: created through the prompt form (generation.admin_forms,
    # the API's service, which queues the work), then changed only by its worker.
    change_form_template = "admin/sd_work_change_form.html"

    class Media:
        css = {"all": ("generation/generation.css",)}

    def has_change_permission(self, request, obj=None):
        return False

    cancellable_statuses = prompts.CANCELLABLE_STATUSES
    noun = "prompt"

    def cancel_one(self, obj, *, actor, meta) -> None:
        prompts.prompt_cancel(prompt=obj, actor=actor, meta=meta)

    def add_view(self, request, form_url="", extra_context=None):
        return prompt_start_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**prompt_change_context(self, request, object_id), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [*prompt_urls(self), *super().get_urls()]

    @admin.display(description="Prompt", ordering="prompt_text")
    def short_text(self, obj: Prompt) -> str:
        return str(obj)


class BaseGeneratedImageAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    """Images are records of what a backend returned: viewable and deletable, not editable.

    The base64 blob is never loaded for the changelist, and the change page shows a small preview
    (images up to PREVIEW_MAX_ENCODED_CHARS) or just the size, never the base64 text.
    """

    list_display = [
        "id",
        "media_generation_id_short",
        "user",
        "model_name_type",
        "aspect",
        "created_at",
    ]
    media_generation_id_short = short_id_column("media_generation_id", description="Media generation id")
    list_filter = [ImageModelFilter, ImageAspectRatioFilter, MimeTypeFilter, "created_at"]
    search_fields = ["=media_generation_id", "=workflow_id", "user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user", "prompt"]
    exclude = ["encoded_image"]
    fields = IMAGE_FIELDS
    readonly_fields = IMAGE_FIELDS
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("encoded_image")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def _encoded_length(self, obj) -> int:
        if not hasattr(obj, "_encoded_length"):
            obj._encoded_length = (
                type(obj)
                .objects.filter(pk=obj.pk)
                .annotate(n=Length("encoded_image"))
                .values_list("n", flat=True)
                .first()
                or 0
            )
        return obj._encoded_length

    @admin.display(description="Aspect ratio", ordering="aspect_ratio")
    def aspect(self, obj) -> str:
        # The archive's column has no choices (the seed's archive table kept free text).
        return (
            AspectRatio(obj.aspect_ratio).label
            if obj.aspect_ratio in AspectRatio.values
            else obj.aspect_ratio or "—"
        )

    @admin.display(description="Size")
    def image_size(self, obj) -> str:
        length = self._encoded_length(obj)
        return f"{filesizeformat(length * 3 // 4)} ({length:,} base64 characters)"

    @admin.display(description="Preview")
    def image_preview(self, obj) -> str:
        length = self._encoded_length(obj)
        if not length:
            return "—"
        if length > PREVIEW_MAX_ENCODED_CHARS:
            return "Too large to preview here."
        if obj.mime_type not in PREVIEW_MIME_TYPES:
            return f"No preview for {obj.mime_type}."
        return format_html(
            '<img src="data:{};base64,{}" alt="preview" class="sd-preview-256">',
            obj.mime_type,
            obj.encoded_image,
        )


@admin.register(GeneratedImage)
class GeneratedImageAdmin(BaseGeneratedImageAdmin):
    list_display = ["thumbnail", *BaseGeneratedImageAdmin.list_display]
    fields = ["thumbnail_large", *IMAGE_FIELDS]
    readonly_fields = fields

    class Media:
        css = {"all": ("generation/generation.css",)}

    def get_urls(self):
        return [*generated_image_urls(self), *super().get_urls()]

    @admin.display(description="Image")
    def thumbnail(self, obj: GeneratedImage) -> str:
        return generated_image_thumbnail(obj)

    @admin.display(description="Thumbnail")
    def thumbnail_large(self, obj: GeneratedImage) -> str:
        return generated_image_thumbnail(obj, size=160)


@admin.register(GeneratedImageArchive)
class GeneratedImageArchiveAdmin(BaseGeneratedImageAdmin):
    list_display = [*BaseGeneratedImageAdmin.list_display, "archived_at"]
    fields = [*IMAGE_FIELDS, "archived_at"]
    readonly_fields = fields


class GeneratedPersonaInline(admin.TabularInline):
    model = GeneratedPersona
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "position",
        "portrait",
        "full_name",
        "gender",
        "age",
        "job_title",
        "current_city",
        "image_count",
    ]
    readonly_fields = fields
    ordering = ["position"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .only(
                "id",
                "task_id",
                "position",
                "first_name",
                "last_name",
                "gender",
                "age",
                "job_title",
                "current_city",
                "images",
            )
        )

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Images")
    def image_count(self, obj: GeneratedPersona) -> int:
        return len(obj.images or [])

    @admin.display(description="Portrait")
    def portrait(self, obj: GeneratedPersona) -> str:
        return persona_portrait(obj)


class TaskProgressFilter(admin.SimpleListFilter):
    """A persona task runs in two steps, each a status of its own; this groups them."""

    title = "progress"
    parameter_name = "progress"
    GROUPS = {
        "running": ("running (generating data or images)", RUNNING_STATUSES),
        "waiting": ("waiting for a worker", (TaskStatus.PENDING, TaskStatus.DATA_GENERATED)),
        "finished": ("finished", avatar_tasks.FINISHED_STATUSES),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.GROUPS.items()]

    def queryset(self, request, queryset):
        group = self.GROUPS.get(self.value() or "")
        return queryset if group is None else queryset.filter(status__in=group[1])


@admin.register(GenerationTask)
class GenerationTaskAdmin(OwnerScopedAdmin, CancelWorkMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "task_id",
        "user",
        "status",
        "persona_progress",
        "image_progress",
        "bio_language",
        "created_at",
        "completed_at",
    ]
    list_filter = [TaskProgressFilter, "status", ChangedRecentlyFilter, "images_per_persona", "created_at"]
    search_fields = ["=task_id", "user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "task_id",
        "status",
        "bio_prompts",
        "persona_progress",
        "image_progress",
        "error_log",
        "started_at",
        "completed_at",
        "heartbeat_at",
        "attempts",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "task_id",
                    "user",
                    "persona_description",
                    "bio_language",
                    "number_to_generate",
                    "images_per_persona",
                ]
            },
        ),
        ("Progress", {"fields": ["status", "persona_progress", "image_progress", "error_log"]}),
        (
            "Bio prompts",
            {
                "fields": ["bio_prompts"],
                "description": (
                    "Personas' bios are written with the four bio_prompt_* system settings and the "
                    "task's language; change them under System settings."
                ),
            },
        ),
        (
            "Worker",
            {
                "fields": [
                    "started_at",
                    "completed_at",
                    "heartbeat_at",
                    "attempts",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [GeneratedPersonaInline]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    # Tasks are created through the persona form (generation.admin_forms, the API's service, which
    # issues task_id and queues the work) and then changed only by their worker.
    change_form_template = "admin/sd_work_change_form.html"

    class Media:
        css = {"all": ("generation/generation.css",)}

    def has_change_permission(self, request, obj=None):
        return False

    cancellable_statuses = avatar_tasks.CANCELLABLE_STATUSES
    noun = "task"

    def cancel_one(self, obj, *, actor, meta) -> None:
        avatar_tasks.avatar_task_cancel(task=obj, actor=actor, meta=meta)

    def add_view(self, request, form_url="", extra_context=None):
        return persona_task_start_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**persona_task_change_context(self, request, object_id), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [*persona_task_urls(self), *super().get_urls()]

    @admin.display(description="Bio prompts")
    def bio_prompts(self, obj: GenerationTask | None = None) -> str:
        url = reverse("admin:core_systemconfig_changelist") + "?" + urlencode({"q": "bio_prompt_"})
        return format_html(
            '<a href="{}">Edit the Facebook, Instagram, X and TikTok bio prompts</a> '
            "(system settings bio_prompt_facebook, bio_prompt_instagram, bio_prompt_x, "
            "bio_prompt_tiktok; placeholders {{language}} and {{persona}}).",
            url,
        )

    @admin.display(description="Personas")
    def persona_progress(self, obj: GenerationTask) -> str:
        if obj.number_to_generate is None:
            return "—"
        return f"{obj.personas_generated} / {obj.number_to_generate}"

    @admin.display(description="Images")
    def image_progress(self, obj: GenerationTask) -> str:
        if obj.number_to_generate is None or obj.images_per_persona is None:
            return "—"
        return f"{obj.images_generated} / {obj.images_expected}"


@admin.register(GeneratedPersona)
class GeneratedPersonaAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = "task__user"
    list_display = [
        "portrait",
        "full_name",
        "task",
        "position",
        "gender",
        "age",
        "job_title",
        "current_city",
        "created_at",
    ]
    list_filter = ["created_at"]
    search_fields = ["first_name", "last_name", "job_title", "workplace", "=task__task_id"]
    list_select_related = ["task"]
    raw_id_fields = ["task"]
    readonly_fields = ["task", "position", "gallery", "image_errors", "metadata", "created_at"]
    fieldsets = [
        (None, {"fields": ["task", "position", "first_name", "last_name", "gender", "age", "ethnicity"]}),
        ("Bios", {"fields": ["bio_facebook", "bio_instagram", "bio_x", "bio_tiktok", "about"]}),
        (
            "Work and places",
            {
                "fields": [
                    "job_title",
                    "workplace",
                    "education",
                    "current_city",
                    "current_state",
                    "previous_city",
                    "previous_state",
                ]
            },
        ),
        ("Images", {"fields": ["gallery", "image_errors", "metadata", "created_at"]}),
    ]
    ordering = ["-task_id", "position"]

    def has_add_permission(self, request):
        # Personas are written by the generation task, one per position.
        return False

    class Media:
        css = {"all": ("generation/generation.css",)}

    def get_urls(self):
        return [*persona_urls(self), *super().get_urls()]

    @admin.display(description="Portrait")
    def portrait(self, obj: GeneratedPersona) -> str:
        return persona_portrait(obj)

    @admin.display(description="Images")
    def gallery(self, obj: GeneratedPersona) -> str:
        return persona_gallery(obj)
