from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.admin_notifications import notifications
from accounts.admin_preferences import preferences
from console.api_root import ApiRootView
from console.health_views import health_live, health_ready
from console.static_views import FaviconView
from core.api.errors import json_not_found
from core.media_views import signed_media
from platforms.views import oauth2_callback

api_v1 = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("accounts.api.urls")),
    path("platforms/", include("platforms.api.urls")),
    path("captions/", include("captions.api.urls")),
    path("workflows/", include("workflows.api.urls")),
    path("scraping/", include("scraping.api.urls")),
    path("generation/", include("generation.api.urls")),
]

urlpatterns = [
    # Before the admin's own URLs, whose catch-all would otherwise answer it.
    path("admin/preferences/", preferences, name="admin-preferences"),
    path("admin/notifications/", notifications, name="admin-notifications"),
    path("admin/", admin.site.urls),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("health/live", health_live, name="health-live"),
    path("health/ready", health_ready, name="health-ready"),
    # A publication's media for receivers that fetch them (core.signed_media): the token is the permission.
    path("media/signed/<str:token>/", signed_media, name="signed-media"),
    # Where X and LinkedIn send the browser back after signing in (platforms.oauth2).
    path("platforms/oauth2/callback/", oauth2_callback, name="platforms-oauth2-callback"),
    # Where fediverse instances send people back after signing in (platforms.oauth).
    path("connections/", include("platforms.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's init script from its own URL (?script), not inline: the
    # Content-Security-Policy (core.security) allows scripts from this origin only.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", json_not_found),
]
