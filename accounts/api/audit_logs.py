"""/api/v1/audit-logs/: the audit trail, read-only, for moderators and admins.

Filters: action (exact) or action_prefix ("auth."), user (id), resource_type, resource_id,
created_after / created_before (ISO 8601). Cursor-paginated newest first; one query per page.
"""

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.settings import api_settings

from accounts.models import AuditLog
from accounts.permissions import IsModeratorOrAdmin
from core.api.fields import MAX_ID
from core.api.filters import UtcIsoDateTimeFilter


class AuditLogSerializer(serializers.ModelSerializer):
    username = serializers.CharField(
        source="user.username", read_only=True, allow_null=True, help_text="The actor; null for the system."
    )
    details = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditLog
        fields = [
            "id",
            "user",
            "username",
            "action",
            "resource_type",
            "resource_id",
            "details",
            "ip_address",
            "user_agent",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(filters.NumberFilter):
    field_class = forms.IntegerField


class AuditLogFilter(filters.FilterSet):
    action = filters.CharFilter(help_text="Exact action, e.g. auth.login_failed.")
    action_prefix = filters.CharFilter(
        field_name="action", lookup_expr="startswith", help_text="Actions starting with this, e.g. auth."
    )
    user = IntegerFilter(
        field_name="user_id", min_value=1, max_value=MAX_ID, help_text="The acting user's id."
    )
    resource_type = filters.CharFilter()
    resource_id = filters.CharFilter()
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601; entries at or after this time."
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601; entries before this time."
    )

    class Meta:
        model = AuditLog
        fields = []


@extend_schema_view(
    list=extend_schema(summary="The audit log (moderators and admins)"),
    retrieve=extend_schema(summary="One audit log entry (moderators and admins)"),
)
class AuditLogViewSet(viewsets.ReadOnlyModelViewSet):
    api_scope = "audit"
    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, IsModeratorOrAdmin]
    queryset = AuditLog.objects.select_related("user")
    serializer_class = AuditLogSerializer
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = AuditLogFilter
