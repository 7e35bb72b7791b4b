from rest_framework.routers import SimpleRouter

from generation.api.avatar_tasks import AvatarTaskViewSet
from generation.api.views import GeneratedImageViewSet, PromptViewSet

router = SimpleRouter()
router.register("prompts", PromptViewSet, basename="prompt")
router.register("images", GeneratedImageViewSet, basename="generated-image")
router.register("avatar-tasks", AvatarTaskViewSet, basename="avatar-task")

urlpatterns = router.urls
