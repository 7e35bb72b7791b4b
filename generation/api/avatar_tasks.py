"""Persona dataset tasks in the API (`/api/v1/generation/avatar-tasks/`; scope `generation`).

Thin: validation and every change are services (generation.services.avatar_tasks); every queryset
is scoped to the caller (`visible_to`: their own tasks; moderators and admins: everyone's), and
another user's task is a 404. The public identifier is the 8-character `task_id`: routes look it
up, and responses show it as `id` too.

- GET/POST avatar-tasks/, GET/DELETE avatar-tasks/{task_id}/
- POST avatar-tasks/{task_id}/retry/           a failed task resumes where it stopped
- POST avatar-tasks/{task_id}/cancel/          a waiting task at once, a running one at its next
                                               step; what it made stays (409 once finished)
- GET  avatar-tasks/{task_id}/personas/        the personas, in position order (paginated)
- GET  avatar-tasks/{task_id}/export/?format=json|csv|zip   streamed, never built in memory
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from accounts.request_meta import request_meta
from accounts.selectors import visible_to
from core.api.negotiation import IgnoreClientNegotiation
from generation.models import (
    MAX_PERSONAS_PER_TASK,
    GeneratedPersona,
    GenerationTask,
    ImagesPerPersona,
)
from generation.personas.exports import EXPORT_FORMATS, avatar_task_export, in_blocks
from generation.services.avatar_tasks import (
    DESCRIPTION_MAX_CHARS,
    LANGUAGE_MAX_CHARS,
    avatar_task_cancel,
    avatar_task_create,
    avatar_task_delete,
    avatar_task_retry,
)

# --- serializers ---------------------------------------------------------------------------------


class AvatarTaskCreateSerializer(serializers.Serializer):
    persona_description = serializers.CharField(min_length=1, max_length=DESCRIPTION_MAX_CHARS)
    bio_language = serializers.CharField(
        min_length=1, max_length=LANGUAGE_MAX_CHARS, help_text="A language name or code (English, de, pt-BR)."
    )
    number_to_generate = serializers.IntegerField(min_value=1, max_value=MAX_PERSONAS_PER_TASK)
    images_per_persona = serializers.ChoiceField(choices=ImagesPerPersona.choices)


class AvatarTaskSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="task_id", read_only=True, help_text="Same as `task_id`.")
    images_expected = serializers.IntegerField(read_only=True)

    class Meta:
        model = GenerationTask
        fields = [
            "id",
            "task_id",
            "status",
            "persona_description",
            "bio_language",
            "number_to_generate",
            "images_per_persona",
            "personas_generated",
            "images_generated",
            "images_expected",
            "error_log",
            "attempts",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


class GeneratedPersonaSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)
    images = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="Storage keys.")
    image_errors = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = GeneratedPersona
        fields = [
            "id",
            "position",
            "full_name",
            "first_name",
            "last_name",
            "gender",
            "age",
            "ethnicity",
            "job_title",
            "workplace",
            "education",
            "current_city",
            "current_state",
            "previous_city",
            "previous_state",
            "about",
            "bio_facebook",
            "bio_instagram",
            "bio_x",
            "bio_tiktok",
            "images",
            "image_errors",
            "metadata",
            "created_at",
        ]
        read_only_fields = fields


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="json")


# --- views ---------------------------------------------------------------------------------------


class PersonaPagination(CursorPagination):
    ordering = ("position",)
    page_size = 50


EXPORT_RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.BINARY, description="JSON export"),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV export"),
    (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="ZIP export"),
}


@extend_schema_view(
    list=extend_schema(summary="Persona dataset tasks"),
    retrieve=extend_schema(summary="A persona dataset task and its progress"),
    create=extend_schema(
        summary="Queue a persona dataset task",
        request=AvatarTaskCreateSerializer,
        responses={201: AvatarTaskSerializer},
    ),
    destroy=extend_schema(summary="Delete a task that is not running, its personas and images"),
)
class AvatarTaskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    api_scope = "generation"
    queryset = GenerationTask.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = AvatarTaskSerializer
    lookup_field = "task_id"
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    filterset_fields = ["status"]
    ordering_fields = ["created_at"]
    ordering = ("-created_at", "-pk")

    def get_queryset(self):
        return visible_to(GenerationTask.objects.all(), user=self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = AvatarTaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = avatar_task_create(user=request.user, meta=request_meta(request), **serializer.validated_data)
        return Response(AvatarTaskSerializer(task).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        avatar_task_delete(task=instance, actor=self.request.user, meta=request_meta(self.request))

    @extend_schema(
        summary="Queue a failed task again; it resumes after what was generated",
        request=None,
        responses={200: AvatarTaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        task = avatar_task_retry(task=self.get_object(), actor=request.user, meta=request_meta(request))
        return Response(AvatarTaskSerializer(task).data)

    @extend_schema(
        summary="Cancel a waiting or running task (a running one stops at its next step, keeping "
        "the personas and images made)",
        request=None,
        responses={200: AvatarTaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        task = avatar_task_cancel(task=self.get_object(), actor=request.user, meta=request_meta(request))
        return Response(AvatarTaskSerializer(task).data)

    @extend_schema(
        summary="The task's personas, in position order",
        responses={200: GeneratedPersonaSerializer(many=True)},
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=PersonaPagination,
        filter_backends=[],  # position order, whatever the task list's ordering is
        serializer_class=GeneratedPersonaSerializer,
    )
    def personas(self, request, *args, **kwargs):
        task = self.get_object()
        page = self.paginate_queryset(GeneratedPersona.objects.filter(task=task).order_by("position"))
        return self.get_paginated_response(GeneratedPersonaSerializer(page, many=True).data)

    @extend_schema(
        summary="Export the personas (streamed): JSON, CSV, or ZIP with one folder per persona",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(EXPORT_FORMATS),
                default="json",
                description="json, csv or zip",
            )
        ],
        responses=EXPORT_RESPONSES,
        filters=False,
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreClientNegotiation)
    def export(self, request, *args, **kwargs):
        task = self.get_object()
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        chunks, content_type, filename = avatar_task_export(task=task, fmt=fmt)
        response = StreamingHttpResponse(in_blocks(chunks), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
