from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from accounts.admin_scoping import OwnerScopedAdmin
from core.admin_ai import AIDisclosureAdminMixin
from core.admin_forms import secret_field
from platforms.kinds.registry import PlatformType, kind_of
from platforms.models import PlatformConnection
from platforms.services import apply_session, connection_sign_in, instance_url_clean

SECRET_FIELDS = ("access_token", "client_key", "client_secret")


class PlatformConnectionForm(forms.ModelForm):
    """Credentials are write-only: typed in, never shown again; empty keeps the stored value."""

    new_access_token = secret_field(
        "Access token (ImageFX: the cookie; Bluesky: an app password, exchanged at once for a session "
        "and not kept)"
    )
    new_client_key = secret_field("Client key")
    new_client_secret = secret_field("Client secret")

    class Meta:
        model = PlatformConnection
        fields = [
            "user",
            "name",
            "platform_type",
            "instance_url",
            "username",
            "extra",
            "is_active",
            "is_default",
        ]

    def clean_instance_url(self):
        # The services' rule (https; plain http only for OUTBOUND_ALLOWED_ORIGINS), as a form error.
        try:
            return instance_url_clean(self.cleaned_data.get("instance_url") or "")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["instance_url"]) from None

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("new_access_token"):
            self.add_error("new_access_token", "A new connection needs its access token.")
        extra = cleaned.get("extra")
        platform_type = cleaned.get("platform_type")
        if platform_type in PlatformType.values and isinstance(extra, dict):
            problems = kind_of(platform_type).publishing_option_errors(extra)
            if problems:
                self.add_error("extra", " ".join(problems.values()))
        self._session = None
        if platform_type in PlatformType.values and kind_of(platform_type).signs_in and not self.errors:
            self._sign_in(cleaned, platform_type)
        return cleaned

    def _sign_in(self, cleaned, platform_type: str) -> None:
        """The app password is exchanged for a session here, so a refusal is a form error and the
        password never reaches the database."""
        password = cleaned.get("new_access_token")
        if not password:
            old = self.instance
            if old.pk and (
                (old.platform_type, old.instance_url, old.username)
                != (platform_type, cleaned.get("instance_url"), cleaned.get("username") or None)
            ):
                self.add_error(
                    "new_access_token",
                    "Give the account's app password again to sign in to the changed account.",
                )
            return
        try:
            self._session = connection_sign_in(
                platform_type=platform_type,
                instance_url=cleaned.get("instance_url") or "",
                username=cleaned.get("username"),
                password=password,
            )
        except ValidationError as exc:
            self.add_error("new_access_token", exc.message_dict["access_token"])

    def save(self, commit=True):
        connection = super().save(commit=False)
        for field in SECRET_FIELDS:
            entered = self.cleaned_data.get(f"new_{field}")
            if entered:
                setattr(connection, field, entered)
        if self._session is not None:  # in place of the app password
            apply_session(connection=connection, session=self._session)
        if commit:
            connection.save()
        return connection


@admin.register(PlatformConnection)
class PlatformConnectionAdmin(AIDisclosureAdminMixin, OwnerScopedAdmin, admin.ModelAdmin):
    form = PlatformConnectionForm
    list_display = [
        "name",
        "user",
        "platform_type",
        "instance_url",
        "username",
        "is_active",
        "is_default",
        "last_used",
    ]
    list_filter = ["platform_type", "is_active", "is_default"]
    search_fields = ["name", "instance_url", "username", "user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["credential_hints", "token_expires_at", "last_used", "created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "user",
                    "name",
                    "platform_type",
                    "instance_url",
                    "username",
                    "is_active",
                    "is_default",
                ]
            },
        ),
        (
            "Credentials (write-only)",
            {
                "fields": [
                    "credential_hints",
                    "token_expires_at",
                    "new_access_token",
                    "new_client_key",
                    "new_client_secret",
                ]
            },
        ),
        ("Platform settings", {"fields": ["extra"], "classes": ["collapse"]}),
        ("History", {"fields": ["last_used", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Stored credentials")
    def credential_hints(self, obj: PlatformConnection) -> str:
        if not obj.pk:
            return "—"
        from core.crypto import mask

        parts = [
            f"{field.replace('_', ' ')}: {mask(getattr(obj, field))}"
            for field in (*SECRET_FIELDS, "refresh_token")
            if getattr(obj, field)
        ]
        return "; ".join(parts) or "none"
