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
- {id}/media/        the images and videos the posts carry: attach (upload or one of your
                     generated or persona images), reorder, remove; each one's alt text is
                     written by the AI, edited, approved or regenerated (`{media_id}/approve/`,
                     `regenerate/`), and its file read at `{media_id}/file/`.
"""

from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_meta import request_meta
from core.api.parsers import SafeJSONParser
from workflows import selectors
from workflows.api import serializers as s
from workflows.api.filters import DraftFilter, PublishingJobFilter, ResourceFilter, WorkflowFilter
from workflows.content_templates import template_list
from workflows.errors import NotVisible
from workflows.models import Draft, MediaAttachment, PublishingJob, Resource, Workflow
from workflows.services import media, publishing, resources, review, workflows


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


# --- media -------------------------------------------------------------------------------------

MEDIA = {200: s.MediaAttachmentSerializer}


class WorkflowMediaViewSet(WorkflowsViewSet):
    """`<workflow>/media/`: the images and videos a workflow's posts carry and their alt text.
    Reviewers read, edit, approve and regenerate everyone's alt text (the review queue's rule);
    only the owner (moderators, admins) attaches, removes and reorders."""

    queryset = MediaAttachment.objects.none()
    serializer_class = s.MediaAttachmentSerializer
    parser_classes = [SafeJSONParser, MultiPartParser]
    lookup_url_kwarg = "media_id"
    pagination_class = None  # a post carries a handful at most

    def _workflow(self, *, own: bool) -> Workflow:
        scope = selectors.workflow_owned if own else selectors.workflow_list
        workflow = scope(user=self.request.user).filter(pk=_uuid(self.kwargs["workflow_id"])).first()
        if workflow is None:
            raise NotVisible("No such workflow.")
        return workflow

    def get_queryset(self):
        own = self.action in ("destroy", "reorder")
        scope = selectors.media_owned if own else selectors.media_reviewable
        return scope(user=self.request.user).filter(workflow_id=_uuid(self.kwargs["workflow_id"]))

    def get_object(self) -> MediaAttachment:
        attachment = self.get_queryset().filter(pk=_uuid(self.kwargs.get("media_id"))).first()
        if attachment is None:
            raise NotVisible("No such attachment.")
        return attachment

    def _one(self, attachment: MediaAttachment, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.media_reviewable(user=self.request.user).get(pk=attachment.pk)
        return Response(
            s.MediaAttachmentSerializer(fresh, context=self.get_serializer_context()).data, status_code
        )

    @extend_schema(summary="The workflow's media in order, with their alt text")
    def list(self, request, *args, **kwargs):
        self._workflow(own=False)
        attachments = self.get_queryset().order_by("position", "created_at")
        return Response(
            s.MediaAttachmentSerializer(attachments, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="Attach an image or video (multipart `file`, or a generated/persona image)",
        request=s.MediaAttachSerializer,
        responses={201: s.MediaAttachmentSerializer},
    )
    def create(self, request, *args, **kwargs):
        workflow = self._workflow(own=True)
        data = _validated(s.MediaAttachSerializer, request)
        upload = data.get("file")
        attachment = media.media_attach(
            workflow=workflow,
            actor=request.user,
            data=upload.read() if upload is not None else None,
            filename=upload.name if upload is not None else None,
            source=data.get("source"),
            ref=data.get("ref"),
            platform=data.get("platform"),
            language=data.get("language"),
            focus=data.get("focus"),
            meta=request_meta(request),
        )
        return self._one(attachment, status.HTTP_201_CREATED)

    @extend_schema(summary="One attachment with its alt text", responses=MEDIA)
    def retrieve(self, request, *args, **kwargs):
        return self._one(self.get_object())

    @extend_schema(
        summary="Edit the alt text (it then needs approving)",
        request=s.MediaAltTextSerializer,
        responses=MEDIA,
    )
    def partial_update(self, request, *args, **kwargs):
        attachment = self.get_object()
        data = _validated(s.MediaAltTextSerializer, request)
        media.media_alt_text_edit(
            attachment=attachment, actor=request.user, text=data["alt_text"], meta=request_meta(request)
        )
        return self._one(attachment)

    @extend_schema(summary="Take the attachment off the posts", responses={204: None})
    def destroy(self, request, *args, **kwargs):
        media.media_remove(attachment=self.get_object(), actor=request.user, meta=request_meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Approve the alt text (as it stands, or as given)",
        request=s.MediaApproveSerializer,
        responses=MEDIA,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        attachment = self.get_object()
        data = _validated(s.MediaApproveSerializer, request)
        media.media_alt_text_approve(
            attachment=attachment, actor=request.user, text=data.get("alt_text"), meta=request_meta(request)
        )
        return self._one(attachment)

    @extend_schema(
        summary="Write the alt text again with the AI (optionally with an instruction)",
        request=s.MediaRegenerateSerializer,
        responses=MEDIA,
    )
    @action(detail=True, methods=["post"])
    def regenerate(self, request, *args, **kwargs):
        attachment = self.get_object()
        data = _validated(s.MediaRegenerateSerializer, request)
        media.media_alt_text_regenerate(
            attachment=attachment,
            actor=request.user,
            instruction=data.get("instruction") or None,
            meta=request_meta(request),
        )
        return self._one(attachment)

    @extend_schema(
        summary="Put the media in this order",
        request=s.MediaReorderSerializer,
        responses={200: s.MediaAttachmentSerializer(many=True)},
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request, *args, **kwargs):
        workflow = self._workflow(own=True)
        data = _validated(s.MediaReorderSerializer, request)
        attachments = media.media_reorder(
            workflow=workflow, actor=request.user, order=data["order"], meta=request_meta(request)
        )
        return Response(
            s.MediaAttachmentSerializer(attachments, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="The attachment's file", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}
    )
    @action(detail=True, methods=["get"])
    def file(self, request, *args, **kwargs):
        attachment = self.get_object()
        try:
            handle = default_storage.open(attachment.storage_key, "rb")
        except OSError:
            raise NotVisible("The attachment's file is missing from storage.") from None
        response = FileResponse(handle, content_type=attachment.media_type)
        response["Content-Disposition"] = content_disposition_header(False, attachment.filename)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _uuid(value):
    try:
        return UUID(str(value))
    except (TypeError, ValueError):
        raise NotVisible("Not found.") from None
