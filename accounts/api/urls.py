from django.urls import include, path

urlpatterns = [
    path("auth/", include("accounts.api.auth_urls")),
    path("api-keys/", include("accounts.api.keys_urls")),
    path("audit-logs/", include("accounts.api.audit_urls")),
    path("notifications/", include("accounts.api.notifications_urls")),
    path("", include("accounts.api.system_config_urls")),
]
