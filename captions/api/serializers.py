"""Serializers of the captions API. Responses are read-only views of the rows; inputs are small,
action-shaped serializers whose data goes straight to a service (captions.services.*).

Length limits: an image's caption limit is its owner's `max_caption_length` for the connection,
capped by the instance's description limit (captions.selectors.caption_length_limit). A list
would pay one query per image for it, so list querysets carry the setting as an annotation
(`with_length_limit`), one correlated subquery inside the page's own query.
"""

from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    Post,
    ProcessingRun,
)
from captions.quality import quality_level
from captions.selectors import (
    DEFAULT_INSTANCE_DESCRIPTION_LIMIT,
    DEFAULT_MAX_CAPTION_LENGTH,
    caption_length_limit,
)
from captions.services.settings import (
    DELAY_RANGE,
    LANGUAGE_MAX_CHARS,
    LANGUAGE_PATTERN,
    LENGTH_RANGE,
    MAX_POSTS_RANGE,
)
from platforms.models import PlatformConnection
from platforms.selectors import connection_list

LIMIT_ANNOTATION = "configured_max_caption_length"
MAX_ID = 2**63 - 1  # the largest big-integer key; larger ids are a 400, not a database error
BULK_MAX_IDS = 500
CAPTION_INPUT_MAX_CHARS = 10_000  # far above any limit; the service says what the limit is


# --- length limits without N+1 -----------------------------------------------------------------


def with_length_limit(queryset: QuerySet[Image]) -> QuerySet[Image]:
    """Annotate each image with its owner's configured `max_caption_length` (None when unset)."""
    configured = CaptionGenerationUserSettings.objects.filter(
        user_id=OuterRef("platform_connection__user_id"),
        platform_connection_id=OuterRef("platform_connection_id"),
    ).values("max_caption_length")[:1]
    return queryset.annotate(**{LIMIT_ANNOTATION: Subquery(configured)})


def length_limit(image: Image) -> int:
    """The image's caption limit: from the annotation when present (no query), else one query."""
    if not hasattr(image, LIMIT_ANNOTATION):
        return caption_length_limit(image=image)
    configured = getattr(image, LIMIT_ANNOTATION) or DEFAULT_MAX_CAPTION_LENGTH
    extra = image.platform_connection.extra or {}
    instance_limit = extra.get("description_limit") or DEFAULT_INSTANCE_DESCRIPTION_LIMIT
    return min(int(configured), int(instance_limit))


def character_count(text: str | None) -> int:
    """Characters as Mastodon counts a description: code points, whitespace runs as one space."""
    return len(" ".join((text or "").split()))


def content_url(image: Image, request) -> str | None:
    """The protected URL of the image's stored copy (never the public media folder)."""
    if not image.local_path:
        return None
    path = reverse("caption-image-content", args=[image.pk])
    return request.build_absolute_uri(path) if request is not None else path


# --- posts and images --------------------------------------------------------------------------


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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


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
        return character_count(obj.current_caption)

    def get_caption_length_limit(self, obj: Image) -> int:
        return length_limit(obj)

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
        elif character_count(caption) > length_limit(obj):
            flags.append("over_limit")
        if obj.processing_error:
            flags.append("error")
        return flags

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, obj: Image) -> str | None:
        return content_url(obj, self.context.get("request"))


class ImageDetailSerializer(ImageSerializer):
    class Meta(ImageSerializer.Meta):
        fields = [*ImageSerializer.Meta.fields, "prompt_used"]
        read_only_fields = fields


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


class BulkIdsSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        allow_empty=False,
        max_length=BULK_MAX_IDS,
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
            "processing_delay",
            "language",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CaptionSettingsValuesSerializer(serializers.Serializer):
    """The settings themselves; each optional (left out: kept, or the default on creation).
    The ranges are repeated here for the schema; captions.services.settings decides."""

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
