"""Platform connections over the API: credentials are write-only, responses show a masked hint."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import crypto
from core.api.fields import MAX_ID
from platforms.kinds.registry import kind_of
from platforms.models import PlatformConnection, PlatformType

SECRET_MAX_LENGTH = 8192  # an ImageFX cookie is a few kilobytes


class PlatformConnectionSerializer(serializers.ModelSerializer):
    """What a connection looks like in responses: never a credential, only `credential_hint`."""

    credential_hint = serializers.SerializerMethodField(
        help_text="The access token masked to its last four characters."
    )
    extra = serializers.DictField(read_only=True, help_text="Non-secret per-platform settings.")

    class Meta:
        model = PlatformConnection
        fields = [
            "id",
            "name",
            "platform_type",
            "instance_url",
            "username",
            "credential_hint",
            "extra",
            "is_active",
            "is_default",
            "health",
            "health_reason",
            "health_checked_at",
            "last_used",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_credential_hint(self, obj: PlatformConnection) -> str:
        return crypto.mask(obj.access_token)


class _ConnectionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    platform_type = serializers.ChoiceField(choices=PlatformType.choices)
    instance_url = serializers.URLField(
        max_length=500, help_text="https:// only; http://localhost-style URLs are accepted while DEBUG is on."
    )
    username = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)
    client_key = serializers.CharField(
        write_only=True, required=False, allow_null=True, allow_blank=True, max_length=SECRET_MAX_LENGTH
    )
    client_secret = serializers.CharField(
        write_only=True, required=False, allow_null=True, allow_blank=True, max_length=SECRET_MAX_LENGTH
    )
    extra = serializers.DictField(required=False, help_text="Non-secret per-platform settings.")


class PlatformConnectionCreateSerializer(_ConnectionInputSerializer):
    access_token = serializers.CharField(
        write_only=True, max_length=SECRET_MAX_LENGTH, help_text="Write-only; stored encrypted."
    )
    is_active = serializers.BooleanField(required=False, default=True)
    is_default = serializers.BooleanField(
        required=False, default=False, help_text="Replaces your previous default connection."
    )


class PlatformConnectionUpdateSerializer(_ConnectionInputSerializer):
    access_token = serializers.CharField(
        write_only=True,
        required=False,
        max_length=SECRET_MAX_LENGTH,
        help_text="Write-only; leave out to keep the stored token.",
    )
    is_active = serializers.BooleanField(required=False)
    is_default = serializers.BooleanField(
        required=False, help_text="Replaces your previous default connection."
    )


class VerifiedAccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    username = serializers.CharField()
    acct = serializers.CharField()
    display_name = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)


class VerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    account = VerifiedAccountSerializer()


class OAuth2StartSerializer(serializers.Serializer):
    platform_type = serializers.ChoiceField(choices=[("x", "X"), ("linkedin", "LinkedIn")])
    connection = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="One of your connections of this network, to reconnect it.",
    )


class OAuth2StartResultSerializer(serializers.Serializer):
    authorize_url = serializers.URLField(
        help_text="Send the browser here; the network sends it back to the callback."
    )


class OAuthStartSerializer(serializers.Serializer):
    platform_type = serializers.ChoiceField(
        choices=[(kind, label) for kind, label in PlatformType.choices if kind_of(kind).oauth_scopes],
        help_text="A Mastodon-compatible server: mastodon, pixelfed, pleroma or gotosocial.",
    )
    instance_url = serializers.CharField(
        max_length=500, help_text="The instance's https:// address, checked as a connection's is."
    )


class OAuthStartedSerializer(serializers.Serializer):
    authorize_url = serializers.CharField(
        help_text="Open it in the browser where you are signed in here; the instance sends you back "
        "to `redirect_uri`, which stores the connection. Valid for 10 minutes, once."
    )
    redirect_uri = serializers.CharField(help_text="The callback registered at the instance.")


class DisconnectResultSerializer(serializers.Serializer):
    revoked = serializers.BooleanField(help_text="Whether the instance confirmed the token's revocation.")
    problem = serializers.CharField(
        allow_null=True, help_text="Why the token was not revoked, if it was not."
    )
