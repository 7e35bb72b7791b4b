from rest_framework.routers import SimpleRouter

from accounts.api.audit_logs import AuditLogViewSet

router = SimpleRouter()
router.register("", AuditLogViewSet, basename="audit-log")

urlpatterns = router.urls
