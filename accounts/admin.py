from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import ApiKey, ApiRateLimit, AuditLog, User, UserSession
from accounts.services.sessions import session_revoke_all
from accounts.services.users import user_deactivate, user_set_role
from core.admin_lists import LargeTableAdminMixin, fixed_choices_filter, recent_values_filter

OVERVIEW_ROWS = 50  # rows of keys and sessions shown on a user's page; the linked lists have all


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


def _table(headers: list[str], rows: list[tuple], link: str, link_text: str):
    if not rows:
        return format_html('None. <a href="{}">{}</a>', link, link_text)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html(
        '<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
        head,
        body,
        link,
        link_text,
    )


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email", "full_name", "role")


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = [
        "username",
        "email",
        "full_name",
        "role",
        "is_active",
        "is_verified",
        "last_login",
        "created_at",
    ]
    list_filter = ["role", "is_active", "is_verified", "is_staff"]
    search_fields = ["username", "email", "full_name"]
    ordering = ["username"]
    readonly_fields = ["last_login", "created_at", "updated_at", "api_keys_overview", "sessions_overview"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Profile", {"fields": ["full_name", "email", "avatar_url", "time_zone", "is_verified"]}),
        ("Access", {"fields": ["role", "is_active", "is_superuser"]}),
        ("API keys and sessions", {"fields": ["api_keys_overview", "sessions_overview"]}),
        ("History", {"fields": ["last_login", "created_at", "updated_at"]}),
    ]
    actions = ["revoke_sessions", "deactivate_users"]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["username", "email", "full_name", "role", "password1", "password2"],
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        role_changed = "role" in form.changed_data or not change
        role = obj.role
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating:
            obj.is_active = True  # saved as it was; user_deactivate below switches it off, audited
        super().save_model(request, obj, form, change)
        if role_changed:
            user_set_role(user=obj, role=role, actor=request.user)
        if deactivating:
            user_deactivate(user=obj, actor=request.user, request=request)

    def user_change_password(self, request, id, form_url=""):
        """A password set by an operator ends the user's API tokens as well as their browser sessions."""
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, unquote(id))
            keep = getattr(request, "browser_session", None) if user.pk == request.user.pk else None
            session_revoke_all(
                user=user, actor=request.user, except_session=keep, request=request, reason="password_changed"
            )
        return response

    @admin.display(description="API keys")
    def api_keys_overview(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        keys = obj.api_keys.order_by("-created_at")[:OVERVIEW_ROWS]
        rows = [
            (
                key.key_name,
                f"{key.key_prefix}…",
                ", ".join(key.permissions or []) or "—",
                "yes" if key.is_active else "no",
                _when(key.expires_at),
                _when(key.last_used_at),
            )
            for key in keys
        ]
        link = reverse("admin:accounts_apikey_changelist") + f"?user__id__exact={obj.pk}"
        return _table(
            ["name", "prefix", "scopes", "active", "expires", "last used"],
            rows,
            link,
            "All of this user's keys",
        )

    @admin.display(description="Active sessions")
    def sessions_overview(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        sessions = obj.sessions.filter(is_active=True, expires_at__gt=timezone.now()).order_by(
            "-last_activity", "-pk"
        )[:OVERVIEW_ROWS]
        rows = [
            (
                session.get_kind_display(),
                session.ip_address or "—",
                (session.user_agent or "—")[:80],
                _when(session.created_at),
                _when(session.last_activity),
                _when(session.expires_at),
            )
            for session in sessions
        ]
        link = reverse("admin:accounts_usersession_changelist") + f"?user__id__exact={obj.pk}"
        return _table(
            ["kind", "IP address", "user agent", "started", "last activity", "expires"],
            rows,
            link,
            "All of this user's sessions",
        )

    @admin.action(description="Revoke all sessions", permissions=["change"])
    def revoke_sessions(self, request, queryset):
        with transaction.atomic():
            revoked = sum(
                session_revoke_all(user=user, actor=request.user, request=request, reason="admin")
                for user in queryset
            )
        self.message_user(
            request, f"Revoked {revoked} session(s) of {len(queryset)} user(s).", messages.SUCCESS
        )

    @admin.action(description="Deactivate (and revoke sessions)", permissions=["change"])
    def deactivate_users(self, request, queryset):
        others = [user for user in queryset if user.pk != request.user.pk]
        if len(others) != len(queryset):
            self.message_user(
                request, "You cannot deactivate your own account; it was skipped.", messages.WARNING
            )
        with transaction.atomic():
            revoked = sum(user_deactivate(user=user, actor=request.user, request=request) for user in others)
        self.message_user(
            request,
            f"Deactivated {len(others)} user(s) and revoked {revoked} session(s).",
            messages.SUCCESS,
        )


class UsedElsewhereFilter(admin.SimpleListFilter):
    """Sessions used from a client other than the one they were created from (SESSION_FINGERPRINT_ACTION)."""

    title = "used elsewhere"
    parameter_name = "used_elsewhere"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(fingerprint_mismatch_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(fingerprint_mismatch_at__isnull=True)
        return queryset


@admin.register(UserSession)
class UserSessionAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "user",
        "kind",
        "ip_address",
        "created_at",
        "last_activity",
        "expires_at",
        "is_active",
        "used_elsewhere",
    ]
    list_filter = ["kind", "is_active", UsedElsewhereFilter]
    search_fields = ["user__username", "user__email", "ip_address"]
    list_select_related = ["user"]
    raw_id_fields = ["user", "active_platform"]
    exclude = ["token_hash"]
    readonly_fields = [
        "user",
        "kind",
        "ip_address",
        "user_agent",
        "session_fingerprint",
        "last_fingerprint",
        "fingerprint_mismatch_at",
        "created_at",
        "updated_at",
        "last_activity",
        "expires_at",
        "revoked_at",
    ]
    date_hierarchy = "created_at"
    ordering = ["-last_activity"]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="Used elsewhere", ordering="fingerprint_mismatch_at")
    def used_elsewhere(self, obj) -> bool:
        return obj.fingerprint_mismatch_at is not None


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["key_name", "user", "key_prefix", "is_active", "expires_at", "last_used_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["key_name", "key_prefix", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    exclude = ["key_hash"]
    readonly_fields = ["key_prefix", "last_used_at", "created_at", "updated_at"]

    def has_add_permission(self, request):
        # Keys are issued through the API, which shows the key exactly once.
        return False


def _rate_limit_scopes():
    # Every scope counted is a key of RATE_LIMITS (the rate-limit system check holds views to it).
    return [(scope, scope) for scope in sorted(settings.RATE_LIMITS)]


EndpointFilter = fixed_choices_filter("endpoint", title="endpoint", choices=_rate_limit_scopes)
# Actions and resource types are literals spread over every app's services (and rows imported from
# the older applications carry their own): no constant lists them, so the options are the values
# of the newest rows. An older value still filters by URL and is found by the search.
AuditActionFilter = recent_values_filter("action", title="action", newest_first="-created_at")
AuditResourceTypeFilter = recent_values_filter(
    "resource_type", title="resource type", newest_first="-created_at"
)


@admin.register(ApiRateLimit)
class ApiRateLimitAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["bucket", "endpoint", "request_count", "window_start", "user"]
    list_filter = [EndpointFilter]
    search_fields = ["bucket", "endpoint", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    ordering = ["-window_start"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "action", "user", "resource_type", "resource_id", "ip_address"]
    list_filter = [AuditActionFilter, AuditResourceTypeFilter]
    search_fields = ["action", "resource_id", "user__username", "ip_address"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
