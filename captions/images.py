"""Download, normalise and store the images that get captions.

Three steps, each a function, so the scan and the caption tasks can retry, record and test them
one by one:

- `download_image`: one HTTP GET with timeouts, a size cap enforced while streaming (a missing or
  lying Content-Length does not help an attacker), at most 5 redirects, http/https only. It does not
  retry: it says whether a failure is transient and the caller's retry policy decides.
- `normalise_image`: Pillow reads the image header first and refuses oversized dimensions before a
  single pixel is decoded (decompression bombs), then applies the EXIF orientation, converts the mode,
  shrinks the longest side to 1024 px and writes PNG (when transparency matters) or JPEG quality 85.
  The output carries no EXIF, so camera GPS positions do not travel to caption backends.
- `store_image`: content-addressed storage through Django's default storage, so the same bytes are
  stored once whatever the backend (local disk in development, S3 in production).

Errors are `ImageRejected` (the image itself is unusable: retrying cannot help) and
`ImageUnavailable` (the server did not hand it over; `transient` says whether a retry may help).
Their message is written for the image's `processing_error`.
"""

import hashlib
import io
import re
import struct
import time
import warnings
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from core.urlguard import OutboundRefused, guarded_client

__all__ = [
    "DownloadedImage",
    "ImageError",
    "ImageRejected",
    "ImageUnavailable",
    "NormalisedImage",
    "download_image",
    "normalise_image",
    "store_image",
]

MAX_REDIRECTS = 5
USER_AGENT = "socialdesk-captions (+https://github.com/)"
CHUNK_SIZE = 64 * 1024
JPEG_QUALITY = 85

# Formats read. Pillow's other readers include ones that shell out (EPS runs Ghostscript) or see
# little use and little scrutiny; a photo from the fediverse is one of these. HEIF only counts when a
# plugin (pillow-heif) registered it.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF")

# What Pillow's decoders raise on corrupt input (struct.error from header parsers, EOFError from
# frame seeking, KeyError/IndexError/TypeError from broken EXIF or palettes).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)


class ImageError(Exception):
    """Base of the image errors; `reason` is the message for `processing_error`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ImageRejected(ImageError):
    """The image cannot be used: wrong scheme, too large, too small, corrupt, unsupported format."""


class ImageUnavailable(ImageError):
    """The server did not deliver the image. `transient`: a later retry may succeed.

    `status` is the HTTP status when there was one; `retry_after` the seconds a 429/503 asked for.
    """

    def __init__(
        self, reason: str, transient: bool, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(reason)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class DownloadedImage:
    data: bytes
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class NormalisedImage:
    data: bytes
    mime_type: str  # "image/jpeg" or "image/png"
    width: int
    height: int
    original_format: str
    original_width: int
    original_height: int


# --- download ------------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def _check_scheme(url: httpx.URL, *, raw: str) -> None:
    if url.scheme not in ("http", "https"):
        scheme = url.scheme or "no scheme"
        raise ImageRejected(f"Only http and https image URLs can be downloaded, not {scheme}: {raw}")
    if not url.host:
        raise ImageRejected(f"The image URL has no host: {raw}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def _status_error(response: httpx.Response) -> ImageUnavailable:
    status = response.status_code
    where = str(response.url)
    if status in (404, 410):
        return ImageUnavailable(
            f"The image is gone from {where} (HTTP {status}).", transient=False, status=status
        )
    if status in (408, 429) or status >= 500:
        what = "is rate-limiting requests" if status == 429 else "failed to answer"
        return ImageUnavailable(
            f"The image server {what} (HTTP {status}) for {where}; try again later.",
            transient=True,
            status=status,
            retry_after=_retry_after(response),
        )
    return ImageUnavailable(
        f"The image server refused {where} (HTTP {status}).", transient=False, status=status
    )


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float, timeout: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ImageRejected(
            f"The image is {_megabytes(int(declared))}, over the limit of {_megabytes(max_bytes)}."
        )
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_bytes(CHUNK_SIZE):
        received += len(chunk)
        if received > max_bytes:
            raise ImageRejected(f"The image is larger than the limit of {_megabytes(max_bytes)}.")
        if time.monotonic() > deadline:
            raise ImageUnavailable(f"Downloading the image took longer than {timeout:g} s.", transient=True)
        chunks.append(chunk)
    return b"".join(chunks)


def download_image(
    *,
    url: str,
    timeout: float = 30,
    max_bytes: int = 20 * 1024 * 1024,
    client: httpx.Client | None = None,
) -> DownloadedImage:
    """GET an image, following at most 5 redirects, refusing more than `max_bytes`.

    `timeout` bounds each connect/read and the whole download. Pass `client` (from
    `core.urlguard.guarded_client`, so every address is checked) to share a connection pool; its
    redirect setting is ignored: redirects are followed here, hop by hop, and counted.
    """
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ImageRejected(f"The image URL is not valid: {url!r} ({exc}).") from None
    _check_scheme(current, raw=url)

    owned = client is None
    http = client or guarded_client(headers={"User-Agent": USER_AGENT})
    deadline = time.monotonic() + timeout
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            request = http.build_request("GET", current, headers={"Accept": "image/*"}, timeout=timeout)
            response = http.send(request, stream=True, follow_redirects=False)
            try:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    try:
                        current = current.join(location)
                    except httpx.InvalidURL:
                        raise ImageUnavailable(
                            f"{current} redirected to an invalid URL {location!r}.", transient=False
                        ) from None
                    _check_scheme(current, raw=str(current))
                    continue
                if response.status_code != 200:
                    raise _status_error(response)
                content_type = response.headers.get("Content-Type")
                media_type = (content_type or "").split(";")[0].strip().lower()
                if media_type.startswith("text/") or media_type in ("application/json", "application/xml"):
                    raise ImageRejected(f"{response.url} answered with {media_type}, not an image.")
                data = _read_capped(response, max_bytes=max_bytes, deadline=deadline, timeout=timeout)
                return DownloadedImage(data=data, content_type=content_type, final_url=str(response.url))
            finally:
                response.close()
        raise ImageUnavailable(
            f"The image URL {url} redirected more than {MAX_REDIRECTS} times.", transient=False
        )
    except OutboundRefused as exc:
        raise ImageRejected(f"The image URL was refused: {exc}") from None
    except httpx.TimeoutException:
        raise ImageUnavailable(
            f"The image server did not answer within {timeout:g} s ({current}).", transient=True
        ) from None
    except httpx.UnsupportedProtocol:
        raise ImageRejected(f"Only http and https image URLs can be downloaded: {current}") from None
    except httpx.DecodingError:
        raise ImageUnavailable(
            f"The image server sent a body that could not be decoded ({current}).", transient=False
        ) from None
    except httpx.TransportError as exc:
        raise ImageUnavailable(
            f"The image server could not be reached ({current}): {exc.__class__.__name__}.", transient=True
        ) from None
    finally:
        if owned:
            http.close()


# --- normalise -----------------------------------------------------------------------------------


def _sniff_format(data: bytes) -> str | None:
    """Name formats Pillow may not read here, so the rejection says what the file was."""
    head = data[:64]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"):
            return "HEIC/HEIF"
        if brand in (b"avif", b"avis"):
            return "AVIF"
    stripped = head.lstrip()
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in data[:1024]):
        return "SVG"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "PostScript/EPS"
    if head.startswith((b"<!DOCTYPE", b"<!doctype", b"<html", b"<HTML")):
        return "HTML"
    return None


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    Image.init()
    formats = [name for name in ACCEPTED_FORMATS if name in Image.OPEN]
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 M pixels; the size check below is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError:
        raise ImageRejected(
            "The image has too many pixels to decode safely (decompression bomb guard); it was not decoded."
        ) from None
    except UnidentifiedImageError:
        sniffed = _sniff_format(data)
        if sniffed:
            raise ImageRejected(
                f"{sniffed} images are not supported here (Pillow on this server cannot read them)."
            ) from None
        raise ImageRejected("The file is not an image in a readable format, or it is corrupt.") from None
    except DECODE_ERRORS as exc:
        raise ImageRejected(f"The image is corrupt: {exc or exc.__class__.__name__}.") from None
    return image


def _has_transparency(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
        return alpha.getextrema()[0] < 255
    return False


def _to_output_mode(image: Image.Image) -> Image.Image:
    """RGBA when the image has real transparency, else RGB (CMYK, palette, grey, 16-bit included)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Scale 16-bit samples into 8 bits; a plain convert would clip everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if _has_transparency(image):
        return image.convert("RGBA")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def normalise_image(
    *,
    data: bytes,
    max_side: int = 1024,
    min_side: int = 50,
    max_pixels: int = 10_000 * 10_000,
) -> NormalisedImage:
    """Decode an image safely and return it upright, at most `max_side` px long, as JPEG or PNG."""
    if not data:
        raise ImageRejected("The image is empty (0 bytes).")
    image = _open(data, max_pixels=max_pixels)
    original_format = image.format or "unknown"
    original_width, original_height = image.size
    if original_width * original_height > max_pixels:
        raise ImageRejected(
            f"The image is {original_width}x{original_height} pixels, more than the limit of "
            f"{max_pixels:,} pixels; it was not decoded."
        )
    if original_width < min_side or original_height < min_side:
        raise ImageRejected(
            f"The image is {original_width}x{original_height} pixels; images smaller than {min_side} "
            "pixels on a side are not captioned."
        )

    try:
        if original_format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result stays above max_side.
            image.draft(image.mode, (max_side, max_side))
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_output_mode(image)
        if max(image.size) > max_side:
            scale = max_side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        output = io.BytesIO()
        if image.mode == "RGBA":
            image.save(output, "PNG", optimize=True)
            mime_type = "image/png"
        else:
            image.save(output, "JPEG", quality=JPEG_QUALITY, optimize=True)
            mime_type = "image/jpeg"
    except Image.DecompressionBombError:
        raise ImageRejected(
            f"The image is larger than {max_pixels:,} pixels (decompression bomb guard)."
        ) from None
    except DECODE_ERRORS as exc:
        detail = str(exc) or exc.__class__.__name__
        if "truncated" in detail:
            raise ImageRejected(f"The {original_format} image is truncated: {detail}.") from None
        raise ImageRejected(
            f"The {original_format} image is corrupt and cannot be decoded: {detail}."
        ) from None

    return NormalisedImage(
        data=output.getvalue(),
        mime_type=mime_type,
        width=image.width,
        height=image.height,
        original_format=original_format,
        original_width=original_width,
        original_height=original_height,
    )


# --- store ---------------------------------------------------------------------------------------

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$")


_SAFE_KEY = re.compile(r"^captions/[A-Za-z0-9_/-]+\.[a-z0-9]+$")


def stored_key_ok(key: str | None) -> bool:
    """A storage key of the captions folder that cannot climb out of it (checked before a stored
    copy is served, by the API and the admin alike)."""
    return bool(key) and bool(_SAFE_KEY.match(key)) and ".." not in key


def store_image(*, data: bytes, mime_type: str, key_prefix: str) -> str:
    """Save normalised image bytes as `captions/<key_prefix>/<sha256>.<ext>`; return the storage key.

    The name is the content's hash, so storing the same bytes again returns the same key without a
    second write. `key_prefix` is one or more path segments of letters, digits, "-" and "_" (a
    connection id, say), so a prefix can never climb out of the captions folder.
    """
    extension = EXTENSIONS.get(mime_type)
    if extension is None:
        raise ValueError(f"Only normalised JPEG or PNG images are stored, not {mime_type!r}.")
    if not _KEY_PREFIX.match(key_prefix or ""):
        raise ValueError(f"Invalid key prefix {key_prefix!r}: use letters, digits, '-', '_' and '/'.")
    if not data:
        raise ValueError("Refusing to store an empty image.")
    key = f"captions/{key_prefix}/{hashlib.sha256(data).hexdigest()}.{extension}"
    if default_storage.exists(key):
        return key
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:
        # Another worker stored the same bytes between exists() and save(); the storage kept both
        # under different names. Keep the canonical one.
        default_storage.delete(saved)
    return key
