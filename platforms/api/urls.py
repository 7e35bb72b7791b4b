from django.urls import path
from rest_framework.routers import SimpleRouter

from platforms.api.views import OAuthStartView, PlatformConnectionViewSet

router = SimpleRouter()
router.register("connections", PlatformConnectionViewSet, basename="platform-connection")

urlpatterns = [path("oauth/start/", OAuthStartView.as_view(), name="platform-oauth-start"), *router.urls]
