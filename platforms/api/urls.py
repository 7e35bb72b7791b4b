from django.urls import path
from rest_framework.routers import SimpleRouter

from platforms.api.views import OAuth2StartView, OAuthStartView, PlatformConnectionViewSet

router = SimpleRouter()
router.register("connections", PlatformConnectionViewSet, basename="platform-connection")

urlpatterns = [
    path("oauth/start/", OAuthStartView.as_view(), name="platform-oauth-start"),
    path("oauth2/start/", OAuth2StartView.as_view(), name="platforms-oauth2-start"),
    *router.urls,
]
