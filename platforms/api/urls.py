from rest_framework.routers import SimpleRouter

from platforms.api.views import PlatformConnectionViewSet

router = SimpleRouter()
router.register("connections", PlatformConnectionViewSet, basename="platform-connection")

urlpatterns = router.urls
