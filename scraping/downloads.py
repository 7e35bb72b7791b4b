"""An artifact's stored bytes as a download, for the API and the admin alike.

Always an attachment, never sniffed or run by the browser: scraped HTML served inline from our
origin could script against the API. The name is safe in any file system and header.
"""

import mimetypes
import re
import unicodedata
from urllib.parse import urlsplit

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse

from scraping.models import Artifact

FILENAME_MAX_CHARS = 100
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class StoredFileMissing(Exception):
    """The artifact's file is not in the storage (each screen answers its own 404)."""


def download_content_type(artifact: Artifact) -> str:
    mime_type = (artifact.mime_type or "").strip().lower()
    return mime_type if _MIME_TYPE.match(mime_type) else "application/octet-stream"


def download_filename(artifact: Artifact) -> str:
    """A name safe in any file system and header: ASCII letters, digits, `.`, `_`, `-`, bounded,
    with the extension of the content type."""
    url_name = urlsplit(artifact.source_url or "").path.rstrip("/").rsplit("/", 1)[-1]
    base = artifact.title or url_name or ""
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _UNSAFE_FILENAME_CHARS.sub("-", base).strip("-._")[:FILENAME_MAX_CHARS]
    base = base or f"artifact-{artifact.content_hash[:12]}"
    extension = mimetypes.guess_extension(download_content_type(artifact)) or ""
    if extension and not base.lower().endswith(extension):
        base += extension
    return base


def artifact_download_response(artifact: Artifact) -> FileResponse:
    """Stream the stored bytes as an attachment; StoredFileMissing when they are gone."""
    try:
        handle = default_storage.open(artifact.minio_path, "rb")
    except (FileNotFoundError, OSError, SuspiciousFileOperation):
        raise StoredFileMissing() from None
    response = FileResponse(
        handle,
        content_type=download_content_type(artifact),
        as_attachment=True,
        filename=download_filename(artifact),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-cache"
    return response
