"""Query filters of the captions API (django-filter): an invalid value is a 400 naming the filter."""

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    ImageCaptionType,
    ImageCategory,
    ImageStatus,
    Post,
    ProcessingRun,
    ProcessingRunStatus,
    TaskStatus,
)
from core.api.fields import MAX_ID
from core.api.filters import StaticFormFilterSet


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(filters.NumberFilter):
    field_class = forms.IntegerField


def _connection_filter() -> IntegerFilter:
    return IntegerFilter(
        field_name="platform_connection_id", min_value=1, max_value=MAX_ID, help_text="A connection id."
    )


class PostFilter(filters.FilterSet):
    connection = _connection_filter()

    class Meta:
        model = Post
        fields = []


class ImageFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        low, high = data.get("quality_min"), data.get("quality_max")
        if low is not None and high is not None and low > high:
            self.add_error("quality_min", "Must not be more than quality_max.")
        return data


class ImageFilter(StaticFormFilterSet):
    status = filters.ChoiceFilter(choices=ImageStatus.choices)
    # A choice, not a BooleanFilter: an unknown value is a 400 rather than silently ignored.
    needs_special_review = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_needs_special_review",
        help_text="true: flagged for a closer look; false: not flagged.",
    )
    quality_min = IntegerFilter(
        field_name="caption_quality_score",
        lookup_expr="gte",
        min_value=1,
        max_value=100,
        help_text="Score at least this (1-100); unscored images are left out.",
    )
    quality_max = IntegerFilter(
        field_name="caption_quality_score",
        lookup_expr="lte",
        min_value=1,
        max_value=100,
        help_text="Score at most this (1-100); unscored images are left out.",
    )
    connection = _connection_filter()
    category = filters.ChoiceFilter(field_name="image_category", choices=ImageCategory.choices)
    post = IntegerFilter(
        field_name="post_id", min_value=1, max_value=MAX_ID, help_text="A post id (ours, not the platform's)."
    )

    class Meta:
        model = Image
        fields = []
        form = ImageFilterForm

    def filter_needs_special_review(self, queryset, name, value):
        return queryset.filter(needs_special_review=value == "true")


class CaptionTaskFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=TaskStatus.choices)
    connection = _connection_filter()

    class Meta:
        model = CaptionGenerationTask
        fields = []


class ProcessingRunFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ProcessingRunStatus.choices)
    connection = _connection_filter()
    task = filters.UUIDFilter(field_name="task_id", help_text="A caption task id.")

    class Meta:
        model = ProcessingRun
        fields = []


class CaptionSettingsFilter(filters.FilterSet):
    connection = _connection_filter()

    class Meta:
        model = CaptionGenerationUserSettings
        fields = []


class ImageCaptionFilter(filters.FilterSet):
    image_type = filters.ChoiceFilter(choices=ImageCaptionType.choices)

    class Meta:
        model = ImageCaption
        fields = []
