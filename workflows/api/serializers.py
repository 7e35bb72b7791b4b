"""Serializers of the workflows API. Inputs are shape-checked here (so the OpenAPI schema says what to
send) and go straight to a service, which owns the rules; outputs are read-only views of the rows."""

from datetime import datetime, time

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.datetimes import WallClockDateTimeField
from core.api.fields import at_least_one
from platforms.models import PlatformConnection
from platforms.selectors import connection_list
from workflows.models import (
    Draft,
    Evaluation,
    MediaAttachment,
    Platform,
    PlatformState,
    PublishingJob,
    Resource,
    ResourceType,
    Workflow,
    WorkflowMode,
)
from workflows.selectors import latest_evaluation
from workflows.services.media import alt_text_limit_of

MAX_SOURCE_CHARS = 50_000
MAX_TITLE_CHARS = 300
MAX_URLS = 10
MAX_RESOURCE_IDS = 20
MAX_OPTION_CHARS = 500
MAX_DRAFT_CHARS = 100_000
MAX_FEEDBACK_CHARS = 5_000
MAX_RESOURCE_CHARS = 100_000
EXCERPT_CHARS = 280
REVIEW_ACTIONS = ("accept", "reject", "edit_and_refine", "edit_and_publish")
LENGTHS = ("short", "medium", "long")


def excerpt(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


# --- inputs ------------------------------------------------------------------------------------


class SourceContentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_SOURCE_CHARS, trim_whitespace=False)
    title = serializers.CharField(max_length=MAX_TITLE_CHARS, required=False, allow_blank=True)
    urls = serializers.ListField(
        child=serializers.URLField(max_length=2000), required=False, max_length=MAX_URLS
    )


class TemplateInputSerializer(serializers.Serializer):
    template = serializers.CharField(max_length=100)
    fields = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


@extend_schema_field(
    {"oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string", "maxLength": 100}}]}
)
class HashtagsField(serializers.Field):
    """`true`/`false` (let the writer choose hashtags, or none) or a list of hashtags to use."""

    default_error_messages = {"invalid": "Give true, false or a list of hashtags."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, list) and all(isinstance(tag, str) for tag in data):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class ManualOptionsSerializer(serializers.Serializer):
    tone = serializers.CharField(max_length=100, required=False, allow_blank=True)
    length = serializers.ChoiceField(choices=LENGTHS, required=False)
    hashtags = HashtagsField(required=False)
    call_to_action = serializers.CharField(max_length=MAX_OPTION_CHARS, required=False, allow_blank=True)
    audience = serializers.CharField(max_length=MAX_OPTION_CHARS, required=False, allow_blank=True)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: "Unknown option." for name in unknown})
        return super().to_internal_value(data)


class WorkflowCreateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=WorkflowMode.choices)
    source_content = SourceContentSerializer(required=False)
    template_input = TemplateInputSerializer(required=False)
    manual_options = ManualOptionsSerializer(required=False)
    platforms = serializers.ListField(
        child=serializers.ChoiceField(choices=Platform.choices),
        min_length=1,
        max_length=len(Platform),
        error_messages=at_least_one("platform"),
    )
    resource_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=MAX_RESOURCE_IDS
    )


class ReviewSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=Platform.choices)
    action = serializers.ChoiceField(choices=REVIEW_ACTIONS)
    content = serializers.CharField(max_length=MAX_DRAFT_CHARS, required=False, trim_whitespace=False)
    feedback = serializers.CharField(max_length=MAX_FEEDBACK_CHARS, required=False, allow_blank=True)


class ResourceCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ResourceType.choices)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    content = serializers.CharField(max_length=MAX_RESOURCE_CHARS, required=False, trim_whitespace=False)
    url = serializers.URLField(max_length=2000, required=False)
    metadata = serializers.DictField(required=False)


class ResourceUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    content = serializers.CharField(max_length=MAX_RESOURCE_CHARS, required=False, trim_whitespace=False)
    metadata = serializers.DictField(required=False)


@extend_schema_field(OpenApiTypes.INT)  # a connection's id (the schema cannot see the model)
class OwnConnectionField(serializers.PrimaryKeyRelatedField):
    """A connection id among the caller's own connections; anyone else's is "does not exist"."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return PlatformConnection.objects.none()
        return connection_list(user=request.user).defer("access_token", "client_key", "client_secret")


class PublishingJobCreateSerializer(serializers.Serializer):
    workflow = serializers.UUIDField()
    platform = serializers.ChoiceField(choices=Platform.choices)
    scheduled_for = WallClockDateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO 8601. With an offset or Z, that instant; without one, a time in your time zone.",
    )
    platform_connection = OwnConnectionField(required=False, allow_null=True)
    options = serializers.DictField(
        required=False,
        help_text=(
            "WordPress only, over the connection's own: `status` (publish, draft or pending), "
            "`category` (an id or the name of an existing category), `tags` (names; created when "
            "missing), `hashtags_as_tags` (true: the text's hashtags become tags too)."
        ),
    )


class PublishingJobRescheduleSerializer(serializers.Serializer):
    scheduled_for = WallClockDateTimeField(
        help_text="ISO 8601. With an offset or Z, that instant; without one, a time in your time zone."
    )


class DayOrTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time, or a bare date meaning its midnight in the server's time zone."""

    def to_internal_value(self, value):
        if isinstance(value, str) and "T" not in value and " " not in value.strip():
            day = parse_date(value.strip())
            if day is not None:
                return timezone.make_aware(datetime.combine(day, time.min))
        return super().to_internal_value(value)


class CalendarQuerySerializer(serializers.Serializer):
    MAX_DAYS = 93

    # `from` is a Python keyword: the field is declared under its wire name below.
    to = DayOrTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = DayOrTimeField()
        return fields

    def validate(self, attrs):
        start, end = attrs["from"], attrs["to"]
        if end <= start:
            raise serializers.ValidationError({"to": "Must be after `from`."})
        if (end - start).days > self.MAX_DAYS:
            raise serializers.ValidationError({"to": f"The range may span at most {self.MAX_DAYS} days."})
        return attrs


# --- outputs -----------------------------------------------------------------------------------


class EvaluationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Evaluation
        fields = ["id", "score", "feedback", "criteria_scores", "evaluator", "created_at"]
        read_only_fields = fields


class DraftBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Draft
        fields = ["id", "platform", "content", "source", "based_on", "created_by", "created_at"]
        read_only_fields = fields


class DraftSerializer(serializers.ModelSerializer):
    evaluations = serializers.SerializerMethodField()
    character_count = serializers.SerializerMethodField()

    class Meta:
        model = Draft
        fields = [
            "id",
            "workflow",
            "platform",
            "content",
            "character_count",
            "source",
            "based_on",
            "created_by",
            "created_at",
            "evaluations",
        ]
        read_only_fields = fields

    @extend_schema_field(EvaluationSerializer(many=True))
    def get_evaluations(self, draft: Draft):
        evaluations = getattr(draft, "newest_evaluations", None)
        if evaluations is None:
            evaluations = draft.evaluations.order_by("-created_at", "-id")
        return EvaluationSerializer(evaluations, many=True).data

    def get_character_count(self, draft: Draft) -> int:
        return len(draft.content)


class PlatformStateBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlatformState
        fields = ["platform", "status", "iteration"]
        read_only_fields = fields


class PlatformStateSerializer(serializers.ModelSerializer):
    active_draft = DraftBriefSerializer(read_only=True, allow_null=True)
    latest_evaluation = serializers.SerializerMethodField()

    class Meta:
        model = PlatformState
        fields = [
            "platform",
            "status",
            "iteration",
            "last_feedback",
            "error_message",
            "active_draft",
            "latest_evaluation",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(EvaluationSerializer(allow_null=True))
    def get_latest_evaluation(self, state: PlatformState):
        evaluation = latest_evaluation(state.active_draft)
        return None if evaluation is None else EvaluationSerializer(evaluation).data


class WorkflowSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField()
    platforms = PlatformStateBriefSerializer(source="platform_states", many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = [
            "id",
            "title",
            "status",
            "mode",
            "platforms",
            "error_message",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = fields

    def get_title(self, workflow: Workflow) -> str:
        source = workflow.source_content or {}
        return source.get("title") or excerpt(source.get("text"))[:80]


class WorkflowDetailSerializer(WorkflowSerializer):
    platforms = PlatformStateSerializer(source="platform_states", many=True, read_only=True)
    media = serializers.SerializerMethodField()

    class Meta(WorkflowSerializer.Meta):
        fields = [
            *WorkflowSerializer.Meta.fields,
            "source_content",
            "template_input",
            "manual_options",
            "media",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_media(self, workflow) -> list[dict]:
        """The images and videos the posts carry, in order, with their alt text's review state."""
        attachments = workflow.media.order_by("position", "created_at")
        return MediaAttachmentSerializer(attachments, many=True, context=self.context).data


class ResourceSerializer(serializers.ModelSerializer):
    excerpt = serializers.SerializerMethodField()

    class Meta:
        model = Resource
        fields = ["id", "type", "title", "excerpt", "content", "metadata", "created_at", "updated_at"]
        read_only_fields = fields

    def get_excerpt(self, resource: Resource) -> str:
        return excerpt(resource.content)


class ResourceBriefSerializer(ResourceSerializer):
    class Meta(ResourceSerializer.Meta):
        fields = ["id", "type", "title", "excerpt", "metadata", "created_at", "updated_at"]
        read_only_fields = fields


class PublishingJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = PublishingJob
        fields = [
            "id",
            "workflow",
            "platform",
            "draft",
            "platform_connection",
            "status",
            "scheduled_for",
            "options",
            "published_at",
            "response_data",
            "error_message",
            "attempts",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


class CalendarEntrySerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(source="calendar_at", read_only=True)
    excerpt = serializers.SerializerMethodField()

    class Meta:
        model = PublishingJob
        fields = ["id", "at", "workflow", "platform", "status", "scheduled_for", "published_at", "excerpt"]
        read_only_fields = fields

    def get_excerpt(self, job: PublishingJob) -> str:
        return excerpt(job.draft.content)


class TemplateFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=("text", "url"), help_text="`url`: an http(s) URL.")
    max_length = serializers.IntegerField()


class TemplateSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    fields = TemplateFieldSerializer(many=True)


class WorkflowStatsSerializer(serializers.Serializer):
    workflows = serializers.DictField(child=serializers.IntegerField())
    platforms_awaiting_review = serializers.IntegerField()
    publishing_jobs = serializers.DictField(child=serializers.IntegerField())


class MediaAttachmentSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    alt_text_limit = serializers.SerializerMethodField()
    focus = serializers.SerializerMethodField()

    class Meta:
        model = MediaAttachment
        fields = [
            "id",
            "workflow",
            "platform",
            "position",
            "origin",
            "origin_ref",
            "media_type",
            "filename",
            "size",
            "width",
            "height",
            "focus",
            "language",
            "alt_text",
            "generated_alt_text",
            "alt_status",
            "alt_score",
            "alt_notes",
            "alt_text_limit",
            "needs_special_review",
            "alt_reviewed_by",
            "alt_reviewed_at",
            "file_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_file_url(self, attachment) -> str:
        request = self.context.get("request")
        path = reverse("workflow-media-file", args=[attachment.workflow_id, attachment.pk])
        return request.build_absolute_uri(path) if request else path

    def get_alt_text_limit(self, attachment) -> int:
        return alt_text_limit_of(attachment)

    def get_focus(self, attachment) -> list[float] | None:
        if attachment.focus_x is None or attachment.focus_y is None:
            return None
        return [attachment.focus_x, attachment.focus_y]


class MediaAttachSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False,
        help_text="An image (JPEG, PNG, GIF, WebP) or a video (MP4, WebM, MOV); read by content.",
    )
    source = serializers.ChoiceField(
        choices=["generated", "persona"], required=False, help_text="Instead of a file: one of your images."
    )
    ref = serializers.CharField(
        required=False, max_length=100, help_text="generated: the image's id; persona: '<persona id>/<n>'."
    )
    platform = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, help_text="Only on this platform's post."
    )
    language = serializers.CharField(required=False, allow_blank=True, max_length=16)
    focus = serializers.ListField(
        child=serializers.FloatField(),
        required=False,
        help_text="[x, y], each from -1 to 1 (the service checks the pair).",
    )


class MediaAltTextSerializer(serializers.Serializer):
    alt_text = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=10_000)


class MediaApproveSerializer(serializers.Serializer):
    alt_text = serializers.CharField(
        required=False,
        trim_whitespace=False,
        allow_blank=True,
        max_length=10_000,
        help_text="Approve this wording instead of the current one.",
    )


class MediaRegenerateSerializer(serializers.Serializer):
    instruction = serializers.CharField(required=False, allow_blank=True, max_length=2_000)


class MediaReorderSerializer(serializers.Serializer):
    order = serializers.ListField(child=serializers.UUIDField(), help_text="Every attachment's id, in order.")
