from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.request_meta import request_meta
from core.admin_ai import AIDisclosureAdminMixin
from core.admin_forms import secret_field
from core.admin_start import start_view
from core.errors import DomainError
from core.security import allow_form_redirects_to
from core.urlguard import OutboundPolicy
from platforms.health import connection_health_check
from platforms.kinds.registry import PlatformType, kind_of
from platforms.models import ConnectionHealth, PlatformConnection
from platforms.oauth import connection_disconnect, oauth_platform_types, oauth_sign_in_start
from platforms.oauth2 import oauth2_providers, oauth2_start
from platforms.services import (
    apply_session,
    connection_create,
    connection_sign_in,
    connection_update,
    instance_url_clean,
)

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


def _plain_http_origins() -> list[str]:
    policy = OutboundPolicy.from_settings()
    return sorted(
        f"http://{f'[{origin.host}]' if ':' in origin.host else origin.host}:{origin.port}"
        for origin in policy.allowed_origins
        if origin.scheme == "http"
    )


class ConnectAccountForm(forms.Form):
    """The "Connect an account" form: the kind of server and the instance; the rest happens there."""

    platform_type = forms.ChoiceField(
        label="Kind of server", choices=oauth_platform_types, initial="mastodon"
    )
    instance_url = forms.CharField(
        label="Your instance",
        max_length=500,
        help_text="Its address, e.g. https://mastodon.social. You sign in and approve there; "
        "this site never sees your password.",
    )

    def clean_instance_url(self):
        value = self.cleaned_data["instance_url"].strip()
        # "mastodon.social" is how people name their instance: https is meant.
        return value if "://" in value else f"https://{value}"


class BlueskySignInForm(forms.Form):
    """Signing in to Bluesky with an app password: exchanged for a session at once, never stored."""

    username = forms.CharField(
        label="Handle", max_length=200, help_text="e.g. alice.bsky.social (or your own domain)."
    )
    access_token = forms.CharField(
        label="App password",
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Bluesky: Settings, Privacy and security, App passwords. It is exchanged for a "
        "session at once and not kept; you can revoke it there at any time.",
    )
    instance_url = forms.CharField(
        label="Server",
        max_length=500,
        initial="https://bsky.social",
        help_text="https://bsky.social for accounts Bluesky hosts, else your own PDS.",
    )

    def clean_username(self):
        return self.cleaned_data["username"].strip().lstrip("@")

    def clean_instance_url(self):
        value = self.cleaned_data["instance_url"].strip()
        return value if "://" in value else f"https://{value}"


@admin.register(PlatformConnection)
class PlatformConnectionAdmin(AIDisclosureAdminMixin, OwnerScopedAdmin, admin.ModelAdmin):
    # The AI disclosure above the form, and the reconnect buttons (it extends the mixin's template).
    change_form_template = "admin/platforms/platformconnection/change_form.html"
    form = PlatformConnectionForm
    actions = ["disconnect_selected"]
    list_display = [
        "name",
        "user",
        "platform_type",
        "instance_url",
        "username",
        "is_active",
        "is_default",
        "health",
        "last_used",
    ]
    list_filter = ["platform_type", "health", "is_active", "is_default"]
    search_fields = ["name", "instance_url", "username", "user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "credential_hints",
        "token_expires_at",
        "health",
        "health_reason",
        "health_checked_at",
        "last_used",
        "created_at",
        "updated_at",
    ]
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
        ("Health", {"fields": ["health", "health_reason", "health_checked_at"]}),
        ("Platform settings", {"fields": ["extra"], "classes": ["collapse"]}),
        ("History", {"fields": ["last_used", "created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        given = any(form.cleaned_data.get(f"new_{field}") for field in SECRET_FIELDS)
        if change and given and obj.is_broken:
            # Reconnecting by pasting a new token: checked at once, so waiting work resumes.
            health = connection_health_check(connection=obj)
            level = messages.SUCCESS if health == ConnectionHealth.OK else messages.WARNING
            self.message_user(request, f"Connection health: {ConnectionHealth(health).label}.", level)

    def get_urls(self):
        custom = [
            path(
                "oauth2/<str:platform_type>/start/",
                self.admin_site.admin_view(self.oauth2_start_view),
                name="platforms_platformconnection_oauth2_start",
            ),
            path(
                "connect/",
                self.admin_site.admin_view(self.connect_view),
                name="platforms_platformconnection_connect",
            ),
            path(
                "connect/bluesky/",
                self.admin_site.admin_view(self.connect_bluesky_view),
                name="platforms_platformconnection_connect_bluesky",
            ),
        ]
        return custom + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra = {"oauth2_providers": oauth2_providers() if self.has_add_permission(request) else []}
        return super().changelist_view(request, extra_context={**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        reconnect = None
        if obj is not None and obj.user_id == request.user.pk:
            reconnect = next(
                (p.label for p in oauth2_providers() if p.platform_type == obj.platform_type), None
            )
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "oauth2_reconnect": reconnect},
        )

    def oauth2_start_view(self, request, platform_type: str):
        """POST: record a sign-in attempt and send the browser to the network (platforms.oauth2)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        connection = None
        if request.POST.get("connection"):
            connection = self.get_object(request, request.POST["connection"])
            if connection is None:
                raise Http404
        from platforms.views import oauth2_redirect_uri

        try:
            url = oauth2_start(
                user=request.user,
                platform_type=platform_type,
                redirect_uri=oauth2_redirect_uri(),
                connection=connection,
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect("admin:platforms_platformconnection_changelist")
        return redirect(url)

    def connect_view(self, request):
        """Sign in with a fediverse account (platforms.oauth): on to the instance's consent page,
        back at the callback (platforms.views), which opens the new connection's page."""

        def start(form):
            return oauth_sign_in_start(
                user=request.user,
                platform_type=form.cleaned_data["platform_type"],
                instance_url=form.cleaned_data["instance_url"],
                meta=request_meta(request),
            )

        response = start_view(
            self,
            request,
            form_class=ConnectAccountForm,
            fieldsets=[(None, {"fields": ["platform_type", "instance_url"]})],
            start=start,
            title="Connect a fediverse account",
            submit_label="Continue to the instance",
            done=HttpResponseRedirect,
            extra_context={
                "start_intro": "You will be sent to your instance to sign in and allow this site to "
                "read your posts and publish for you, then brought back here. (Bluesky signs in "
                "with an app password instead: “Connect Bluesky” on the connections list.)"
            },
        )
        # The form's answer redirects to the instance, wherever it is: https, or an origin the
        # operator opened to plain http (OUTBOUND_ALLOWED_ORIGINS).
        allow_form_redirects_to(response, ("https:", *_plain_http_origins()))
        return response

    def connect_bluesky_view(self, request):
        """Sign in to Bluesky (the same page reconnects a connection whose session ended): the app
        password becomes a session in the service, or the page says why next to the field."""
        mine = self.owned_queryset(request, self.get_queryset(request)).filter(
            platform_type=PlatformType.BLUESKY
        )
        reconnect = None
        if request.GET.get("connection"):
            reconnect = (
                mine.filter(pk=request.GET["connection"]).first()
                if request.GET["connection"].isdigit()
                else None
            )
            if reconnect is None:
                raise Http404

        def start(form):
            data = form.cleaned_data
            meta = request_meta(request)
            if reconnect is not None:
                return connection_update(
                    connection=reconnect,
                    data={
                        "access_token": data["access_token"],
                        "username": data["username"],
                        "instance_url": data["instance_url"],
                    },
                    actor=request.user,
                    meta=meta,
                )
            return connection_create(
                user=request.user,
                name=data["username"],
                platform_type=PlatformType.BLUESKY,
                instance_url=data["instance_url"],
                username=data["username"],
                access_token=data["access_token"],
                actor=request.user,
                meta=meta,
            )

        def done(connection):
            if connection.is_broken:
                connection_health_check(connection=connection)
            self.message_user(request, f"Signed in to Bluesky as {connection.username}.", messages.SUCCESS)
            return redirect("admin:platforms_platformconnection_change", connection.pk)

        initial = (
            {"username": reconnect.username, "instance_url": reconnect.instance_url} if reconnect else None
        )
        return start_view(
            self,
            request,
            form_class=BlueskySignInForm,
            form_kwargs={"initial": initial} if initial else None,
            fieldsets=[(None, {"fields": ["username", "access_token", "instance_url"]})],
            start=start,
            title="Reconnect Bluesky" if reconnect else "Connect a Bluesky account",
            submit_label="Sign in",
            done=done,
        )

    @admin.action(
        description="Disconnect: delete and revoke the token at the instance", permissions=["delete"]
    )
    def disconnect_selected(self, request, queryset):
        meta = request_meta(request)
        for connection in self.owned_queryset(request, queryset):
            name = str(connection)
            try:
                result = connection_disconnect(connection=connection, actor=request.user, meta=meta)
            except DomainError as exc:
                messages.error(request, f"{name}: {exc.message}")
                continue
            if result.revoked:
                messages.success(request, f"{name}: disconnected; the instance revoked its token.")
            else:
                messages.warning(request, f"{name}: disconnected. {result.problem}")

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
