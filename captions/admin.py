"""The moderators' operator UI for captions. Platform credentials are never shown here:
connections appear only by their name and platform type.

The image changelist is the review queue: a thumbnail (served by an admin-only view from the stored
copy, never from public media), the caption as it stands with its character count against the
image's limit, the score with its level and flags, the post by the end of its id; it fits 1280 px.
Each row opens the image's review page, and "Review the queue" walks the images awaiting review
(captions.admin_review). Bulk approve (shown first for confirmation) and reject need
`captions.review_image`, posting `captions.post_image_caption`; every change goes through the
services (captions.services.*), so it is validated, locked and audited as in the API. A page costs
the same few queries at any size: the caption limit comes as a subquery annotation.
"""

import io
from functools import lru_cache

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.urls import get_script_prefix, get_urlconf, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length
from django.utils.timezone import localtime
from PIL import Image as PILImage

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.request_meta import request_meta
from captions.admin_repost import repost_link, repost_urls
from captions.admin_review import ReviewChangeList, approve_confirmation, preview_view, review_urls
from captions.admin_scan import caption_scan_view, caption_task_change_context, caption_task_urls
from captions.models import (
    ACTIVE_TASK_STATUSES,
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    ImageStatus,
    Post,
    ProcessingRun,
)
from captions.quality import (
    QUALITY_BANDS,
    caption_length,
    caption_text_clean,
    quality_level,
)
from captions.selectors import CONNECTION_OWNER, CONNECTION_SECRETS, caption_length_limit, with_length_limit
from captions.services.posting import caption_post, posting_refusal
from captions.services.review import (
    caption_bulk_approve,
    caption_bulk_reject,
    caption_edit,
    ensure_transition,
)
from captions.services.tasks import caption_task_cancel
from core.admin_ai import AIDisclosureAdminMixin
from core.admin_lists import ChangedRecentlyFilter, LargeTableAdminMixin, short_id_column
from core.errors import DomainError

CAPTION_PREVIEW_CHARS = 80
THUMBNAIL_SIZE = 96
LIST_THUMBNAIL_SIZE = 64
THUMBNAIL_URL_PLACEHOLDER = "0"
# Posting talks to the platform once per image inside the request; more are left for another run.
ADMIN_POST_LIMIT = 25


def _preview(text: str | None) -> str:
    """Truncator's output, without its per-character loop for ASCII text (three columns of every
    row of the review queue call this; ASCII needs no normalisation and has no combining marks)."""
    if not text:
        return "—"
    if not text.isascii():
        return Truncator(text).chars(CAPTION_PREVIEW_CHARS) or "—"
    if len(text) <= CAPTION_PREVIEW_CHARS:
        return text
    return add_truncation_text(text[: calculate_truncate_chars_length(CAPTION_PREVIEW_CHARS, None)])


SHORT_ID_CHARS = 6


def _short(identifier: str | None) -> str:
    """A long id by its last characters, the whole of it on hover."""
    if not identifier:
        return "—"
    if len(identifier) <= SHORT_ID_CHARS:
        return identifier
    return format_html('<span title="{}">…{}</span>', identifier, identifier[-SHORT_ID_CHARS:])


def _warnings_html(warnings) -> str:
    """A task's or run's warnings, one per line, escaped."""
    if not warnings:
        return "—"
    return format_html_join(mark_safe("<br>"), "⚠ {}", ((str(text),) for text in warnings))


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
class PostAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = CONNECTION_OWNER
    list_display = [
        "post_id_short",
        "platform_connection",
        "platform_user_id_short",
        "post_url",
        "created_at",
    ]
    post_id_short = short_id_column("post_id", description="Post id")
    platform_user_id_short = short_id_column("platform_user_id", description="Platform user id")
    list_filter = ["platform_connection__platform_type"]
    search_fields = ["post_id", "post_url", "platform_user_id"]
    list_select_related = ["platform_connection"]
    raw_id_fields = ["platform_connection"]
    readonly_fields = [
        "created_at",
        "updated_at",
        "repost_action",
        "repost_uri",
        "repost_url",
        "reposted_at",
        "original_deleted_at",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["post_id", "platform_connection", "platform_user_id", "post_url", "post_content"]},
        ),
        (
            "Repost with alt text",
            {"fields": ["repost_action", "repost_uri", "repost_url", "reposted_at", "original_deleted_at"]},
        ),
        ("Legacy", {"fields": ["platform_type", "instance_url"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [ImageInline]
    ordering = ["-created_at"]

    def has_post_permission(self, request) -> bool:
        return request.user.has_perm("captions.post_image_caption")

    def get_urls(self):
        return [*repost_urls(self), *super().get_urls()]

    @admin.display(description="Repost")
    def repost_action(self, obj: Post) -> str:
        return repost_link(obj)


class QualityLevelFilter(admin.SimpleListFilter):
    title = "quality"
    parameter_name = "quality"
    RANGES = QUALITY_BANDS

    def lookups(self, request, model_admin):
        return [(name, f"{name} ({low}-{high})") for name, (low, high) in self.RANGES.items()] + [
            ("unscored", "unscored")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "unscored":
            return queryset.filter(caption_quality_score__isnull=True)
        if value in self.RANGES:
            low, high = self.RANGES[value]
            return queryset.filter(caption_quality_score__gte=low, caption_quality_score__lte=high)
        return queryset


class ImageReviewForm(forms.ModelForm):
    """Only the reviewed caption is edited here; it is checked as the review service checks it."""

    class Meta:
        model = Image
        fields = ["reviewed_caption"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The generated caption, ready to edit; saved only when changed (then it becomes the
        # reviewed caption, through the service).
        if self.instance.pk and not self.instance.reviewed_caption:
            self.initial["reviewed_caption"] = self.instance.generated_caption

    def clean_reviewed_caption(self):
        if "reviewed_caption" not in self.changed_data:
            return self.instance.reviewed_caption
        # The API's rule and message: line breaks kept, counted as the network counts them.
        text = self.cleaned_data.get("reviewed_caption")
        limit = caption_length_limit(image=self.instance)
        if caption_length(text) > limit:
            raise ValidationError(
                f"The caption has {caption_length(text)} characters; this image allows {limit}."
            )
        text = caption_text_clean(text)
        if not text:
            raise ValidationError("The caption is empty.")
        try:
            ensure_transition(self.instance, ImageStatus.REVIEWED)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return text


def _thumbnail_bytes(key: str, size: int = THUMBNAIL_SIZE) -> tuple[bytes, str]:
    """A small PNG/JPEG of a stored image; OSError when it is missing or unreadable."""
    with default_storage.open(key, "rb") as handle, PILImage.open(handle) as picture:
        picture.draft("RGB", (size * 2, size * 2))
        picture.thumbnail((size, size))
        output = io.BytesIO()
        if picture.mode in ("RGBA", "LA", "P"):
            picture.convert("RGBA").save(output, "PNG", optimize=True)
            return output.getvalue(), "image/png"
        picture.convert("RGB").save(output, "JPEG", quality=80)
        return output.getvalue(), "image/jpeg"


@lru_cache(maxsize=16)
def _thumbnail_url_pattern(*, script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    url = reverse("admin:captions_image_thumbnail", args=[THUMBNAIL_URL_PLACEHOLDER], urlconf=urlconf)
    before, after = url.rsplit(f"/{THUMBNAIL_URL_PLACEHOLDER}/", 1)
    return f"{before}/", f"/{after}"


def _thumbnail_url(*, image_id: int) -> str:
    """The admin thumbnail URL of an image: resolved once per URLconf and script prefix rather than
    once per row (reverse() was a few per cent of a changelist page)."""
    before, after = _thumbnail_url_pattern(script_prefix=get_script_prefix(), urlconf=get_urlconf())
    return f"{before}{int(image_id)}{after}"


@admin.register(Image)
class ImageAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    """The review queue. `images` reaches a million rows: no full count, no date hierarchy."""

    owner_field = CONNECTION_OWNER
    review_queue = True

    form = ImageReviewForm
    # Fits 1280 px: the caption gets the room; long ids are shortened (in full on hover).
    list_display = ["short_id", "thumbnail", "caption_preview", "status", "score_and_flags", "short_post"]
    list_display_links = ["short_id", "thumbnail"]
    list_filter = [
        "status",
        "needs_special_review",
        QualityLevelFilter,
        "image_category",
        "platform_connection__platform_type",
    ]
    search_fields = ["image_post_id", "generated_caption", "reviewed_caption", "post__post_id"]
    search_help_text = "Platform media id, post id, or words of the generated or reviewed caption."
    list_select_related = ["post", "platform_connection"]
    raw_id_fields = ["post", "platform_connection"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "thumbnail_large",
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
                    "characters",
                    "final_caption",
                    "image_category",
                    "score",
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
    actions = ["approve_selected", "reject_selected", "post_selected"]
    ordering = ["-created_at"]
    list_per_page = 50

    class Media:
        css = {"all": ["captions/review.css"]}

    # --- rows, read-only fields, urls ---------------------------------------------------------

    def get_queryset(self, request):
        return with_length_limit(super().get_queryset(request).defer(*CONNECTION_SECRETS))

    def get_readonly_fields(self, request, obj=None):
        shown = [name for _, options in self.fieldsets for name in options["fields"]]
        return [name for name in shown if name != "reviewed_caption"]

    def has_add_permission(self, request):
        return False  # images come from scans

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("captions.review_image")

    def has_post_permission(self, request) -> bool:
        return request.user.has_perm("captions.post_image_caption")

    def get_urls(self):
        thumbnail = self.admin_site.admin_view(self.thumbnail_view)
        return [
            path("<path:object_id>/thumbnail/", thumbnail, name="captions_image_thumbnail"),
            *review_urls(self, thumbnail_bytes=_thumbnail_bytes),
            *super().get_urls(),
        ]

    def get_changelist(self, request, **kwargs):
        return ReviewChangeList  # rows open the review page

    def thumbnail_view(self, request, object_id):
        """A small copy of the stored image, for those who may view this image; never public."""
        return preview_view(self, request, object_id, thumbnail_bytes=_thumbnail_bytes, size=THUMBNAIL_SIZE)

    # --- columns ------------------------------------------------------------------------------

    def _thumbnail(self, obj: Image, size: int) -> str:
        if not obj.local_path:
            return "—"
        url = _thumbnail_url(image_id=obj.pk)
        # A class from core/static/core/admin.css, not a style attribute: the CSP refuses those.
        return format_html(
            '<img src="{}" alt="Image {}" loading="lazy" class="sd-thumb-{}">', url, obj.pk, size
        )

    @admin.display(description="Image")
    def thumbnail(self, obj: Image) -> str:
        return self._thumbnail(obj, LIST_THUMBNAIL_SIZE)

    @admin.display(description="Image")
    def thumbnail_large(self, obj: Image) -> str:
        return self._thumbnail(obj, THUMBNAIL_SIZE)

    @admin.display(description="ID", ordering="id")
    def short_id(self, obj: Image) -> str:
        return _short(str(obj.pk))

    @admin.display(description="Post", ordering="created_at")
    def short_post(self, obj: Image) -> str:
        """The post by the end of its id, which image of it, the connection and when it was found."""
        found = date_format(localtime(obj.created_at), "SHORT_DATE_FORMAT") if obj.created_at else ""
        return format_html(
            '<span class="sd-nowrap">{} #{}</span><br><span class="quiet">{}<br>{}</span>',
            _short(obj.post.post_id),
            obj.attachment_index + 1,
            obj.platform_connection.name,
            found,
        )

    @admin.display(description="Caption")
    def caption_preview(self, obj: Image) -> str:
        """The caption as it stands, which one it is when not the generated one, and its length
        against the image's limit."""
        kind = "approved" if obj.final_caption else "edited" if obj.reviewed_caption else None
        return format_html(
            '{}<br><span class="quiet">{}{}</span>',
            _preview(obj.current_caption),
            f"{kind} · " if kind else "",
            self.characters(obj),
        )

    @admin.display(description="Characters")
    def characters(self, obj: Image) -> str:
        count, limit = caption_length(obj.current_caption), caption_length_limit(image=obj)
        if count > limit:
            return format_html('<strong class="sd-over-limit">{} / {}</strong>', count, limit)
        return format_html("{} / {}", count, limit)

    @admin.display(description="Score", ordering="caption_quality_score")
    def score(self, obj: Image) -> str:
        if obj.caption_quality_score is None:
            return "—"
        level = quality_level(obj.caption_quality_score)
        return format_html('<span title="{}">{}</span> {}', level, obj.caption_quality_score, level)

    @admin.display(description="Score, flags", ordering="caption_quality_score")
    def score_and_flags(self, obj: Image) -> str:
        flags = self.flags(obj)
        if flags == "—":
            return self.score(obj)
        return format_html('{}<span class="sd-flags">{}</span>', self.score(obj), flags)

    @admin.display(description="Flags")
    def flags(self, obj: Image) -> str:
        flags = []
        if obj.needs_special_review:
            flags.append(("needs review", obj.reviewer_notes or "Flagged for a closer look."))
        if obj.processing_error:
            flags.append(("error", obj.processing_error))
        if not obj.current_caption.strip():
            flags.append(("no caption", "No caption yet."))
        elif caption_length(obj.current_caption) > caption_length_limit(image=obj):
            flags.append(("over limit", "Longer than this image's limit."))
        if not flags:
            return "—"
        return format_html_join(" ", '<span title="{}">⚑ {}</span>', ((tip, name) for name, tip in flags))

    # --- saving and actions -------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        if change and "reviewed_caption" in form.changed_data:
            caption_edit(
                image=obj,
                editor=request.user,
                text=form.cleaned_data["reviewed_caption"],
                meta=request_meta(request),
            )

    def save_related(self, request, form, formsets, change):
        """Nothing related is edited here (the form has no many-to-many fields)."""

    @staticmethod
    def _plain(queryset):
        """The selected rows without joins or annotations, so the services lock image rows only."""
        return Image.objects.filter(pk__in=queryset.values("pk"))

    @admin.action(description="Approve selected captions", permissions=["review"])
    def approve_selected(self, request, queryset):
        if request.POST.get("post") != "yes":  # first show what would be approved
            return approve_confirmation(self, request, self._plain(queryset))
        changed = caption_bulk_approve(
            images=self._plain(queryset), reviewer=request.user, meta=request_meta(request)
        )
        self.message_user(
            request,
            f"{changed} caption(s) approved; the others were not pending, reviewed or in error, "
            "or had no caption.",
            messages.SUCCESS if changed else messages.WARNING,
        )

    @admin.action(description="Reject selected captions", permissions=["review"])
    def reject_selected(self, request, queryset):
        changed = caption_bulk_reject(
            images=self._plain(queryset), reviewer=request.user, meta=request_meta(request)
        )
        self.message_user(
            request,
            f"{changed} caption(s) rejected; the others were already rejected, posted or in error.",
            messages.SUCCESS if changed else messages.WARNING,
        )

    @admin.action(description="Post selected approved captions to their platform", permissions=["post"])
    def post_selected(self, request, queryset):
        approved = list(
            self._plain(queryset)
            .filter(status=ImageStatus.APPROVED)
            .select_related("post", "platform_connection")
            .order_by("pk")[: ADMIN_POST_LIMIT + 1]
        )
        more = len(approved) > ADMIN_POST_LIMIT
        posted = failed = skipped = changed = 0
        refusals: dict[str, int] = {}
        meta = request_meta(request)
        for image in approved[:ADMIN_POST_LIMIT]:
            refusal = posting_refusal(image.platform_connection)
            if refusal is not None:
                refusals[refusal] = refusals.get(refusal, 0) + 1
                continue
            try:
                result = caption_post(image=image, actor=request.user, meta=meta)
            except DomainError:  # a concurrent change moved it out of `approved`
                skipped += 1
                continue
            if result.status == ImageStatus.POSTED:
                posted += 1
            elif getattr(result, "post_changes", None):
                changed += 1
            else:
                failed += 1
        text = f"{posted} caption(s) posted"
        if changed:
            text += (
                f", {changed} written but the server changed the post with it (see their processing "
                "error, and check those posts)"
            )
        if failed:
            text += f", {failed} failed (see their processing error)"
        if skipped:
            text += f", {skipped} skipped"
        for refusal, count in refusals.items():
            text += f", {count} not posted: {refusal.rstrip('.')}"
        text += ". Only approved captions are posted."
        if more:
            text += f" At most {ADMIN_POST_LIMIT} are posted at a time: run the action again for the rest."
        level = messages.ERROR if failed or changed else messages.WARNING if refusals else messages.SUCCESS
        self.message_user(request, text, level)


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
class CaptionGenerationTaskAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = CONNECTION_OWNER
    list_display = [
        "short_id",
        "user",
        "platform_connection",
        "status",
        "progress",
        "created_at",
        "completed_at",
    ]
    list_filter = ["status", ChangedRecentlyFilter, "platform_connection__platform_type"]
    search_fields = ["user__username", "current_step", "error_message"]
    list_select_related = ["user", "platform_connection"]
    raw_id_fields = ["user", "platform_connection"]
    readonly_fields = [
        "id",
        "user",
        "platform_connection",
        "status",
        "progress",
        "progress_percent",
        "current_step",
        "attempts",
        "heartbeat_at",
        "error_message",
        "warnings_list",
        "settings_json",
        "results_json",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    actions = ["cancel_selected"]
    fieldsets = [
        (None, {"fields": ["id", "user", "platform_connection", "status"]}),
        (
            "Progress",
            {
                "fields": [
                    "progress",
                    "current_step",
                    "attempts",
                    "heartbeat_at",
                    "error_message",
                    "warnings_list",
                ]
            },
        ),
        ("Data", {"fields": ["settings_json", "results_json"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at", "started_at", "completed_at"]}),
    ]
    inlines = [ProcessingRunInline]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    change_form_template = "admin/sd_work_change_form.html"

    # Started from the scan form (captions.admin_scan): the API's serializer and service.
    def add_view(self, request, form_url="", extra_context=None):
        return caption_scan_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**caption_task_change_context(self, request, object_id), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [*caption_task_urls(self), *super().get_urls()]

    @admin.action(
        description="Cancel selected tasks (running ones stop before their next image)",
        permissions=["change"],
    )
    def cancel_selected(self, request, queryset):
        cancelled = skipped = 0
        meta = request_meta(request)
        for task in queryset.filter(status__in=ACTIVE_TASK_STATUSES).order_by("pk"):
            try:
                caption_task_cancel(task=task, actor=request.user, meta=meta)
            except DomainError:  # finished meanwhile, or not the actor's to cancel
                skipped += 1
                continue
            cancelled += 1
        text = f"{cancelled} task(s) cancelled; only queued or running tasks can be cancelled."
        if skipped:
            text += f" {skipped} could not be cancelled."
        self.message_user(request, text, messages.SUCCESS if cancelled else messages.WARNING)

    @admin.display(description="Task", ordering="id")
    def short_id(self, obj: CaptionGenerationTask) -> str:
        return str(obj.id)[:8]

    @admin.display(description="Warnings")
    def warnings_list(self, obj: CaptionGenerationTask) -> str:
        return _warnings_html(obj.warnings)

    @admin.display(description="Progress", ordering="progress_percent")
    def progress(self, obj: CaptionGenerationTask) -> str:
        return format_html(
            '<progress value="{}" max="100" title="{} %"></progress> {}&nbsp;%<br>{}',
            obj.progress_percent,
            obj.progress_percent,
            obj.progress_percent,
            obj.current_step or "",
        )


@admin.register(ProcessingRun)
class ProcessingRunAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    owner_field = CONNECTION_OWNER
    list_display = [
        "batch_id",
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
    readonly_fields = ["started_at", "warnings_list"]
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
                    "warnings_list",
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

    @admin.display(description="Warnings")
    def warnings_list(self, obj: ProcessingRun) -> str:
        return _warnings_html(obj.warnings)


@admin.register(CaptionGenerationUserSettings)
class CaptionGenerationUserSettingsAdmin(AIDisclosureAdminMixin, OwnerScopedAdmin, admin.ModelAdmin):
    owner_field = CONNECTION_OWNER
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
        "include_replies",
        "updated_at",
    ]
    list_filter = ["reprocess_existing", "include_replies", "platform_connection__platform_type"]
    search_fields = ["user__username", "platform_connection__name"]
    list_select_related = ["user", "platform_connection"]
    raw_id_fields = ["user", "platform_connection"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["user__username", "platform_connection__name"]


@admin.register(ImageCaption)
class ImageCaptionAdmin(OwnerScopedAdmin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["id", "user", "image_type", "caption_preview", "media_generation_id", "created_at"]
    list_filter = ["image_type"]
    search_fields = ["caption_text", "media_generation_id", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    @admin.display(description="Caption")
    def caption_preview(self, obj: ImageCaption) -> str:
        return _preview(obj.caption_text)
