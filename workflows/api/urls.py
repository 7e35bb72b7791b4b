from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api.views import (
    CalendarView,
    DraftViewSet,
    PublishingJobViewSet,
    ResourceViewSet,
    StatsView,
    TemplateListView,
    WorkflowMediaViewSet,
    WorkflowViewSet,
)

router = SimpleRouter()
router.register("drafts", DraftViewSet, basename="workflow-draft")
router.register("resources", ResourceViewSet, basename="workflow-resource")
router.register("publishing-jobs", PublishingJobViewSet, basename="publishing-job")
# Last: its detail route (`<id>/`) would otherwise swallow the fixed paths above and below.
workflow_router = SimpleRouter()
workflow_router.register("", WorkflowViewSet, basename="workflow")

media = WorkflowMediaViewSet.as_view
MEDIA_ITEM = "<str:workflow_id>/media/<str:media_id>/"

urlpatterns = [
    path("calendar/", CalendarView.as_view(), name="workflow-calendar"),
    path("<str:workflow_id>/media/", media({"get": "list", "post": "create"}), name="workflow-media-list"),
    path("<str:workflow_id>/media/reorder/", media({"post": "reorder"}), name="workflow-media-reorder"),
    path(
        MEDIA_ITEM,
        media({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="workflow-media-detail",
    ),
    path(f"{MEDIA_ITEM}approve/", media({"post": "approve"}), name="workflow-media-approve"),
    path(f"{MEDIA_ITEM}regenerate/", media({"post": "regenerate"}), name="workflow-media-regenerate"),
    path(f"{MEDIA_ITEM}file/", media({"get": "file"}), name="workflow-media-file"),
    path("templates/", TemplateListView.as_view(), name="workflow-templates"),
    path("stats/", StatsView.as_view(), name="workflow-stats"),
    *router.urls,
    *workflow_router.urls,
]
