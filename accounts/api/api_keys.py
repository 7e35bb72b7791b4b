"""/api/v1/api-keys/: a user's own API keys. The key is shown once, on creation; lists show a prefix.

The views have no `api_scope`, so API keys cannot manage keys (403); viewers cannot create
or revoke them (ViewersReadOnly). Another user's key is a 404, for admins too: admins see
everyone's keys in the Django admin.
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts.models import ApiKey
from accounts.permissions import API_SCOPES
from accounts.services.api_keys import KEY_NAME_MAX_CHARS, api_key_create, api_key_revoke
from core.api.fields import at_least_one


class ScopeListField(serializers.ListField):
    """A non-empty list of known scopes; an unknown one is an error on the field itself."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.ChoiceField(choices=API_SCOPES), **kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):  # not a list, or empty
                raise
            unknown = ", ".join(repr(data[index]) for index in sorted(exc.detail))
            raise serializers.ValidationError(
                f"Unknown scope(s): {unknown}. Known: {', '.join(API_SCOPES)}."
            ) from None


class ApiKeySerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(
        source="key_prefix", read_only=True, help_text="The key's first characters."
    )
    permissions = ScopeListField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "key_name",
            "prefix",
            "permissions",
            "is_active",
            "expires_at",
            "last_used_at",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    key_name = serializers.CharField(min_length=1, max_length=KEY_NAME_MAX_CHARS)
    permissions = ScopeListField(
        allow_empty=False,
        error_messages=at_least_one("scope"),
        help_text="Scopes `<area>:read` or `<area>:write` (write implies read).",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="In the future.")


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown this once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = ["key", *ApiKeySerializer.Meta.fields]
        read_only_fields = fields


class ApiKeyFilter(filters.FilterSet):
    # A choice, not a BooleanFilter: an unknown value is a 400 rather than silently ignored.
    is_active = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_is_active",
        help_text="Active keys only, or revoked only.",
    )

    class Meta:
        model = ApiKey
        fields = ["is_active"]

    def filter_is_active(self, queryset, name, value):
        return queryset.filter(is_active=value == "true")


@extend_schema_view(
    list=extend_schema(summary="List your API keys (prefix only)"),
    retrieve=extend_schema(summary="One of your API keys (prefix only)"),
    create=extend_schema(
        summary="Create an API key; the response shows the key once",
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke an API key (it stays listed, inactive)", responses={204: None}),
)
class ApiKeyViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ApiKeySerializer
    filterset_class = ApiKeyFilter
    ordering_fields = ["created_at"]
    queryset = ApiKey.objects.none()  # the model, for the schema; get_queryset scopes to the user

    def get_queryset(self):
        return ApiKey.objects.filter(user=self.request.user)

    def get_serializer_class(self):
        return ApiKeyCreateSerializer if self.action == "create" else ApiKeySerializer

    def create(self, request, *args, **kwargs):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, api_key = api_key_create(
            user=request.user, actor=request.user, request=request, **serializer.validated_data
        )
        api_key.key = key  # on this response only; never stored
        return Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        api_key_revoke(api_key=self.get_object(), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
