from rest_framework.routers import SimpleRouter

from accounts.api.system_config import SystemConfigViewSet

router = SimpleRouter()
router.register("system-config", SystemConfigViewSet, basename="system-config")

urlpatterns = router.urls
