"""Small copies of stored pictures for admin pages, answered by admin-only views: never a public
URL, and only to someone whose admin queryset holds the row (the views check that first)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from PIL import Image as PILImage

THUMBNAIL_SIZE = 160
UNREADABLE = (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError, SuspiciousFileOperation)


def thumbnail_bytes(handle: BinaryIO, *, size: int = THUMBNAIL_SIZE) -> tuple[bytes, str]:
    """A PNG (pictures with transparency) or JPEG at most `size` pixels wide and high."""
    with PILImage.open(handle) as picture:
        picture.draft("RGB", (size * 2, size * 2))
        picture.thumbnail((size, size))
        output = io.BytesIO()
        if picture.mode in ("RGBA", "LA", "P"):
            picture.convert("RGBA").save(output, "PNG", optimize=True)
            return output.getvalue(), "image/png"
        picture.convert("RGB").save(output, "JPEG", quality=80)
        return output.getvalue(), "image/jpeg"


def thumbnail_response(open_source: Callable[[], BinaryIO], *, size: int = THUMBNAIL_SIZE) -> HttpResponse:
    """The thumbnail of what `open_source()` opens; 404 when it is missing or not a picture."""
    try:
        with open_source() as handle:
            data, content_type = thumbnail_bytes(handle, size=size)
    except UNREADABLE:
        raise Http404("The picture is missing or unreadable.") from None
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def stored_thumbnail_response(key: str, *, size: int = THUMBNAIL_SIZE) -> HttpResponse:
    """The thumbnail of a file in the default storage."""
    if not key or not isinstance(key, str) or key.startswith("/") or ".." in key.split("/"):
        raise Http404("No stored picture.")
    return thumbnail_response(lambda: default_storage.open(key, "rb"), size=size)
