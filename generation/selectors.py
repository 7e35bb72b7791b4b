"""Reads of prompts and generated images, scoped to what the caller may see.

Lists never load `encoded_image` (megabytes of base64 per row): it is deferred, and only the
content view and the caption service read it, one image at a time.
"""

from django.db.models import Prefetch, QuerySet

from accounts.selectors import visible_to
from generation.models import GeneratedImage, Prompt

IMAGE_LIST_DEFERRED = ("encoded_image",)


def generated_images_visible(*, user, with_content: bool = False) -> QuerySet[GeneratedImage]:
    """Generated images `user` may see; `encoded_image` deferred unless `with_content`."""
    images = GeneratedImage.objects.all()
    if not with_content:
        images = images.defer(*IMAGE_LIST_DEFERRED)
    return visible_to(images, user=user, owner_field="user")


def prompts_visible(*, user) -> QuerySet[Prompt]:
    """Prompts `user` may see, with their image ids prefetched (one query, no image bytes)."""
    image_ids = GeneratedImage.objects.only("id", "prompt_id").order_by("id")
    prompts = Prompt.objects.prefetch_related(Prefetch("generated_images", queryset=image_ids))
    return visible_to(prompts, user=user, owner_field="user")
