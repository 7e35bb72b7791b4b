from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts.models import ApiKey, ApiRateLimit, AuditLog, User, UserSession
from accounts.services.users import user_set_role


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
    readonly_fields = ["last_login", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Profile", {"fields": ["full_name", "email", "avatar_url", "is_verified"]}),
        ("Access", {"fields": ["role", "is_active", "is_superuser"]}),
        ("History", {"fields": ["last_login", "created_at", "updated_at"]}),
    ]
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
        super().save_model(request, obj, form, change)
        if role_changed:
            user_set_role(user=obj, role=role, actor=request.user)


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "ip_address", "created_at", "last_activity", "expires_at", "is_active"]
    list_filter = ["kind", "is_active"]
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
        "created_at",
        "updated_at",
        "last_activity",
        "expires_at",
        "revoked_at",
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ["-last_activity"]

    def has_add_permission(self, request):
        return False


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


@admin.register(ApiRateLimit)
class ApiRateLimitAdmin(admin.ModelAdmin):
    list_display = ["bucket", "endpoint", "request_count", "window_start", "user"]
    list_filter = ["endpoint"]
    search_fields = ["bucket", "endpoint", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    show_full_result_count = False
    ordering = ["-window_start"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "user", "resource_type", "resource_id", "ip_address"]
    list_filter = ["action", "resource_type"]
    search_fields = ["action", "resource_id", "user__username", "ip_address"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
