"""The generation API, images part (docs/api.md "Generation"; API-key area `generation`).

- prompts/                     list, retrieve (with image ids), create (queues generation).
- prompts/{id}/cancel/         POST: a queued prompt at once, a running one when the backend's call
                               returns (its images are kept); 409 once finished.
- images/                      list (`?prompt=`, `?aspect_ratio=`, `?model_name_type=`), retrieve;
                               never the base64 bytes (deferred, not even loaded).
- images/{id}/content/         the decoded PNG/JPEG with its content type.
- images/{id}/caption/         POST: caption the image through the image backend; the captions
                               are kept as captions.ImageCaption rows with its media_generation_id.
Every queryset goes through generation.selectors (own rows; moderators and admins: everyone's);
another user's object is a 404. Viewers read only.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.request_meta import request_meta
from core.api.fields import MAX_ID
from core.api.negotiation import IgnoreClientNegotiation
from generation.api import serializers as s
from generation.api.filters import GeneratedImageFilter, PromptFilter
from generation.backends import (
    ImageBackendAuthError,
    ImageBackendError,
    ImageBackendRefused,
    ImageBackendUnavailable,
)
from generation.errors import ImageBackendFailed, ImageBackendUnavailableError
from generation.models import GeneratedImage, Prompt
from generation.selectors import generated_images_visible, prompts_visible
from generation.services.prompts import (
    generated_image_bytes,
    generated_image_caption,
    prompt_cancel,
    prompt_create,
)

INLINE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


def _validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class GenerationViewSet(viewsets.GenericViewSet):
    api_scope = "generation"
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    ordering_fields = ["created_at"]
    ordering = ("-created_at", "-pk")

    def get_object(self):
        if not str(self.kwargs.get(self.lookup_field, "")).isdigit() or int(self.kwargs["pk"]) > MAX_ID:
            raise exceptions.NotFound()
        return super().get_object()


@extend_schema_view(
    list=extend_schema(summary="Your image prompts, newest first"),
    retrieve=extend_schema(summary="A prompt, its status and its image ids"),
    create=extend_schema(
        summary="Queue an image prompt", request=s.PromptCreateSerializer, responses={201: s.PromptSerializer}
    ),
)
class PromptViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, GenerationViewSet
):
    queryset = Prompt.objects.none()
    serializer_class = s.PromptSerializer
    filterset_class = PromptFilter

    def get_queryset(self):
        return prompts_visible(user=self.request.user)

    def create(self, request, *args, **kwargs):
        data = _validated(s.PromptCreateSerializer, request)
        prompt = prompt_create(user=request.user, meta=request_meta(request), **data)
        fresh = self.get_queryset().get(pk=prompt.pk)
        return Response(
            s.PromptSerializer(fresh, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Cancel a queued or running prompt (a running one keeps the images its call returns)",
        request=None,
        responses={200: s.PromptSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        prompt = prompt_cancel(prompt=self.get_object(), actor=request.user, meta=request_meta(request))
        fresh = self.get_queryset().get(pk=prompt.pk)
        return Response(s.PromptSerializer(fresh, context=self.get_serializer_context()).data)


@extend_schema_view(
    list=extend_schema(summary="Generated images (without their bytes; see content)"),
    retrieve=extend_schema(summary="A generated image's details"),
)
class GeneratedImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenerationViewSet):
    queryset = GeneratedImage.objects.none()
    serializer_class = s.GeneratedImageSerializer
    filterset_class = GeneratedImageFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return generated_images_visible(
            user=self.request.user, with_content=self.action in ("content", "caption")
        )

    @extend_schema(
        summary="The image itself, decoded (PNG or JPEG)",
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such image, or not yours."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer],
        content_negotiation_class=IgnoreClientNegotiation,
    )
    def content(self, request, *args, **kwargs):
        image = self.get_object()
        try:
            data = generated_image_bytes(image=image)
        except Exception:
            raise exceptions.NotFound("The stored image cannot be decoded.") from None
        inline = image.mime_type in INLINE_TYPES
        response = HttpResponse(data, content_type=image.mime_type if inline else "application/octet-stream")
        extension = image.mime_type.rsplit("/", 1)[-1] if inline else "bin"
        disposition = "inline" if inline else "attachment"
        response["Content-Disposition"] = f'{disposition}; filename="generated-{image.pk}.{extension}"'
        response["Cache-Control"] = "private, max-age=86400"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @extend_schema(
        summary="Caption the image through the image backend (kept as image captions)",
        request=s.CaptionRequestSerializer,
        responses={201: s.CaptionListSerializer},
    )
    @action(detail=True, methods=["post"])
    def caption(self, request, *args, **kwargs):
        image = self.get_object()
        data = _validated(s.CaptionRequestSerializer, request)
        try:
            captions = generated_image_caption(
                image=image, user=request.user, count=data["count"], meta=request_meta(request)
            )
        except ImageBackendUnavailable as exc:
            raise ImageBackendUnavailableError(str(exc), retry_after=exc.retry_after) from None
        except ImageBackendRefused as exc:
            raise exceptions.ValidationError({"image": [str(exc)]}) from None
        except ImageBackendAuthError as exc:
            raise ImageBackendFailed(str(exc)) from None
        except ImageBackendError as exc:
            raise ImageBackendFailed(str(exc)) from None
        return Response(s.CaptionListSerializer({"captions": captions}).data, status=status.HTTP_201_CREATED)
