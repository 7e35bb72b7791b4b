"""Query filters of the workflows API (django-filter): an invalid value is a 400 naming the filter."""

from django_filters import rest_framework as filters

from core.api.filters import UtcIsoDateTimeFilter
from workflows.models import (
    Draft,
    DraftSource,
    Platform,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Resource,
    ResourceType,
    Workflow,
    WorkflowMode,
    WorkflowStatus,
)


class WorkflowFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=WorkflowStatus.choices)
    mode = filters.ChoiceFilter(choices=WorkflowMode.choices)
    platform = filters.ChoiceFilter(
        choices=Platform.choices, field_name="platform_states__platform", distinct=True
    )
    platform_status = filters.ChoiceFilter(
        choices=PlatformStatus.choices,
        field_name="platform_states__status",
        distinct=True,
        help_text="Workflows with at least one platform in this status (e.g. awaiting_review).",
    )
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Workflow
        fields = []


class DraftFilter(filters.FilterSet):
    workflow = filters.UUIDFilter(field_name="workflow_id")
    platform = filters.ChoiceFilter(choices=Platform.choices)
    source = filters.ChoiceFilter(choices=DraftSource.choices)

    class Meta:
        model = Draft
        fields = []


class ResourceFilter(filters.FilterSet):
    type = filters.ChoiceFilter(choices=ResourceType.choices)

    class Meta:
        model = Resource
        fields = []


class PublishingJobFilter(filters.FilterSet):
    workflow = filters.UUIDFilter(field_name="workflow_id")
    platform = filters.ChoiceFilter(choices=Platform.choices)
    status = filters.MultipleChoiceFilter(choices=PublishingStatus.choices)
    scheduled_after = UtcIsoDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    scheduled_before = UtcIsoDateTimeFilter(field_name="scheduled_for", lookup_expr="lt")

    class Meta:
        model = PublishingJob
        fields = []
