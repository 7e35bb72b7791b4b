"""The workflows API (docs/api.md conventions; API-key area `workflows`). Thin: every change is a
service call (workflows.services.*), every queryset comes from workflows.selectors, scoped to the
caller (moderators and admins: everyone's), and another user's object is a 404.

- ""                 list and create workflows (creation queues the engine and returns at once);
  {id}/              a workflow with each platform's state, active draft and latest evaluation;
  {id}/review/       accept, reject, edit_and_refine or edit_and_publish one platform's draft;
  {id}/cancel/       stop the engine and cancel the workflow's pending publishing.
  Reviewers list, read and review everyone's workflows and drafts (the draft review queue) and
  cancel and publish only their own (docs/roles.md).
- drafts/            every draft (AI and human) with its evaluations; read-only, drafts are immutable.
- resources/         style samples, references and images that feed generation.
- publishing-jobs/   publish an accepted draft now or at `scheduled_for`; PATCH reschedules;
                     cancel, retry.
- calendar/          publishing jobs between `from` and `to`.
- templates/         the named templates of template mode.
- stats/             counts by status.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_meta import request_meta
from workflows import selectors
from workflows.api import serializers as s
from workflows.api.filters import DraftFilter, PublishingJobFilter, ResourceFilter, WorkflowFilter
from workflows.content_templates import template_list
from workflows.models import Draft, PublishingJob, Resource, Workflow
from workflows.services import publishing, resources, review, workflows


def _validated(serializer_class, request, *, data=None) -> dict:
    serializer = serializer_class(data=request.data if data is None else data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class WorkflowsViewSet(viewsets.GenericViewSet):
    api_scope = "workflows"
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    ordering = ("-created_at", "-pk")


# --- workflows ---------------------------------------------------------------------------------

DETAIL = {200: s.WorkflowDetailSerializer}


@extend_schema_view(
    list=extend_schema(summary="Your workflows, newest first"),
    retrieve=extend_schema(summary="A workflow with its platforms' active drafts and latest evaluations"),
    create=extend_schema(
        summary="Start a workflow: one platform state per target, the engine runs in the background",
        request=s.WorkflowCreateSerializer,
        responses={201: s.WorkflowDetailSerializer},
    ),
)
class WorkflowViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, WorkflowsViewSet
):
    queryset = Workflow.objects.none()
    filterset_class = WorkflowFilter

    def get_queryset(self):
        if self.action == "list":
            return selectors.workflow_list(user=self.request.user)
        if self.action == "cancel":
            # Reviewers read and review everyone's workflows; they cancel only their own.
            return selectors.workflow_owned(user=self.request.user)
        return selectors.workflow_detail_list(user=self.request.user)

    def get_serializer_class(self):
        return s.WorkflowSerializer if self.action == "list" else s.WorkflowDetailSerializer

    def _respond(self, workflow: Workflow, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.workflow_detail_list(user=self.request.user).get(pk=workflow.pk)
        return Response(
            s.WorkflowDetailSerializer(fresh, context=self.get_serializer_context()).data, status_code
        )

    def create(self, request, *args, **kwargs):
        data = _validated(s.WorkflowCreateSerializer, request)
        workflow = workflows.workflow_create(
            user=request.user,
            mode=data["mode"],
            platforms=data["platforms"],
            source_content=data.get("source_content"),
            template_input=data.get("template_input"),
            manual_options=data.get("manual_options"),
            resource_ids=data.get("resource_ids"),
            meta=request_meta(request),
        )
        return self._respond(workflow, status.HTTP_201_CREATED)

    @extend_schema(summary="Review one platform's draft", request=s.ReviewSerializer, responses=DETAIL)
    @action(detail=True, methods=["post"])
    def review(self, request, *args, **kwargs):
        workflow = self.get_object()
        data = _validated(s.ReviewSerializer, request)
        review.workflow_review(
            workflow=workflow,
            platform=data["platform"],
            action=data["action"],
            reviewer=request.user,
            content=data.get("content"),
            feedback=data.get("feedback"),
            meta=request_meta(request),
        )
        return self._respond(workflow)

    @extend_schema(summary="Cancel the workflow and its pending publishing", request=None, responses=DETAIL)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        workflow = workflows.workflow_cancel(
            workflow=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        return self._respond(workflow)


# --- drafts ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Drafts, AI-written and human-edited, with their evaluations"),
    retrieve=extend_schema(summary="A draft with its evaluations"),
)
class DraftViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkflowsViewSet):
    queryset = Draft.objects.none()
    serializer_class = s.DraftSerializer
    filterset_class = DraftFilter

    def get_queryset(self):
        return selectors.draft_list(user=self.request.user)


# --- resources ---------------------------------------------------------------------------------

RESOURCE = {200: s.ResourceSerializer}


@extend_schema_view(
    list=extend_schema(summary="Your style samples, references and images"),
    retrieve=extend_schema(summary="A resource with its full text"),
    create=extend_schema(
        summary="Add a resource from text, or from a web page's main text (`url`)",
        request=s.ResourceCreateSerializer,
        responses={201: s.ResourceSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a resource", request=s.ResourceUpdateSerializer, responses=RESOURCE
    ),
    destroy=extend_schema(summary="Delete a resource"),
)
class ResourceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    WorkflowsViewSet,
):
    queryset = Resource.objects.none()
    filterset_class = ResourceFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        resources_ = selectors.resource_list(user=self.request.user)
        return resources_.defer("content") if self.action == "list" else resources_

    def get_serializer_class(self):
        return s.ResourceBriefSerializer if self.action == "list" else s.ResourceSerializer

    def create(self, request, *args, **kwargs):
        data = _validated(s.ResourceCreateSerializer, request)
        resource = resources.resource_create(user=request.user, meta=request_meta(request), **data)
        return Response(s.ResourceSerializer(resource).data, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        resource = self.get_object()
        data = _validated(s.ResourceUpdateSerializer, request)
        resource = resources.resource_update(
            resource=resource, actor=request.user, meta=request_meta(request), **data
        )
        return Response(s.ResourceSerializer(resource).data)

    def perform_destroy(self, instance):
        resources.resource_delete(resource=instance, actor=self.request.user, meta=request_meta(self.request))


# --- publishing --------------------------------------------------------------------------------

JOB = {200: s.PublishingJobSerializer}


@extend_schema_view(
    list=extend_schema(summary="Publishing jobs, newest first"),
    retrieve=extend_schema(summary="A publishing job with its outcome"),
    create=extend_schema(
        summary="Publish an accepted draft now, or schedule it (`scheduled_for`)",
        request=s.PublishingJobCreateSerializer,
        responses={201: s.PublishingJobSerializer},
    ),
    partial_update=extend_schema(
        summary="Reschedule a queued or scheduled job",
        request=s.PublishingJobRescheduleSerializer,
        responses=JOB,
    ),
)
class PublishingJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    WorkflowsViewSet,
):
    queryset = PublishingJob.objects.none()
    serializer_class = s.PublishingJobSerializer
    filterset_class = PublishingJobFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.publishing_job_list(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = _validated(s.PublishingJobCreateSerializer, request)
        workflow = selectors.workflow_owned(user=request.user).filter(pk=data["workflow"]).first()
        if workflow is None:
            raise ValidationError({"workflow": "No such workflow."})
        job = publishing.publishing_job_create(
            workflow=workflow,
            platform=data["platform"],
            actor=request.user,
            scheduled_for=data.get("scheduled_for"),
            connection=data.get("platform_connection"),
            options=data.get("options"),
            meta=request_meta(request),
        )
        job.refresh_from_db()
        return Response(s.PublishingJobSerializer(job).data, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        job = self.get_object()
        data = _validated(s.PublishingJobRescheduleSerializer, request)
        job = publishing.publishing_job_reschedule(
            job=job, scheduled_for=data["scheduled_for"], actor=request.user, meta=request_meta(request)
        )
        return Response(s.PublishingJobSerializer(job).data)

    @extend_schema(summary="Cancel a queued or scheduled job", request=None, responses=JOB)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        job = publishing.publishing_job_cancel(
            job=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        return Response(s.PublishingJobSerializer(job).data)

    @extend_schema(summary="Queue a failed job again (same idempotency key)", request=None, responses=JOB)
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        job = publishing.publishing_job_retry(
            job=self.get_object(), actor=request.user, meta=request_meta(request)
        )
        return Response(s.PublishingJobSerializer(job).data)


# --- calendar, templates, stats ----------------------------------------------------------------


class CalendarView(APIView):
    api_scope = "workflows"

    @extend_schema(
        summary="Publishing jobs between `from` and `to` (at most 93 days), in time order",
        parameters=[
            OpenApiParameter("from", str, required=True, description="ISO 8601 date or date-time."),
            OpenApiParameter("to", str, required=True, description="ISO 8601 date or date-time, exclusive."),
        ],
        responses={200: s.CalendarEntrySerializer(many=True)},
    )
    def get(self, request):
        query = _validated(s.CalendarQuerySerializer, request, data=request.query_params)
        jobs = selectors.publishing_calendar(user=request.user, start=query["from"], end=query["to"])
        return Response(s.CalendarEntrySerializer(jobs, many=True).data)


class TemplateListView(APIView):
    api_scope = "workflows"

    @extend_schema(
        summary="The named templates of template mode", responses={200: s.TemplateSerializer(many=True)}
    )
    def get(self, request):
        return Response(s.TemplateSerializer(template_list(), many=True).data)


class StatsView(APIView):
    api_scope = "workflows"

    @extend_schema(
        summary="Workflows and publishing jobs by status", responses={200: s.WorkflowStatsSerializer}
    )
    def get(self, request):
        return Response(s.WorkflowStatsSerializer(selectors.workflow_stats(user=request.user)).data)
