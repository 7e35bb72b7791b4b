from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api.views import (
    CalendarView,
    DraftViewSet,
    PublishingJobViewSet,
    ResourceViewSet,
    StatsView,
    TemplateListView,
    WorkflowViewSet,
)

router = SimpleRouter()
router.register("drafts", DraftViewSet, basename="workflow-draft")
router.register("resources", ResourceViewSet, basename="workflow-resource")
router.register("publishing-jobs", PublishingJobViewSet, basename="publishing-job")
# Last: its detail route (`<id>/`) would otherwise swallow the fixed paths above and below.
workflow_router = SimpleRouter()
workflow_router.register("", WorkflowViewSet, basename="workflow")

urlpatterns = [
    path("calendar/", CalendarView.as_view(), name="workflow-calendar"),
    path("templates/", TemplateListView.as_view(), name="workflow-templates"),
    path("stats/", StatsView.as_view(), name="workflow-stats"),
    *router.urls,
    *workflow_router.urls,
]
