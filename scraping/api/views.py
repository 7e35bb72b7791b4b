"""The scraping API (docs/api.md conventions; API-key area `scraping`). Thin: every change is a
service call (scraping.services.*), every queryset comes from scraping.selectors, scoped to the
caller (moderators and admins: everyone's), and another user's object is a 404 -- except that a
public artifact may be downloaded by anyone signed in.

- jobs/                  list and create jobs (creation queues the run and returns at once);
  jobs/{id}/             a job with its counters and configuration;
  jobs/{id}/cancel/      a pending job is cancelled at once, a running one at its next item;
  jobs/{id}/retry/       a finished job's failed items are fetched again;
  jobs/{job_pk}/items/   the URLs the job found and what became of each (`?status=`).
  Jobs are not deleted through the API: a job owns its artifacts (and their stored files).
- artifacts/             list and search; PATCH title, description, is_public; DELETE (file too);
  artifacts/{id}/download/      the stored bytes;
  artifacts/{id}/tags/          add tags; artifacts/{id}/tags/remove/  remove tags.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.request_meta import request_meta
from core.api.negotiation import IgnoreClientNegotiation
from core.api.pagination import NewestFirstCursorPagination
from scraping import selectors
from scraping.api import serializers as s
from scraping.api.filters import ArtifactFilter, JobItemFilter, ScrapingJobFilter
from scraping.downloads import StoredFileMissing, artifact_download_response
from scraping.models import Artifact, ScrapingJob, ScrapingJobItem
from scraping.services import artifacts, jobs


def _validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ScrapingViewSet(viewsets.GenericViewSet):
    api_scope = "scraping"
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    # Cursor pagination needs an ordering that does not change under it: creation time only.
    ordering_fields = ["created_at"]
    ordering = ("-created_at", "-pk")


# --- jobs --------------------------------------------------------------------------------------

JOB = {200: s.JobDetailSerializer}


@extend_schema_view(
    list=extend_schema(summary="Your scraping jobs, newest first"),
    retrieve=extend_schema(summary="A scraping job with its counters and configuration"),
    create=extend_schema(
        summary="Start a scraping job; it runs in the background",
        request=s.JobCreateSerializer,
        responses={201: s.JobDetailSerializer},
    ),
)
class ScrapingJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScrapingViewSet
):
    queryset = ScrapingJob.objects.none()
    filterset_class = ScrapingJobFilter

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.job_detail_list(user=self.request.user)
        return selectors.job_list(user=self.request.user)

    def get_serializer_class(self):
        return s.JobSerializer if self.action == "list" else s.JobDetailSerializer

    def _respond(self, job: ScrapingJob, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.job_detail_list(user=self.request.user).get(pk=job.pk)
        return Response(s.JobDetailSerializer(fresh).data, status_code)

    def create(self, request, *args, **kwargs):
        data = _validated(s.JobCreateSerializer, request)
        job = jobs.scraping_job_create(
            user=request.user,
            title=data["title"],
            job_type=data["job_type"],
            keywords=data.get("keywords") or [],
            description=data.get("description") or None,
            configuration=data.get("configuration"),
            meta=request_meta(request),
        )
        return self._respond(job, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel: a pending job at once, a running one at its next item", request=None, responses=JOB
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        job = jobs.scraping_job_cancel(job=self.get_object(), actor=request.user, meta=request_meta(request))
        return self._respond(job)

    @extend_schema(
        summary="Fetch a finished job's failed items again (409 when it has none or is not finished)",
        request=None,
        responses=JOB,
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        job = jobs.scraping_job_retry(job=self.get_object(), actor=request.user, meta=request_meta(request))
        return self._respond(job)


@extend_schema_view(list=extend_schema(summary="The URLs a job found and what became of each"))
class ScrapingJobItemViewSet(mixins.ListModelMixin, ScrapingViewSet):
    """jobs/{job_pk}/items/: a job the caller cannot see is a 404, like the job itself."""

    queryset = ScrapingJobItem.objects.none()
    serializer_class = s.JobItemSerializer
    filterset_class = JobItemFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no job in the URL
            return ScrapingJobItem.objects.none()
        job = get_object_or_404(selectors.job_list(user=self.request.user), pk=self.kwargs["job_pk"])
        return selectors.job_item_list(user=self.request.user, job=job)


# --- artifacts ---------------------------------------------------------------------------------


ARTIFACT = {200: s.ArtifactDetailSerializer}


@extend_schema_view(
    list=extend_schema(summary="Your artifacts, newest first (also when searching with `q`)"),
    retrieve=extend_schema(summary="An artifact with its text, metadata tags and extractions"),
    partial_update=extend_schema(
        summary="Change an artifact's title, description or visibility",
        request=s.ArtifactUpdateSerializer,
        responses=ARTIFACT,
    ),
    destroy=extend_schema(summary="Delete an artifact and its stored file", responses={204: None}),
)
class ArtifactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScrapingViewSet,
):
    queryset = Artifact.objects.none()
    filterset_class = ArtifactFilter
    # Newest first, searching or not: a page costs the same at any depth and any number of matches
    # (ranking every match first would not; docs/performance.md, `artifact_search`).
    pagination_class = NewestFirstCursorPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            return selectors.artifact_list(user=user)
        if self.action == "download":
            return selectors.artifact_downloadable(user=user)
        if self.action == "retrieve":
            return selectors.artifact_detail_list(user=user)
        return selectors.artifact_list(user=user)

    def get_serializer_class(self):
        return s.ArtifactSerializer if self.action == "list" else s.ArtifactDetailSerializer

    def _respond(self, artifact: Artifact) -> Response:
        fresh = selectors.artifact_detail_list(user=self.request.user).get(pk=artifact.pk)
        return Response(s.ArtifactDetailSerializer(fresh).data)

    def partial_update(self, request, *args, **kwargs):
        artifact = self.get_object()
        data = _validated(s.ArtifactUpdateSerializer, request)
        artifact = artifacts.artifact_update(
            artifact=artifact, actor=request.user, meta=request_meta(request), **data
        )
        return self._respond(artifact)

    def perform_destroy(self, instance):
        artifacts.artifact_delete(artifact=instance, actor=self.request.user, meta=request_meta(self.request))

    @extend_schema(summary="Add tags", request=s.TagsSerializer, responses=ARTIFACT)
    @action(detail=True, methods=["post"])
    def tags(self, request, *args, **kwargs):
        artifact = self.get_object()
        data = _validated(s.TagsSerializer, request)
        artifact = artifacts.artifact_tags_add(
            artifact=artifact, actor=request.user, tags=data["tags"], meta=request_meta(request)
        )
        return self._respond(artifact)

    @extend_schema(
        summary="Remove tags (ones the artifact lacks are ignored)",
        request=s.TagsSerializer,
        responses=ARTIFACT,
    )
    @action(detail=True, methods=["post"], url_path="tags/remove", url_name="tags-remove")
    def tags_remove(self, request, *args, **kwargs):
        artifact = self.get_object()
        data = _validated(s.TagsSerializer, request)
        artifact = artifacts.artifact_tags_remove(
            artifact=artifact, actor=request.user, tags=data["tags"], meta=request_meta(request)
        )
        return self._respond(artifact)

    @extend_schema(
        summary="The stored bytes, as an attachment (owners, moderators, admins; anyone when public)",
        responses={(200, "*/*"): OpenApiTypes.BINARY},
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer],
        content_negotiation_class=IgnoreClientNegotiation,
    )
    def download(self, request, *args, **kwargs):
        return artifact_file_response(self.get_object())


def artifact_file_response(artifact: Artifact):
    """The stored bytes as an attachment (scraping.downloads); a missing file is a JSON 404."""
    try:
        return artifact_download_response(artifact)
    except StoredFileMissing:
        raise exceptions.NotFound("The stored file of this artifact is missing.") from None
