"""The public end of core.signed_media: `GET media/signed/<token>/` streams the stored file.

No sign-in: the signed token is the permission (a receiver such as a blog's webhook fetches the
images of a post it was sent). A token we did not sign, or one naming a key outside the storage,
is 404; one past its expiry is 410 Gone; a file no longer stored is 404. The answer may be cached
privately for what is left of the token's life, never longer.

Only pictures, videos and audio are served inline with their type (guessed from the key's
extension); anything else goes out as an `application/octet-stream` attachment. Every answer
carries `nosniff` and a sandboxing Content-Security-Policy, so a stored SVG or HTML file opened
from the link cannot run a script in this origin.
"""

from __future__ import annotations

import mimetypes
import posixpath

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.views.decorators.http import require_safe

from core.signed_media import SignedMediaExpired, SignedMediaRefused, signed_media_file

INLINE_PREFIXES = ("image/", "video/", "audio/")


def media_content_type(storage_key: str) -> tuple[str, bool]:
    """(content type, inline) of a stored file, from its extension."""
    guessed, _ = mimetypes.guess_type(storage_key, strict=False)
    if guessed and guessed.startswith(INLINE_PREFIXES):
        return guessed, True
    return "application/octet-stream", False


@require_safe
def signed_media(request, token: str) -> HttpResponse:
    try:
        granted = signed_media_file(token=token)
    except SignedMediaExpired as exc:
        return _plain(exc.message, status=410)
    except SignedMediaRefused:
        raise Http404("No such file.") from None
    try:
        handle = default_storage.open(granted.storage_key, "rb")
    except (FileNotFoundError, OSError, SuspiciousFileOperation):
        raise Http404("No such file.") from None
    content_type, inline = media_content_type(granted.storage_key)
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not inline,
        filename=posixpath.basename(granted.storage_key),
    )
    response["Cache-Control"] = f"private, max-age={granted.remaining()}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _plain(message: str, *, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
