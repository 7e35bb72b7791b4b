from rest_framework.routers import SimpleRouter

from scraping.api.views import ArtifactViewSet, ScrapingJobItemViewSet, ScrapingJobViewSet

router = SimpleRouter()
router.register(r"jobs/(?P<job_pk>[^/]+)/items", ScrapingJobItemViewSet, basename="scraping-job-item")
router.register("jobs", ScrapingJobViewSet, basename="scraping-job")
router.register("artifacts", ArtifactViewSet, basename="scraping-artifact")

urlpatterns = router.urls
