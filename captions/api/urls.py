from rest_framework.routers import SimpleRouter

from captions.api.views import (
    CaptionSettingsViewSet,
    CaptionTaskViewSet,
    ImageCaptionViewSet,
    ImageViewSet,
    PostViewSet,
    ProcessingRunViewSet,
)

router = SimpleRouter()
router.register("posts", PostViewSet, basename="caption-post")
router.register("images", ImageViewSet, basename="caption-image")
router.register("tasks", CaptionTaskViewSet, basename="caption-task")
router.register("runs", ProcessingRunViewSet, basename="caption-run")
router.register("settings", CaptionSettingsViewSet, basename="caption-settings")
router.register("image-captions", ImageCaptionViewSet, basename="image-caption")

urlpatterns = router.urls
