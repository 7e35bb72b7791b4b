"""Query filters of the generation API: an invalid value is a 400 naming the filter."""

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.api.fields import MAX_ID
from generation.models import AspectRatio, GeneratedImage, GenerationModel, Prompt, PromptStatus


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(filters.NumberFilter):
    field_class = forms.IntegerField


class PromptFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=PromptStatus.choices)
    generation_model = filters.ChoiceFilter(choices=GenerationModel.choices)

    class Meta:
        model = Prompt
        fields = []


class GeneratedImageFilter(filters.FilterSet):
    prompt = IntegerFilter(field_name="prompt_id", min_value=1, max_value=MAX_ID, help_text="A prompt id.")
    aspect_ratio = filters.ChoiceFilter(choices=AspectRatio.choices)
    model_name_type = filters.CharFilter(max_length=50)

    class Meta:
        model = GeneratedImage
        fields = []
