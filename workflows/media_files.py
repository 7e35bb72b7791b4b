"""Reading an attachment's bytes: what it is (by its content, never by its name or the client's
word), how large, and where it is stored.

Images are opened with Pillow without decoding the pixels (the header says the size), so a
decompression bomb is refused before it costs memory; videos are recognised by their container's
signature (ISO media `ftyp` for MP4 and QuickTime, the EBML header with the `webm` doctype).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

# The largest file accepted at all; each network's own (smaller) limits are checked on top.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 200 * 1024 * 1024
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's own bomb guard
PILLOW_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}
READABLE = "JPEG, PNG, GIF, WebP, MP4, WebM or MOV"


class MediaUnreadable(ValueError):
    """The bytes are not media this project accepts; the message says why."""


@dataclass(frozen=True, kw_only=True)
class MediaFacts:
    media_type: str
    size: int
    width: int | None
    height: int | None
    sha256: str


def _video_type(data: bytes) -> str | None:
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in data[:64]:
        return "video/webm"
    return None


def media_facts(data: bytes) -> MediaFacts:
    """What `data` is; MediaUnreadable for anything else, empty, too large or too many pixels."""
    if not data:
        raise MediaUnreadable("The file is empty.")
    digest = hashlib.sha256(data).hexdigest()
    video = _video_type(data)
    if video is not None:
        if len(data) > MAX_VIDEO_BYTES:
            raise MediaUnreadable(f"The video is larger than {MAX_VIDEO_BYTES // 1048576} MB.")
        return MediaFacts(media_type=video, size=len(data), width=None, height=None, sha256=digest)
    if len(data) > MAX_IMAGE_BYTES:
        raise MediaUnreadable(f"The image is larger than {MAX_IMAGE_BYTES // 1048576} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                media_type = PILLOW_TYPES.get(image.format or "")
                width, height = image.size
                if media_type is not None and width * height <= MAX_PIXELS:
                    image.verify()  # structure and checksums, without decoding the pixels
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaUnreadable(f"The image has more than {MAX_PIXELS:,} pixels; it was not decoded.") from None
    except UnidentifiedImageError:
        raise MediaUnreadable(f"The file is not an image or video this project reads ({READABLE}).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaUnreadable(f"The image is damaged and cannot be read ({exc}).") from None
    if media_type is None:
        raise MediaUnreadable(f"{image.format} images are not accepted; use {READABLE}.")
    if width * height > MAX_PIXELS:
        raise MediaUnreadable(f"The image is {width}x{height} pixels, more than {MAX_PIXELS:,} pixels.")
    return MediaFacts(media_type=media_type, size=len(data), width=width, height=height, sha256=digest)


def media_store(*, data: bytes, facts: MediaFacts, owner_id: int) -> str:
    """Save under `workflow-media/<owner>/<sha256>.<ext>` (the same bytes are stored once)."""
    key = f"workflow-media/{int(owner_id)}/{facts.sha256}.{EXTENSIONS[facts.media_type]}"
    if not default_storage.exists(key):
        saved = default_storage.save(key, ContentFile(data))
        if saved != key:  # another worker stored the same bytes meanwhile
            default_storage.delete(saved)
    return key


def media_read(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return handle.read()
