"""Serializers of the captions API. Responses are read-only views of the rows; inputs are small,
action-shaped serializers whose data goes straight to a service (captions.services.*).

Length limits: an image's caption limit is its owner's `max_caption_length` for the connection,
capped by the instance's description limit (captions.selectors.caption_length_limit). A list
would pay one query per image for it, so the images list reads its owners' settings in one query
for the page (ImageListSerializer); other querysets carry the setting as an annotation
(captions.selectors.with_length_limit), a correlated subquery inside their own query.

The images list reads `.values()` rows (`image_list_rows`) and ImageSerializer builds each
image's representation directly, equal to DRF's field-by-field one (the tests compare the two),
because model instances and DRF's generic path cost a page more than its query
(docs/performance.md, `api_list`).
"""

from datetime import datetime

from django.db.models import QuerySet
from django.db.models.manager import BaseManager
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    Post,
    ProcessingRun,
)
from captions.prompts import INSTRUCTION_MAX_CHARS
from captions.quality import caption_length, quality_level
from captions.selectors import (
    LIMIT_ANNOTATION,
    caption_length_limit,
    caption_length_rule,
    caption_length_settings,
)
from captions.services.user_settings import (
    DELAY_RANGE,
    LANGUAGE_MAX_CHARS,
    LANGUAGE_PATTERN,
    LENGTH_RANGE,
    MAX_POSTS_RANGE,
)
from core.api.fields import MAX_ID, at_least_one
from platforms.models import PlatformConnection
from platforms.selectors import connection_list

OWNER_COLUMN = "platform_connection__user_id"
BULK_MAX_IDS = 500
CAPTION_INPUT_MAX_CHARS = 10_000  # far above any limit; the service says what the limit is


# What the images list reads for each image: a row per image (`.values()`), no model instances.
# The post's platform id and URL and the connection's `extra` (the instance's description limit)
# come from the same query's joins; the owner's length setting from ImageListSerializer.
IMAGE_ROW_COLUMNS = (
    "id",
    "post_id",
    "post__post_id",
    "post__post_url",
    "platform_connection_id",
    "platform_connection__extra",
    "attachment_index",
    "image_post_id",
    "media_type",
    "local_path",
    "original_caption",
    "generated_caption",
    "reviewed_caption",
    "final_caption",
    "image_category",
    "caption_quality_score",
    "needs_special_review",
    "reviewer_notes",
    "status",
    "processing_error",
    "reviewed_by_id",
    "reviewed_at",
    "posted_at",
    "original_post_date",
    "created_at",
    "updated_at",
)


def image_list_rows(queryset: QuerySet[Image]) -> QuerySet:
    """The images as the dict rows ImageSerializer represents: `.values()` of IMAGE_ROW_COLUMNS and
    the connection's owner. Building three model instances per image (image, post, connection) cost
    a list page more than its query. The owners' length settings are read by
    ImageListSerializer, once for the page."""
    return queryset.values(*IMAGE_ROW_COLUMNS, OWNER_COLUMN)


class ImageListSerializer(serializers.ListSerializer):
    """A page of images. Rows of `image_list_rows` get their owners' length settings from one query
    for the whole page: as a correlated subquery in the page's own query, building and compiling
    it cost more than a second, trivial query."""

    def to_representation(self, data):
        rows = list(data.all() if isinstance(data, BaseManager) else data)
        unset = [row for row in rows if isinstance(row, dict) and LIMIT_ANNOTATION not in row]
        if unset:
            pairs = {(row[OWNER_COLUMN], row["platform_connection_id"]) for row in unset}
            configured = caption_length_settings(owners_and_connections=pairs)
            for row in unset:
                row[LIMIT_ANNOTATION] = configured.get((row[OWNER_COLUMN], row["platform_connection_id"]))
        return [self.child.to_representation(row) for row in rows]


# Text columns: a row read from the database holds str or None in them; an image's attributes are
# made so (what DRF's CharField gives) when it becomes a row.
_TEXT_COLUMNS = (
    "post__post_id",
    "post__post_url",
    "image_post_id",
    "media_type",
    "original_caption",
    "generated_caption",
    "reviewed_caption",
    "final_caption",
    "image_category",
    "reviewer_notes",
    "status",
    "processing_error",
)


def image_row(image: Image) -> dict:
    """An image as the row `image_list_rows` gives (its post and connection loaded or fetched)."""
    row = {column: getattr(image, column) for column in IMAGE_ROW_COLUMNS if "__" not in column}
    row["post__post_id"] = image.post.post_id
    row["post__post_url"] = image.post.post_url
    row["platform_connection__extra"] = image.platform_connection.extra
    for column in _TEXT_COLUMNS:
        row[column] = _text(row[column])
    return row


def content_url(image: Image, request) -> str | None:
    """The protected URL of the image's stored copy (never the public media folder)."""
    if not image.local_path:
        return None
    path = reverse("caption-image-content", args=[image.pk])
    return request.build_absolute_uri(path) if request is not None else path


_ID_MARK = "ID"


def content_url_parts(request) -> tuple[str, str]:
    """(before, after) the id in `content_url`, resolved once: a page of 50 would otherwise reverse
    the route and build the absolute URI 50 times."""
    path = reverse("caption-image-content", args=[_ID_MARK])
    url = request.build_absolute_uri(path) if request is not None else path
    before, _, after = url.rpartition(f"/{_ID_MARK}/")
    return f"{before}/", f"/{after}"


# --- posts and images --------------------------------------------------------------------------

# Formats datetimes as the serializers' DateTimeFields do (settings' format, current time zone).
_DATETIME = serializers.DateTimeField()


def _datetime_text(value: datetime | None, zone) -> str | None:
    """`_DATETIME.to_representation(value)` for ISO 8601 output in `zone`, which the caller looks up
    once: DRF looks the current time zone up for every value (five a row, 250 a page)."""
    if value is None:
        return None
    if api_settings.DATETIME_FORMAT != ISO_8601:
        return _DATETIME.to_representation(value)
    text = value.astimezone(zone).isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def _text(value) -> str | None:
    """A text column as DRF's CharField gives it: None stays None."""
    return None if value is None else str(value)


class ImageBriefSerializer(serializers.ModelSerializer):
    caption = serializers.CharField(
        source="current_caption", read_only=True, help_text="Final, else reviewed, else generated."
    )
    image_url = serializers.SerializerMethodField(help_text="The stored copy (protected); null if none.")

    class Meta:
        model = Image
        fields = [
            "id",
            "attachment_index",
            "status",
            "caption",
            "caption_quality_score",
            "needs_special_review",
            "image_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, obj: Image) -> str | None:
        return content_url(obj, self.context.get("request"))


BRIEF_IMAGE_FIELDS = (
    "id",
    "post_id",
    "attachment_index",
    "status",
    "final_caption",
    "reviewed_caption",
    "generated_caption",
    "caption_quality_score",
    "needs_special_review",
    "local_path",
    "created_at",
)


class PostSerializer(serializers.ModelSerializer):
    images = ImageBriefSerializer(many=True, read_only=True, help_text="In attachment order.")

    class Meta:
        model = Post
        fields = [
            "id",
            "post_id",
            "post_url",
            "post_content",
            "platform_user_id",
            "platform_connection",
            "images",
            "repost_uri",
            "repost_url",
            "reposted_at",
            "original_deleted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PostRepostSerializer(serializers.Serializer):
    delete_original = serializers.BooleanField(
        default=False, help_text="Also delete the old post once the new one exists (off unless asked)."
    )


class ImageSerializer(serializers.ModelSerializer):
    post_platform_id = serializers.CharField(
        source="post.post_id", read_only=True, help_text="The post's id on its platform."
    )
    post_url = serializers.URLField(source="post.post_url", read_only=True)
    caption = serializers.CharField(
        source="current_caption", read_only=True, help_text="Final, else reviewed, else generated."
    )
    character_count = serializers.SerializerMethodField(help_text="Characters of `caption`.")
    caption_length_limit = serializers.SerializerMethodField(
        help_text="The most characters this image's caption may have (setting and instance limit)."
    )
    quality_level = serializers.SerializerMethodField(
        help_text="excellent (≥ 90), good (≥ 70), fair (≥ 40) or poor; null when unscored."
    )
    flags = serializers.SerializerMethodField(
        help_text="needs_review, over_limit (caption longer than the limit), error, no_caption."
    )
    image_url = serializers.SerializerMethodField(
        help_text="The stored copy, served only to those who may see the image; null when none is stored."
    )

    class Meta:
        model = Image
        list_serializer_class = ImageListSerializer
        fields = [
            "id",
            "post",
            "post_platform_id",
            "post_url",
            "platform_connection",
            "attachment_index",
            "image_post_id",
            "media_type",
            "image_url",
            "original_caption",
            "generated_caption",
            "reviewed_caption",
            "final_caption",
            "caption",
            "character_count",
            "caption_length_limit",
            "image_category",
            "caption_quality_score",
            "quality_level",
            "needs_special_review",
            "flags",
            "reviewer_notes",
            "status",
            "processing_error",
            "reviewed_by",
            "reviewed_at",
            "posted_at",
            "original_post_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_character_count(self, obj: Image) -> int:
        return caption_length(obj.current_caption)

    def get_caption_length_limit(self, obj: Image) -> int:
        return caption_length_limit(image=obj)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_quality_level(self, obj: Image) -> str | None:
        score = obj.caption_quality_score
        return None if score is None else quality_level(score)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_flags(self, obj: Image) -> list[str]:
        flags = []
        if obj.needs_special_review:
            flags.append("needs_review")
        caption = obj.current_caption
        if not caption.strip():
            flags.append("no_caption")
        elif caption_length(caption) > caption_length_limit(image=obj):
            flags.append("over_limit")
        if obj.processing_error:
            flags.append("error")
        return flags

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, obj: Image) -> str | None:
        return content_url(obj, self.context.get("request"))

    _url_parts: tuple[str, str] | None = None  # content_url_parts, resolved on first use
    _zone = None  # the current time zone, looked up on first use (a serializer serves one request)

    def to_representation(self, instance: Image | dict) -> dict:
        """What DRF's field-by-field representation gives (tests hold the two equal), built directly
        from an image or from a row of `image_list_rows` (the list reads rows, not model instances).

        A list page serializes 50 images; DRF's generic path (attribute lookups through `source`,
        one field object and its checks per value) took more time than everything else the request
        did together. The declared fields above still describe the schema.
        """
        if isinstance(instance, dict):
            row = instance
            limit = caption_length_rule(
                configured=row[LIMIT_ANNOTATION], connection_extra=row["platform_connection__extra"]
            )
        else:
            row = image_row(instance)
            limit = caption_length_limit(image=instance)
        caption = row["final_caption"] or row["reviewed_caption"] or row["generated_caption"] or ""
        count = caption_length(caption)
        score = row["caption_quality_score"]
        flags = []
        if row["needs_special_review"]:
            flags.append("needs_review")
        if not caption.strip():
            flags.append("no_caption")
        elif count > limit:
            flags.append("over_limit")
        if row["processing_error"]:
            flags.append("error")
        if not row["local_path"]:
            image_url = None
        else:
            if self._url_parts is None:
                self._url_parts = content_url_parts(self.context.get("request"))
            image_url = f"{self._url_parts[0]}{row['id']}{self._url_parts[1]}"
        if self._zone is None:
            self._zone = timezone.get_current_timezone()
        zone = self._zone
        return {
            "id": row["id"],
            "post": row["post_id"],
            "post_platform_id": row["post__post_id"],
            "post_url": row["post__post_url"],
            "platform_connection": row["platform_connection_id"],
            "attachment_index": row["attachment_index"],
            "image_post_id": row["image_post_id"],
            "media_type": row["media_type"],
            "image_url": image_url,
            "original_caption": row["original_caption"],
            "generated_caption": row["generated_caption"],
            "reviewed_caption": row["reviewed_caption"],
            "final_caption": row["final_caption"],
            "caption": caption,
            "character_count": count,
            "caption_length_limit": limit,
            "image_category": row["image_category"],
            "caption_quality_score": score,
            "quality_level": None if score is None else quality_level(score),
            "needs_special_review": row["needs_special_review"],
            "flags": flags,
            "reviewer_notes": row["reviewer_notes"],
            "status": row["status"],
            "processing_error": row["processing_error"],
            "reviewed_by": row["reviewed_by_id"],
            "reviewed_at": _datetime_text(row["reviewed_at"], zone),
            "posted_at": _datetime_text(row["posted_at"], zone),
            "original_post_date": _datetime_text(row["original_post_date"], zone),
            "created_at": _datetime_text(row["created_at"], zone),
            "updated_at": _datetime_text(row["updated_at"], zone),
        }


class ImageDetailSerializer(ImageSerializer):
    class Meta(ImageSerializer.Meta):
        fields = [*ImageSerializer.Meta.fields, "prompt_used"]
        read_only_fields = fields

    def to_representation(self, instance: Image) -> dict:
        return {**super().to_representation(instance), "prompt_used": _text(instance.prompt_used)}


class ImageEditSerializer(serializers.Serializer):
    reviewed_caption = serializers.CharField(
        max_length=CAPTION_INPUT_MAX_CHARS,
        help_text="The reviewer's wording; the image becomes `reviewed` (approve it to post).",
    )


class ImageApproveSerializer(serializers.Serializer):
    text = serializers.CharField(
        required=False,
        max_length=CAPTION_INPUT_MAX_CHARS,
        help_text="The caption to approve; left out: the reviewed, else the generated caption.",
    )


class ImageRejectSerializer(serializers.Serializer):
    notes = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="Why; kept in reviewer_notes."
    )


class ImageRegenerateSerializer(serializers.Serializer):
    instruction = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=INSTRUCTION_MAX_CHARS,
        help_text="Optional: what the model should do differently for this image, e.g. "
        "“transcribe the sign”; sent with the caption prompt.",
    )


class BulkIdsSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        allow_empty=False,
        max_length=BULK_MAX_IDS,
        error_messages=at_least_one("image id"),
        help_text=f"Image ids, at most {BULK_MAX_IDS}. Ids of images you may not see are ignored.",
    )


class BulkResultSerializer(serializers.Serializer):
    requested = serializers.IntegerField(help_text="How many distinct ids were sent.")
    changed = serializers.IntegerField(
        help_text="How many images changed; the others are not yours or not in a status that allows it."
    )


# --- tasks and runs ----------------------------------------------------------------------------


class CaptionTaskSerializer(serializers.ModelSerializer):
    settings_json = serializers.JSONField(read_only=True, allow_null=True)
    results_json = serializers.JSONField(read_only=True, allow_null=True)
    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="What the task worked around without failing, e.g. a description limit it had to guess.",
    )

    class Meta:
        model = CaptionGenerationTask
        fields = [
            "id",
            "user",
            "platform_connection",
            "status",
            "progress_percent",
            "current_step",
            "settings_json",
            "results_json",
            "error_message",
            "warnings",
            "attempts",
            "started_at",
            "completed_at",
            "heartbeat_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class VisibleConnectionField(serializers.PrimaryKeyRelatedField):
    """A connection id, resolved among the connections the caller may see: another user's id is
    the same 'does not exist' error as an unknown one."""

    default_error_messages = {
        **serializers.PrimaryKeyRelatedField.default_error_messages,
        "does_not_exist": "No such connection.",
    }

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return PlatformConnection.objects.none()
        return connection_list(user=request.user)


class CaptionTaskCreateSerializer(serializers.Serializer):
    platform_connection = VisibleConnectionField(help_text="The connection to scan and caption.")


class ProcessingRunSerializer(serializers.ModelSerializer):
    retry_stats = serializers.JSONField(read_only=True, allow_null=True)
    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="What went wrong without failing the run: a guessed description limit, a post the "
        "server changed when a caption was posted.",
    )

    class Meta:
        model = ProcessingRun
        fields = [
            "id",
            "user",
            "task",
            "platform_connection",
            "batch_id",
            "status",
            "started_at",
            "completed_at",
            "posts_processed",
            "images_processed",
            "captions_generated",
            "errors_count",
            "retry_attempts",
            "retry_successes",
            "retry_failures",
            "retry_total_time",
            "retry_stats",
            "warnings",
        ]
        read_only_fields = fields


# --- settings ----------------------------------------------------------------------------------


class CaptionSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaptionGenerationUserSettings
        fields = [
            "id",
            "user",
            "platform_connection",
            "max_posts_per_run",
            "max_caption_length",
            "optimal_min_length",
            "optimal_max_length",
            "reprocess_existing",
            "include_replies",
            "processing_delay",
            "language",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CaptionSettingsValuesSerializer(serializers.Serializer):
    """The settings themselves; each optional (left out: kept, or the default on creation).
    The ranges are repeated here for the schema; captions.services.user_settings decides."""

    max_posts_per_run = serializers.IntegerField(
        required=False, min_value=MAX_POSTS_RANGE[0], max_value=MAX_POSTS_RANGE[1]
    )
    max_caption_length = serializers.IntegerField(
        required=False, min_value=LENGTH_RANGE[0], max_value=LENGTH_RANGE[1]
    )
    optimal_min_length = serializers.IntegerField(
        required=False,
        min_value=LENGTH_RANGE[0],
        max_value=LENGTH_RANGE[1],
        help_text="At most optimal_max_length.",
    )
    optimal_max_length = serializers.IntegerField(
        required=False, min_value=LENGTH_RANGE[0], max_value=LENGTH_RANGE[1]
    )
    reprocess_existing = serializers.BooleanField(
        required=False, help_text="Rescans may replace pending and reviewed captions."
    )
    include_replies = serializers.BooleanField(
        required=False,
        help_text="Also offer images of your own posts that reply to other accounts (default true).",
    )
    processing_delay = serializers.FloatField(
        required=False,
        min_value=DELAY_RANGE[0],
        max_value=DELAY_RANGE[1],
        help_text="Seconds between images.",
    )
    language = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=LANGUAGE_MAX_CHARS,
        help_text="A language code such as 'en' or 'pt-BR'; empty: the post's language.",
    )


class CaptionSettingsCreateSerializer(CaptionSettingsValuesSerializer):
    platform_connection = VisibleConnectionField(
        help_text="A Mastodon-compatible connection; settings for it are created or, if they exist, changed."
    )


# --- image captions (uploads) ------------------------------------------------------------------


class ImageCaptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImageCaption
        fields = ["id", "user", "image_type", "caption_text", "media_generation_id", "created_at"]
        read_only_fields = fields


class ImageCaptionUploadSerializer(serializers.Serializer):
    image = serializers.FileField(
        help_text=(
            "jpeg, png, gif, webp, svg, bmp, tiff, apng or avif; the type is read from the content, "
            "not the name."
        )
    )
    language = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=LANGUAGE_MAX_CHARS,
        help_text="Caption language code, e.g. 'de'; default English.",
    )

    def validate_language(self, value: str) -> str:
        value = value.strip()
        if value and not LANGUAGE_PATTERN.match(value):
            raise serializers.ValidationError("Must be a language code such as 'en' or 'pt-BR'.")
        return value
