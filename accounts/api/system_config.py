"""/api/v1/system-config/: typed system settings, for admins only.

Values are JSON values checked against the setting's type (core.services). Sensitive values are
write-only: responses show `value: null` and a masked `value_hint`. Every change is audited
("config.changed"), without the value when it is sensitive.
"""

import json
import math

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.permissions import IsAdminRole
from accounts.request_meta import request_meta
from core import crypto
from core.api.pagination import NewestFirstCursorPagination
from core.models import ConfigType, SystemConfig, parse_config_value
from core.services import KEEP, config_create, config_delete, config_update

KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class KeyCursorPagination(NewestFirstCursorPagination):
    ordering = ("key",)


def _bad_text(value) -> bool:
    """Text the database cannot store: NUL characters or lone surrogates, anywhere in a JSON value."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_bad_text(k) or _bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_text(item) for item in value)
    return False


def _shown_value(entry: SystemConfig):
    """The typed value, or the stored text when it does not parse (or is not valid JSON output)."""
    if entry.is_sensitive or entry.value is None:
        return None
    try:
        typed = entry.typed_value
        json.dumps(typed, allow_nan=False)
    except (ValueError, TypeError):
        return entry.value
    return typed


class SystemConfigSerializer(serializers.ModelSerializer):
    value = serializers.SerializerMethodField(
        help_text="The typed value; null when unset or sensitive (see value_hint)."
    )
    value_hint = serializers.SerializerMethodField(help_text="Sensitive settings only: the value, masked.")

    class Meta:
        model = SystemConfig
        fields = [
            "key",
            "value",
            "value_hint",
            "type",
            "description",
            "is_sensitive",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.ANY)
    def get_value(self, entry: SystemConfig):
        return _shown_value(entry)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_value_hint(self, entry: SystemConfig) -> str | None:
        return crypto.mask(entry.secret_value) if entry.is_sensitive else None


class _ConfigInputSerializer(serializers.Serializer):
    value = serializers.JSONField(
        allow_null=True,
        help_text="A JSON value of the setting's type: string, integer, number, boolean; any JSON for json.",
    )
    type = serializers.ChoiceField(choices=ConfigType.choices)
    description = serializers.CharField(allow_blank=True, allow_null=True, required=False)
    is_sensitive = serializers.BooleanField()

    def validate(self, attrs):
        instance = self.instance
        value_type = attrs.get("type") or (instance.type if instance else ConfigType.STRING)
        if "value" in attrs:
            attrs["value"] = self._checked_value(attrs["value"], value_type)
        if attrs.get("description") is None and "description" in attrs:
            attrs["description"] = ""
        return attrs

    @staticmethod
    def _checked_value(value, value_type: str):
        if value is None:
            return None
        if _bad_text(value):
            raise serializers.ValidationError({"value": "Contains characters that cannot be stored (NUL)."})
        if value_type == ConfigType.JSON:
            return json.dumps(value)
        if isinstance(value, dict | list):
            raise serializers.ValidationError(
                {"value": f"A {value_type} setting takes a single value, not a JSON object or list."}
            )
        if value_type == ConfigType.STRING and not isinstance(value, str):
            raise serializers.ValidationError({"value": "A string setting takes a JSON string."})
        raw = ("true" if value else "false") if isinstance(value, bool) else str(value)
        try:
            parsed = parse_config_value(raw, value_type)
        except (ValueError, TypeError) as exc:
            raise serializers.ValidationError({"value": f"Not a valid {value_type}: {exc}"}) from None
        if isinstance(parsed, float) and not math.isfinite(parsed):
            raise serializers.ValidationError({"value": "A number setting must be finite."})
        return raw


class SystemConfigCreateSerializer(_ConfigInputSerializer):
    key = serializers.RegexField(KEY_PATTERN, max_length=255, help_text="Letters, digits and _ . : - only.")
    type = serializers.ChoiceField(choices=ConfigType.choices, default=ConfigType.STRING)
    is_sensitive = serializers.BooleanField(default=False)


class SystemConfigUpdateSerializer(_ConfigInputSerializer):
    value = serializers.JSONField(allow_null=True, required=False, help_text="Leave out to keep the value.")
    type = serializers.ChoiceField(choices=ConfigType.choices, required=False)
    is_sensitive = serializers.BooleanField(
        required=False, help_text="Turning it off needs a new value: a secret is never made plain."
    )


@extend_schema_view(
    list=extend_schema(summary="List system settings (admins)"),
    retrieve=extend_schema(summary="A system setting (admins)"),
    create=extend_schema(
        summary="Add a system setting (admins)",
        request=SystemConfigCreateSerializer,
        responses={201: SystemConfigSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a system setting (admins)",
        request=SystemConfigUpdateSerializer,
        responses={200: SystemConfigSerializer},
    ),
    destroy=extend_schema(summary="Delete a system setting (admins)"),
)
class SystemConfigViewSet(viewsets.ModelViewSet):
    api_scope = "config"
    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, IsAdminRole]
    queryset = SystemConfig.objects.all()
    serializer_class = SystemConfigSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    pagination_class = KeyCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["type", "is_sensitive"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):
        if self.action == "create":
            return SystemConfigCreateSerializer
        if self.action == "partial_update":
            return SystemConfigUpdateSerializer
        return SystemConfigSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        entry = config_create(
            key=data["key"],
            value=data["value"],
            value_type=data["type"],
            is_sensitive=data["is_sensitive"],
            description=data.get("description"),
            actor=request.user,
            meta=request_meta(request),
        )
        return Response(SystemConfigSerializer(entry).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        entry = self.get_object()
        serializer = self.get_serializer(entry, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        entry = config_update(
            entry=entry,
            value=data.get("value", KEEP),
            value_type=data.get("type"),
            is_sensitive=data.get("is_sensitive"),
            description=data.get("description"),
            actor=request.user,
            meta=request_meta(request),
        )
        return Response(SystemConfigSerializer(entry).data)

    def destroy(self, request, *args, **kwargs):
        config_delete(entry=self.get_object(), actor=request.user, meta=request_meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
