"""The captions API (docs/api.md conventions; API-key area `captions`). Thin: every change is a
service call (captions.services.*), every queryset is scoped to the caller (their own connections'
rows; moderators and admins: everyone's), and another user's object is a 404.

Roles: viewers read; users, reviewers, moderators and admins act on the captions they may see.
Images are the caption review queue: reviewers see and act on everyone's (`images_reviewable_by`);
posts, tasks, runs and settings stay their own (docs/roles.md).

- posts/           read-only; each post with its images, briefly, in attachment order; repost: a
                   new post with the approved alt texts (Bluesky), the old one deleted if asked.
- images/          list/retrieve, PATCH `reviewed_caption`; approve, reject, regenerate, post,
                   approve-and-post; bulk-approve and bulk-reject (`{"ids": [...]}`: ids of images the
                   caller may not see are ignored, like ids of images whose status does not allow the
                   change; the answer counts what changed); content: the stored copy, streamed only to
                   those who may see the image (the original application served images without login).
- tasks/           list/retrieve/create (start a scan-and-caption task), cancel.
- runs/            read-only processing statistics.
- settings/        the owner's caption settings per connection: POST creates them or, when they
                   exist, changes them (201 / 200); PATCH changes them.
- image-captions/  multipart upload of an image → its caption, kept per user; list/retrieve/delete.

Each list page costs a fixed number of queries: images are rows with their post's and connection's
columns from one join, and their owners' caption length settings come from one more query for the
page; posts prefetch their images in one more query.
"""

import mimetypes

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models import Prefetch
from django.http import FileResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.request_meta import request_meta
from accounts.selectors import visible_to
from captions.api import serializers as s
from captions.api.filters import (
    CaptionSettingsFilter,
    CaptionTaskFilter,
    ImageCaptionFilter,
    ImageFilter,
    PostFilter,
    ProcessingRunFilter,
)
from captions.errors import (
    CaptionBackendFailed,
    CaptionBackendUnavailable,
    PostChanged,
    PostingFailed,
)
from captions.images import stored_key_ok
from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    ImageStatus,
    Post,
    ProcessingRun,
)
from captions.selectors import CONNECTION_OWNER, CONNECTION_SECRETS, images_reviewable_by, with_length_limit
from captions.services import generation, posting, review
from captions.services.image_captions import image_caption_create, image_caption_delete, max_upload_bytes
from captions.services.repost import post_repost_with_alt_text
from captions.services.tasks import caption_task_cancel, caption_task_create
from captions.services.user_settings import caption_settings_upsert
from core.ai import AIError, AIInvalidImage, AIRefused, AIUnavailable
from core.api.negotiation import IgnoreClientNegotiation

ERROR_REF = {"$ref": "#/components/schemas/Error"}
# The stored copies are normalised JPEG or PNG; anything else is sent as a download.
INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
# Multipart framing around the file: boundaries, part headers and the `language` field.
MULTIPART_ALLOWANCE = 64 * 1024


def _validated(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class CaptionsViewSet(viewsets.GenericViewSet):
    api_scope = "captions"
    lookup_value_regex = r"[^/]+"  # every id reaches the view: a bad one is its JSON 404
    ordering_fields = ["created_at"]
    ordering = ("-created_at", "-pk")


# --- posts -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Posts with images from your connections"),
    retrieve=extend_schema(summary="A post and its images"),
)
class PostViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CaptionsViewSet):
    queryset = Post.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = s.PostSerializer
    filterset_class = PostFilter

    def get_queryset(self):
        images = Image.objects.only(*s.BRIEF_IMAGE_FIELDS).order_by("attachment_index", "pk")
        posts = Post.objects.prefetch_related(Prefetch("images", queryset=images))
        return visible_to(posts, user=self.request.user, owner_field=CONNECTION_OWNER)

    @extend_schema(
        summary="Repost with alt text (networks whose posts cannot be edited: Bluesky)",
        description=(
            "Creates a new post with the same text and images, each image's alt text its approved "
            "caption (images that had alt text keep it). Only when every image the scan recorded has "
            "an approved caption (else 409 `repost_not_ready`). With `delete_original` the old post "
            "is deleted once the new one exists. Idempotent: asking again never posts twice; it only "
            "deletes the original when that was asked and had failed. A network failure is a 502 "
            "saying whether the new post exists."
        ),
        request=s.PostRepostSerializer,
        responses={
            200: s.PostSerializer,
            409: OpenApiResponse(
                response=ERROR_REF,
                description="Not every caption is approved (`repost_not_ready`), or the network's "
                "posts can be edited and the captions are posted back instead (`repost_unsupported`).",
            ),
            502: OpenApiResponse(response=ERROR_REF, description="The network refused or failed."),
        },
    )
    @action(detail=True, methods=["post"])
    def repost(self, request, *args, **kwargs):
        post = self.get_object()
        data = _validated(s.PostRepostSerializer, request)
        post_repost_with_alt_text(
            post=post, actor=request.user, delete_original=data["delete_original"], meta=request_meta(request)
        )
        fresh = self.get_queryset().get(pk=post.pk)
        return Response(s.PostSerializer(fresh, context=self.get_serializer_context()).data)


# --- images ------------------------------------------------------------------------------------

IMAGE_RESPONSE = {200: s.ImageDetailSerializer}


@extend_schema_view(
    list=extend_schema(summary="Images and their captions (the review queue)"),
    retrieve=extend_schema(summary="An image and its caption", responses=IMAGE_RESPONSE),
    partial_update=extend_schema(
        summary="Edit the caption (the image becomes `reviewed`)",
        request=s.ImageEditSerializer,
        responses=IMAGE_RESPONSE,
    ),
)
class ImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CaptionsViewSet):
    queryset = Image.objects.none()
    serializer_class = s.ImageSerializer
    filterset_class = ImageFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self.action == "list":
            # Rows, not model instances: ImageSerializer represents either (serializers.image_list_rows).
            return s.image_list_rows(images_reviewable_by(self.request.user))
        images = Image.objects.select_related("post", "platform_connection").defer(*CONNECTION_SECRETS)
        return with_length_limit(images_reviewable_by(self.request.user, images=images))

    def get_serializer_class(self):
        return s.ImageSerializer if self.action == "list" else s.ImageDetailSerializer

    def _respond(self, image: Image, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=image.pk)
        return Response(
            s.ImageDetailSerializer(fresh, context=self.get_serializer_context()).data, status_code
        )

    def partial_update(self, request, *args, **kwargs):
        image = self.get_object()
        data = _validated(s.ImageEditSerializer, request)
        image = review.caption_edit(
            image=image, editor=request.user, text=data["reviewed_caption"], meta=request_meta(request)
        )
        return self._respond(image)

    @extend_schema(
        summary="Approve the caption (optionally with new wording) for posting",
        request=s.ImageApproveSerializer,
        responses=IMAGE_RESPONSE,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        image = self.get_object()
        data = _validated(s.ImageApproveSerializer, request)
        try:
            image = review.caption_approve(
                image=image, reviewer=request.user, text=data.get("text"), meta=request_meta(request)
            )
        except ValidationError as exc:
            raise _renamed(exc, "final_caption", "text" if "text" in data else None) from None
        return self._respond(image)

    @extend_schema(summary="Reject the caption", request=s.ImageRejectSerializer, responses=IMAGE_RESPONSE)
    @action(detail=True, methods=["post"])
    def reject(self, request, *args, **kwargs):
        image = self.get_object()
        data = _validated(s.ImageRejectSerializer, request)
        image = review.caption_reject(
            image=image, reviewer=request.user, notes=data.get("notes"), meta=request_meta(request)
        )
        return self._respond(image)

    @extend_schema(
        summary="Caption the image again (back to pending; the new caption is written in the background)",
        request=s.ImageRegenerateSerializer,
        responses=IMAGE_RESPONSE,
    )
    @action(detail=True, methods=["post"])
    def regenerate(self, request, *args, **kwargs):
        image = self.get_object()
        data = _validated(s.ImageRegenerateSerializer, request)
        image = generation.caption_regenerate(
            image=image,
            actor=request.user,
            instruction=data.get("instruction") or None,
            meta=request_meta(request),
        )
        return self._respond(image)

    @extend_schema(
        summary="Post the approved caption to the platform as the image's description",
        description=(
            "Idempotent: an image already posted is not posted again. A platform failure is a 502 and "
            "leaves the image in `error` with the reason in `processing_error`. When the server saved "
            "the description but changed something else of the post (its visibility, text, ...), the "
            "answer is a 502 `post_changed` saying what changed, and the image is `error`, not posted."
        ),
        request=None,
        responses={
            200: s.ImageDetailSerializer,
            502: OpenApiResponse(
                response=ERROR_REF,
                description="The platform refused or failed (`platform_unavailable`), or it saved the "
                "description but changed something else of the post (`post_changed`).",
            ),
        },
    )
    # Not named `post`: a viewset method of that name would answer every POST to the list URL.
    @action(detail=True, methods=["post"], url_path="post", url_name="post")
    def post_caption(self, request, *args, **kwargs):
        image = self.get_object()
        self._check_postable(image)
        image = posting.caption_post(image=image, actor=request.user, meta=request_meta(request))
        return self._posted(image)

    @extend_schema(
        summary="Approve the caption and post it",
        request=s.ImageApproveSerializer,
        responses={
            200: s.ImageDetailSerializer,
            502: OpenApiResponse(
                response=ERROR_REF, description="Approved, but the platform refused or failed."
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="approve-and-post")
    def approve_and_post(self, request, *args, **kwargs):
        image = self.get_object()
        data = _validated(s.ImageApproveSerializer, request)
        self._check_postable(image)
        try:
            image = posting.caption_approve_and_post(
                image=image, reviewer=request.user, text=data.get("text"), meta=request_meta(request)
            )
        except ValidationError as exc:
            raise _renamed(exc, "final_caption", "text" if "text" in data else None) from None
        return self._posted(image)

    def _check_postable(self, image: Image) -> None:
        posting.ensure_postable(image.platform_connection)

    def _posted(self, image: Image) -> Response:
        if getattr(image, "post_changes", None):
            raise PostChanged(image.processing_error or None)
        if image.status == ImageStatus.ERROR:
            raise PostingFailed(image.processing_error or None)
        return self._respond(image)

    @extend_schema(
        summary="Approve many captions",
        request=s.BulkIdsSerializer,
        responses={200: s.BulkResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk-approve")
    def bulk_approve(self, request, *args, **kwargs):
        return self._bulk(request, review.caption_bulk_approve)

    @extend_schema(
        summary="Reject many captions",
        request=s.BulkIdsSerializer,
        responses={200: s.BulkResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk-reject")
    def bulk_reject(self, request, *args, **kwargs):
        return self._bulk(request, review.caption_bulk_reject)

    def _bulk(self, request, service) -> Response:
        ids = set(_validated(s.BulkIdsSerializer, request)["ids"])
        # The visible ids first, then a plain queryset: the service locks image rows only.
        visible = images_reviewable_by(request.user, images=Image.objects.filter(pk__in=ids))
        images = Image.objects.filter(pk__in=list(visible.values_list("pk", flat=True)))
        changed = service(images=images, reviewer=request.user, meta=request_meta(request))
        return Response(s.BulkResultSerializer({"requested": len(ids), "changed": changed}).data)

    @extend_schema(
        summary="The stored copy of the image (JPEG or PNG), for those who may see the image",
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="Unchanged since the ETag given in If-None-Match."),
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
        return stored_file_response(image.local_path, request=request)


def _renamed(exc, source: str, target: str | None):
    """A service's ValidationError about `source`, reported on the request's field `target`."""
    if target is None or not hasattr(exc, "error_dict") or source not in exc.error_dict:
        return exc
    errors = dict(exc.message_dict)
    errors[target] = errors.pop(source)
    return ValidationError(errors)


def stored_file_response(key: str | None, *, request, cache_seconds: int = 86400):
    """Stream a stored caption image; 404 when there is none. Stored names are content hashes, so
    the name is a strong ETag and a copy never changes under it."""
    if not stored_key_ok(key):
        raise exceptions.NotFound("No stored copy of this image.")
    etag = '"' + key.rsplit("/", 1)[-1].split(".")[0] + '"'
    if etag in [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]:
        response = HttpResponseNotModified()
        response["ETag"] = etag
        return response
    try:
        handle = default_storage.open(key, "rb")
    except (FileNotFoundError, OSError):
        raise exceptions.NotFound("The stored copy of this image is missing.") from None
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        handle,
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
    )
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={cache_seconds}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- tasks and runs ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Caption tasks"),
    retrieve=extend_schema(summary="A caption task and its progress"),
    create=extend_schema(
        summary="Start a caption task: scan a connection for images without alt text and caption them",
        description="One active (queued or running) task per connection: another is a 409.",
        request=s.CaptionTaskCreateSerializer,
        responses={201: s.CaptionTaskSerializer},
    ),
)
class CaptionTaskViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, CaptionsViewSet
):
    queryset = CaptionGenerationTask.objects.none()
    serializer_class = s.CaptionTaskSerializer
    filterset_class = CaptionTaskFilter

    def get_queryset(self):
        tasks = CaptionGenerationTask.objects.all()
        return visible_to(tasks, user=self.request.user, owner_field=CONNECTION_OWNER)

    def create(self, request, *args, **kwargs):
        data = _validated(s.CaptionTaskCreateSerializer, request)
        task = caption_task_create(
            user=request.user, connection=data["platform_connection"], meta=request_meta(request)
        )
        return Response(s.CaptionTaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a queued or running task (a running one stops before its next image)",
        request=None,
        responses={200: s.CaptionTaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        task = caption_task_cancel(task=self.get_object(), actor=request.user, meta=request_meta(request))
        return Response(s.CaptionTaskSerializer(task).data)


@extend_schema_view(
    list=extend_schema(summary="Processing runs (statistics of each pass over a connection)"),
    retrieve=extend_schema(summary="A processing run"),
)
class ProcessingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CaptionsViewSet):
    queryset = ProcessingRun.objects.none()
    serializer_class = s.ProcessingRunSerializer
    filterset_class = ProcessingRunFilter
    ordering_fields = ["started_at"]
    ordering = ("-started_at", "-pk")

    def get_queryset(self):
        runs = ProcessingRun.objects.all()
        return visible_to(runs, user=self.request.user, owner_field=CONNECTION_OWNER)


# --- settings ----------------------------------------------------------------------------------

SETTINGS_RESPONSE = {200: s.CaptionSettingsSerializer}


@extend_schema_view(
    list=extend_schema(summary="Caption settings per connection"),
    retrieve=extend_schema(summary="Caption settings for one connection"),
    create=extend_schema(
        summary="Save caption settings for a connection (created: 201; they existed and changed: 200)",
        request=s.CaptionSettingsCreateSerializer,
        responses={201: s.CaptionSettingsSerializer, 200: s.CaptionSettingsSerializer},
    ),
    partial_update=extend_schema(
        summary="Change caption settings",
        request=s.CaptionSettingsValuesSerializer,
        responses=SETTINGS_RESPONSE,
    ),
)
class CaptionSettingsViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, CaptionsViewSet
):
    queryset = CaptionGenerationUserSettings.objects.none()
    serializer_class = s.CaptionSettingsSerializer
    filterset_class = CaptionSettingsFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        rows = CaptionGenerationUserSettings.objects.select_related("platform_connection").defer(
            *CONNECTION_SECRETS
        )
        return visible_to(rows, user=self.request.user, owner_field=CONNECTION_OWNER)

    def create(self, request, *args, **kwargs):
        data = _validated(s.CaptionSettingsCreateSerializer, request)
        connection = data.pop("platform_connection")
        row, created = caption_settings_upsert(
            connection=connection, values=data, actor=request.user, meta=request_meta(request)
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.CaptionSettingsSerializer(row).data, status=code)

    def partial_update(self, request, *args, **kwargs):
        row = self.get_object()
        data = _validated(s.CaptionSettingsValuesSerializer, request, partial=True)
        row, _ = caption_settings_upsert(
            connection=row.platform_connection, values=data, actor=request.user, meta=request_meta(request)
        )
        return Response(s.CaptionSettingsSerializer(row).data)


# --- image captions ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Your image captions (uploads)"),
    retrieve=extend_schema(summary="An image caption"),
    create=extend_schema(
        summary="Upload an image and get its caption",
        description=(
            "multipart/form-data with `image` (jpeg, jpg, jpe, png, gif, webp, svg, bmp, tiff, apng, "
            "avif, read from the content, not the name) and an optional `language`. SVG is not "
            "rasterised: the builtin backend describes it as a vector drawing; a backend that needs "
            "pixels refuses it (400)."
        ),
        request={"multipart/form-data": s.ImageCaptionUploadSerializer},
        responses={
            201: s.ImageCaptionSerializer,
            502: OpenApiResponse(response=ERROR_REF, description="The caption backend failed."),
            503: OpenApiResponse(response=ERROR_REF, description="The caption backend is unavailable."),
        },
    ),
    destroy=extend_schema(summary="Delete an image caption and its stored image", responses={204: None}),
)
class ImageCaptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    CaptionsViewSet,
):
    queryset = ImageCaption.objects.none()
    serializer_class = s.ImageCaptionSerializer
    filterset_class = ImageCaptionFilter
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        return visible_to(ImageCaption.objects.all(), user=self.request.user, owner_field="user")

    def create(self, request, *args, **kwargs):
        limit = max_upload_bytes()
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > limit + MULTIPART_ALLOWANCE:
            raise exceptions.ValidationError({"image": [_too_large(int(declared), limit)]})
        data = _validated(s.ImageCaptionUploadSerializer, request)
        upload = data["image"]
        if upload.size > limit:
            raise exceptions.ValidationError({"image": [_too_large(upload.size, limit)]})
        content = upload.read()
        try:
            caption = image_caption_create(
                user=request.user,
                data=content,
                filename=upload.name,
                language=data.get("language") or None,
                meta=request_meta(request),
            )
        except AIUnavailable as exc:
            raise CaptionBackendUnavailable(str(exc), retry_after=exc.retry_after) from None
        except (AIRefused, AIInvalidImage) as exc:
            raise exceptions.ValidationError({"image": [str(exc)]}) from None
        except AIError as exc:
            raise CaptionBackendFailed(str(exc)) from None
        return Response(s.ImageCaptionSerializer(caption).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        image_caption_delete(caption=self.get_object(), actor=request.user, meta=request_meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _too_large(size: int, limit: int) -> str:
    return f"The upload is {size / 1048576:.3g} MB, over the limit of {limit / 1048576:.3g} MB."
