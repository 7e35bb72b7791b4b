"""Query filters of the scraping API (django-filter): an invalid value is a 400 naming the filter.

The artifact filter only validates and documents its parameters; the narrowing itself is
scraping.selectors.artifact_filter, the one place that knows the indexes it must hit.
"""

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.api.filters import UtcIsoDateTimeFilter
from scraping import selectors
from scraping.models import (
    Artifact,
    ArtifactType,
    ItemStatus,
    JobStatus,
    JobType,
    ScrapingJob,
    ScrapingJobItem,
)
from scraping.services.artifacts import tag_normalise

MAX_QUERY_CHARS = 200
MAX_VALUES = 20
MAX_VALUE_CHARS = 100


class TextListField(forms.Field):
    """A repeated query parameter (`?tag=a&tag=b`): a list of non-empty strings, bounded."""

    widget = forms.MultipleHiddenInput
    default_validators = [ProhibitNullCharactersValidator()]

    def __init__(self, *, max_values: int = MAX_VALUES, max_chars: int = MAX_VALUE_CHARS, **kwargs):
        self.max_values, self.max_chars = max_values, max_chars
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        if value in (None, "", [], ()):
            return []
        values = [value] if isinstance(value, str) else list(value)
        cleaned = [str(item).strip() for item in values]
        if len(cleaned) > self.max_values:
            raise forms.ValidationError(f"At most {self.max_values} values.")
        if any(not item for item in cleaned):
            raise forms.ValidationError("Values cannot be empty.")
        if any(len(item) > self.max_chars for item in cleaned):
            raise forms.ValidationError(f"Each value has at most {self.max_chars} characters.")
        return cleaned

    def run_validators(self, value):
        for item in value or ():
            super().run_validators(item)


@extend_schema_field(OpenApiTypes.STR)
class TextListFilter(filters.MultipleChoiceFilter):
    """Documented as an exploded array of strings (MultipleChoiceFilter's style), without choices."""

    field_class = TextListField


class ScrapingJobFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=JobStatus.choices)
    job_type = filters.MultipleChoiceFilter(choices=JobType.choices)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ScrapingJob
        fields = []


class JobItemFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=ItemStatus.choices)

    class Meta:
        model = ScrapingJobItem
        fields = []


class ArtifactFilter(filters.FilterSet):
    q = filters.CharFilter(
        max_length=MAX_QUERY_CHARS,
        help_text=(
            "Full-text search of title and text (PostgreSQL: web-search syntax, each result with its "
            "`search_rank`; SQLite: substring). Results stay newest first."
        ),
    )
    keyword = TextListFilter(help_text="Artifacts matched by every keyword given (repeat the parameter).")
    tag = TextListFilter(help_text="Artifacts carrying every tag given (repeat the parameter).")
    type = filters.ChoiceFilter(choices=ArtifactType.choices)
    job = filters.UUIDFilter()
    created_after = UtcIsoDateTimeFilter()
    created_before = UtcIsoDateTimeFilter()

    class Meta:
        model = Artifact
        fields = []

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        return selectors.artifact_filter(
            queryset,
            q=data.get("q"),
            keywords=data.get("keyword") or (),
            tags=[tag_normalise(tag) for tag in data.get("tag") or ()],
            artifact_type=data.get("type") or None,
            job=data.get("job"),
            created_after=data.get("created_after"),
            created_before=data.get("created_before"),
        )
