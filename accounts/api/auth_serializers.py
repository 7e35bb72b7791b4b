from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User, UserSession
from core.ai import ai_disclosure

PASSWORD_MAX_CHARS = 4096  # bounds the hashing work one request can ask for


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=255, help_text="Username or email address.")
    password = serializers.CharField(
        max_length=PASSWORD_MAX_CHARS,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text="The bearer token; shown only here.")
    expires_at = serializers.DateTimeField(read_only=True)


class SessionSerializer(serializers.ModelSerializer):
    is_current = serializers.SerializerMethodField(help_text="True for the session making this request.")

    class Meta:
        model = UserSession
        fields = [
            "id",
            "kind",
            "ip_address",
            "user_agent",
            "created_at",
            "last_activity",
            "expires_at",
            "fingerprint_mismatch_at",
            "is_current",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "fingerprint_mismatch_at": {
                "help_text": "When the session was last used from a browser, client or network other than "
                "the one it was created from (null: never). Each change is in the audit log as "
                "session.fingerprint_changed."
            }
        }

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_current(self, obj) -> bool:
        return obj.pk == self.context.get("current_session_id")


class MeSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(max_length=255)
    full_name = serializers.CharField(max_length=255, allow_blank=True, required=False)
    avatar_url = serializers.URLField(max_length=2048, allow_blank=True, required=False)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "full_name",
            "avatar_url",
            "time_zone",
            "alt_text_gate",
            "ai_builtin_only",
            "ai",
            "role",
            "is_verified",
            "last_login",
            "created_at",
        ]
        read_only_fields = ["id", "username", "role", "is_verified", "last_login", "created_at"]

    ai = serializers.SerializerMethodField(
        help_text="What the AI sees: the backend that runs for this person's work, the host that "
        "receives their images and text (null: none, the builtin backend runs on this server), "
        "whether that host is another machine, their `ai_builtin_only` choice, and the site's backend."
    )

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "backend": {"type": "string"},
                "host": {"type": "string", "nullable": True},
                "leaves_machine": {"type": "boolean"},
                "builtin_only": {"type": "boolean"},
                "site_backend": {"type": "string"},
            },
            "required": ["backend", "host", "leaves_machine", "builtin_only", "site_backend"],
        }
    )
    def get_ai(self, obj) -> dict:
        return ai_disclosure(user=obj).as_dict()


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(
        max_length=PASSWORD_MAX_CHARS,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    new_password = serializers.CharField(
        max_length=PASSWORD_MAX_CHARS,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
