"""The project's URLs plus the bare view the `api_list` benchmark compares the API against.

`/bench/images/?owner=<user id>` answers what `GET /api/v1/captions/images/?status=pending` answers
for that owner (their connections' pending images, newest first, 50), straight from `.values()`:
no authentication, permissions, throttling, filter form, pagination or serializer. It runs in the
same server behind the same middleware, so the difference between the two is what the API adds.
"""

from django.http import JsonResponse
from django.urls import include, path

from captions.models import Image, ImageStatus

PAGE_SIZE = 50

# The stored columns behind the API serializer's fields (captions.api.serializers.ImageSerializer);
# the ones it computes (caption, counts, limit, level, flags) are derived from these.
IMAGE_VALUES = (
    "id",
    "post_id",
    "post__post_id",
    "post__post_url",
    "platform_connection_id",
    "attachment_index",
    "image_post_id",
    "media_type",
    "local_path",
    "original_caption",
    "generated_caption",
    "reviewed_caption",
    "final_caption",
    "image_category",
    "caption_quality_score",
    "needs_special_review",
    "reviewer_notes",
    "status",
    "processing_error",
    "reviewed_by_id",
    "reviewed_at",
    "posted_at",
    "original_post_date",
    "created_at",
    "updated_at",
)


def bench_images(request):
    images = Image.objects.filter(
        platform_connection__user_id=int(request.GET["owner"]), status=ImageStatus.PENDING
    ).order_by("-created_at", "-pk")
    return JsonResponse({"results": list(images.values(*IMAGE_VALUES)[:PAGE_SIZE])})


urlpatterns = [
    path("bench/images/", bench_images, name="bench-images"),
    path("", include("config.urls")),
]
