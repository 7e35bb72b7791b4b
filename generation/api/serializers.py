"""Serializers of the generation API (prompts and generated images). Thin: validation of the
prompt's fields here mirrors `generation.services.prompts.prompt_fields_clean`, which checks
again (services never trust their callers)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from captions.api.serializers import ImageCaptionSerializer
from generation.models import MAX_IMAGES_PER_PROMPT, AspectRatio, GeneratedImage, GenerationModel, Prompt
from generation.services.prompts import MAX_CAPTIONS, PROMPT_MAX_CHARS, SEED_MAX


class PromptSerializer(serializers.ModelSerializer):
    image_ids = serializers.SerializerMethodField(help_text="Ids of the prompt's generated images.")

    class Meta:
        model = Prompt
        fields = [
            "id",
            "user",
            "prompt_text",
            "seed",
            "number_of_images",
            "aspect_ratio",
            "generation_model",
            "workflow_id",
            "status",
            "error_message",
            "backend",
            "attempts",
            "image_ids",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"type": "integer"}})
    def get_image_ids(self, obj: Prompt) -> list[int]:
        return [image.pk for image in obj.generated_images.all()]


class PromptCreateSerializer(serializers.Serializer):
    prompt_text = serializers.CharField(min_length=1, max_length=PROMPT_MAX_CHARS)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, default=0)
    number_of_images = serializers.IntegerField(min_value=1, max_value=MAX_IMAGES_PER_PROMPT, default=1)
    aspect_ratio = serializers.ChoiceField(choices=AspectRatio.choices, default=AspectRatio.SQUARE)
    generation_model = serializers.ChoiceField(
        choices=GenerationModel.choices, default=GenerationModel.IMAGEN_3
    )


class GeneratedImageSerializer(serializers.ModelSerializer):
    content_url = serializers.SerializerMethodField(help_text="The image itself (PNG or JPEG).")

    class Meta:
        model = GeneratedImage
        fields = [
            "id",
            "user",
            "prompt",
            "media_generation_id",
            "seed",
            "model_name_type",
            "aspect_ratio",
            "fingerprint_log_record_id",
            "workflow_id",
            "mime_type",
            "metadata",
            "content_url",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_content_url(self, obj: GeneratedImage) -> str:
        return reverse("generated-image-content", kwargs={"pk": obj.pk}, request=self.context.get("request"))


class CaptionRequestSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_CAPTIONS, default=1)


class CaptionListSerializer(serializers.Serializer):
    captions = ImageCaptionSerializer(many=True)
