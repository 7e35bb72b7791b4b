"""The generation app's images as attachment sources for workflows (core.media_sources):
`generated` (ref: a generated image's id) and `persona` (ref: "<persona id>/<n>", n from 1).
Only the owner's own images are offered; anything else is "not found", existing or not.
`generated_image_choices` lists the newest for the admin's "Add media" form."""

import base64
import binascii
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.text import Truncator

from core.media_sources import SourcedMedia
from generation.models import GeneratedImage, GeneratedPersona

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def generated_image_fetch(*, user, ref: str) -> SourcedMedia:
    image = None
    if str(ref).isdigit():
        image = GeneratedImage.objects.filter(pk=int(ref), user_id=user.pk).first()
    if image is None:
        raise LookupError(f"You have no generated image {ref}.")
    try:
        data = base64.b64decode(image.encoded_image, validate=True)
    except (binascii.Error, ValueError):
        raise LookupError(f"Generated image {ref} is not readable.") from None
    extension = EXTENSIONS.get(image.mime_type, "png")
    return SourcedMedia(
        data=data, filename=f"generated-{image.pk}.{extension}", label=f"Generated image {image.pk}"
    )


def generated_image_choices(*, user, limit: int) -> list[tuple[str, str]]:
    """The user's newest generated images as (ref, label), without loading the images."""
    rows = (
        GeneratedImage.objects.filter(user_id=user.pk)
        .order_by("-created_at", "-pk")
        .values_list("pk", "created_at", "prompt__prompt_text")[:limit]
    )
    return [
        (
            str(pk),
            f"Generated image {pk}, {timezone.localtime(created):%Y-%m-%d %H:%M}"
            + (f": {Truncator(' '.join(text.split())).chars(60)}" if text else ""),
        )
        for pk, created, text in rows
    ]


def persona_image_fetch(*, user, ref: str) -> SourcedMedia:
    persona_id, _, number = str(ref).partition("/")
    persona = None
    if persona_id.isdigit() and number.isdigit():
        persona = GeneratedPersona.objects.filter(pk=int(persona_id), task__user_id=user.pk).first()
    keys = list(persona.images or []) if persona is not None else []
    index = int(number) - 1 if number.isdigit() else -1
    if not 0 <= index < len(keys) or not isinstance(keys[index], str):
        raise LookupError(f"You have no persona image {ref} (give '<persona id>/<image number from 1>').")
    try:
        with default_storage.open(keys[index], "rb") as handle:
            data = handle.read()
    except OSError:
        raise LookupError(f"Persona image {ref} is missing from storage.") from None
    name = persona.full_name or f"persona {persona.pk}"
    return SourcedMedia(
        data=data, filename=PurePosixPath(keys[index]).name, label=f"{name}, image {index + 1}"
    )
