"""Captions for images a user uploads (seed 002 `image_captions`), kept per user.

The upload's type is decided by its content, never by its name or the client's Content-Type:
Pillow identifies raster images from their bytes (a PNG named `.jpg` is a PNG), animated PNGs
are told from PNGs by their `acTL` chunk, and SVG by a strict XML sniff. Anything else is
refused. Raster images are normalised (captions.images: upright, at most 1024 px, JPEG or PNG,
EXIF and its GPS positions dropped) before a backend sees or storage keeps them.

SVG is never rasterised here: an SVG is a program of sorts (external references, scripts,
entity tricks) and this project ships no SVG renderer. A DOCTYPE (and so any entity) is refused
outright; what remains is parsed by expat, which then cannot expand or fetch anything. With the
builtin backend the caption is the builtin's kind of plain description, of a vector drawing
(shape, `<title>`, whether it holds text), marked as basic in the same way; a backend that needs
pixels (`openai`) refuses SVG with a clear 400 rather than pretend.

The image is classified and captioned with the category's prompt (captions.prompts), as the scan's
images are. The caption is written before anything is stored, so a backend failure leaves no row and no file.
"""

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from xml.etree import ElementTree

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from captions.images import ImageRejected, normalise_image, store_image
from captions.models import ImageCaption, ImageCaptionType
from captions.prompts import caption_prompt
from captions.quality import caption_fit
from core.ai import AIBackend, CaptionRequest, ImageInput, backend_for

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DetectedType",
    "detect_image_type",
    "image_caption_create",
    "image_caption_delete",
    "image_caption_store",
    "max_upload_bytes",
    "svg_description",
]

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # as for downloaded images (ORIGINALS, Vedfolnir)
CAPTION_MAX_LENGTH = 1500  # Mastodon's default description limit
# The length budget the prompt asks for (the defaults of the caption settings).
OPTIMAL_RANGE = (80, 200)
JPEG_SPELLINGS = ("jpeg", "jpg", "jpe")
PIL_FORMATS = {
    "JPEG": ImageCaptionType.JPEG,
    "MPO": ImageCaptionType.JPEG,  # a JPEG with extra frames (many phone cameras)
    "PNG": ImageCaptionType.PNG,
    "GIF": ImageCaptionType.GIF,
    "WEBP": ImageCaptionType.WEBP,
    "BMP": ImageCaptionType.BMP,
    "TIFF": ImageCaptionType.TIFF,
    "AVIF": ImageCaptionType.AVIF,
}
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
SVG_SNIFF_CHARS = 4096
_PROLOG = re.compile(r"\A(?:\s+|<\?xml[^>]*\?>|<!--.*?-->)*", re.DOTALL)
_DOCTYPE = re.compile(r"<!DOCTYPE\s+([\w:.-]+)([^>]*)>", re.IGNORECASE)
ENTITY_REFUSAL = "SVG files that declare XML entities (a DOCTYPE with an internal subset) are refused."
_SVG_ROOT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?svg[\s/>]")
_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:px|pt|mm|cm|in|)\s*$")


def max_upload_bytes() -> int:
    """The upload size limit: settings.CAPTION_UPLOAD_MAX_BYTES, default 20 MB."""
    return int(getattr(settings, "CAPTION_UPLOAD_MAX_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def _refuse(message: str) -> ValidationError:
    return ValidationError({"image": message})


# --- type by content ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectedType:
    image_type: str  # an ImageCaptionType value
    svg_root: ElementTree.Element | None = None  # the parsed root, for SVG only


def _is_apng(data: bytes) -> bool:
    """A PNG is animated when an `acTL` chunk comes before the first `IDAT` (APNG spec)."""
    offset = 8
    while offset + 8 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        if kind == b"acTL":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        offset += 12 + length
    return False


def _svg_root(data: bytes) -> ElementTree.Element | None:
    """The root element when the bytes are an SVG document, None when they are not SVG at all;
    ValidationError for an SVG this service will not read.

    A DOCTYPE is accepted only without an internal subset (the `<!DOCTYPE svg PUBLIC ...>` line
    drawing programs write): expat does not fetch external DTDs, so with no internal subset there
    is no entity to expand. An internal subset or any `<!ENTITY` is refused.
    """
    head = data[:SVG_SNIFF_CHARS].removeprefix(b"\xef\xbb\xbf")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not text (a character cut at the sniff boundary is fine)
            return None
        text = head[: exc.start].decode("utf-8")
    rest = text[_PROLOG.match(text).end() :]
    doctype = _DOCTYPE.match(rest)
    if doctype:
        if doctype.group(1).rsplit(":", 1)[-1].lower() != "svg":
            return None  # HTML or some other XML
        if "[" in doctype.group(2):
            raise _refuse(ENTITY_REFUSAL)
        rest = rest[doctype.end() :]
        rest = rest[_PROLOG.match(rest).end() :]
    if not _SVG_ROOT.match(rest):
        return None
    if b"<!ENTITY" in data.upper():
        raise _refuse(ENTITY_REFUSAL)
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 -- no internal DTD subset, no entities
    except ElementTree.ParseError as exc:
        raise _refuse(f"The SVG file is not well-formed XML ({exc}).") from None
    if root.tag not in ("svg", f"{{{SVG_NAMESPACE}}}svg"):
        raise _refuse("The XML file's root element is not an SVG <svg> element.")
    return root


def detect_image_type(*, data: bytes, filename: str | None = None) -> DetectedType:
    """The seed's image type of `data`, from its bytes. The file name only picks the spelling of
    JPEG ("jpg", "jpe" or "jpeg"), since the seed lists all three. ValidationError on field
    `image` for anything that is not one of the seed's types."""
    if not data:
        raise _refuse("The file is empty.")
    root = _svg_root(data)
    if root is not None:
        return DetectedType(image_type=ImageCaptionType.SVG, svg_root=root)
    PILImage.init()
    formats = [name for name in PIL_FORMATS if name in PILImage.OPEN]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=formats) as image:
                found = image.format
    except PILImage.DecompressionBombError:
        raise _refuse("The image has too many pixels to decode safely.") from None
    except UnidentifiedImageError:
        accepted = ", ".join(ImageCaptionType.values)
        raise _refuse(f"The file's content is not an image of an accepted type ({accepted}).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _refuse(f"The image is corrupt: {exc or exc.__class__.__name__}.") from None
    image_type = PIL_FORMATS[found]
    if image_type == ImageCaptionType.PNG and _is_apng(data):
        image_type = ImageCaptionType.APNG
    if image_type == ImageCaptionType.JPEG:
        extension = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
        if extension in JPEG_SPELLINGS:
            image_type = ImageCaptionType(extension)
    return DetectedType(image_type=image_type)


# --- SVG description ---------------------------------------------------------------------------

SHAPES = ("path", "rect", "circle", "ellipse", "line", "polyline", "polygon")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _size(root: ElementTree.Element) -> tuple[float, float] | None:
    width, height = (_LENGTH.match(root.get(name) or "") for name in ("width", "height"))
    if width and height:
        return float(width.group(1)), float(height.group(1))
    parts = re.split(r"[\s,]+", (root.get("viewBox") or "").strip())
    if len(parts) == 4:
        try:
            return float(parts[2]), float(parts[3])
        except ValueError:
            return None
    return None


def svg_description(root: ElementTree.Element, *, max_length: int = CAPTION_MAX_LENGTH) -> str:
    """A plain, honest sentence about a vector drawing, from its markup alone (nothing rendered):
    its shape, its `<title>` when it has one, and whether it holds text or embedded pictures."""
    size = _size(root)
    shape = ""
    if size and size[0] > 0 and size[1] > 0:
        ratio = size[0] / size[1]
        shape = (
            "square "
            if abs(ratio - 1) <= 0.05
            else ("landscape-format " if ratio > 1 else "portrait-format ")
        )
    elements = [_local(element.tag) for element in root.iter()]
    title = next(
        (" ".join("".join(child.itertext()).split()) for child in root if _local(child.tag) == "title"), ""
    )
    clauses = []
    if "text" in elements:
        clauses.append("it contains text")
    if "image" in elements:
        clauses.append("it embeds a picture")
    shapes = sum(1 for name in elements if name in SHAPES)
    core = f"A {shape}vector drawing (SVG)"
    candidates = []
    if title:
        candidates.append(
            f'{core} titled "{title}"' + ("; " + ", and ".join(clauses) if clauses else "") + "."
        )
    if clauses:
        candidates.append(f"{core}; " + ", and ".join(clauses) + ".")
    if shapes:
        candidates.append(f"{core} of {shapes} shape{'s' if shapes != 1 else ''}.")
    candidates += [f"{core}.", "A vector drawing."]
    for sentence in candidates:
        if len(sentence) <= max_length:
            return sentence
    return caption_fit(text=candidates[-1], max_length=max_length)


# --- storage -----------------------------------------------------------------------------------


def _store_svg(*, data: bytes, key_prefix: str) -> str:
    """SVGs are stored as uploaded (content-addressed like store_image); they are never served."""
    key = f"captions/{key_prefix}/{hashlib.sha256(data).hexdigest()}.svg"
    if not default_storage.exists(key):
        saved = default_storage.save(key, ContentFile(data))
        if saved != key:
            default_storage.delete(saved)
    return key


def _key_prefix(user: User) -> str:
    return f"uploads/{int(user.pk)}"


# --- services ----------------------------------------------------------------------------------


def image_caption_create(
    *,
    user: User,
    data: bytes,
    filename: str | None = None,
    language: str | None = None,
    backend: AIBackend | None = None,
    meta: RequestMeta | None = None,
) -> ImageCaption:
    """Caption an uploaded image and keep it for `user`.

    Raises ValidationError (field `image`) for an empty, oversized, unreadable or unaccepted file,
    and the backend's AIError subclasses (AIUnavailable: try later; AIRefused; ...) unchanged; in
    every failure nothing is stored.
    """
    limit = max_upload_bytes()
    if len(data) > limit:
        raise _refuse(f"The file is {_megabytes(len(data))}, over the limit of {_megabytes(limit)}.")
    detected = detect_image_type(data=data, filename=filename)
    backend = backend or backend_for(user=user)
    metadata: dict = {}
    if detected.image_type == ImageCaptionType.SVG:
        if backend.name != "builtin":
            raise _refuse(
                f"SVG images are not rasterised on this server, and the configured caption backend "
                f"({backend.name}) needs pixels. Upload a PNG or JPEG export of the drawing."
            )
        text = svg_description(detected.svg_root)
        stored = {"data": data, "mime_type": "image/svg+xml"}
        metadata = {"backend": "builtin", "basic_description": True, "vector": True}
    else:
        try:
            normalised = normalise_image(data=data)
        except ImageRejected as exc:
            raise _refuse(exc.reason) from None
        image = ImageInput(data=normalised.data, mime_type=normalised.mime_type)
        category, _confidence = backend.classify_image(image)
        prompt = caption_prompt(
            category=category,
            language=language,
            max_length=CAPTION_MAX_LENGTH,
            optimal_min=OPTIMAL_RANGE[0],
            optimal_max=OPTIMAL_RANGE[1],
        )
        result = backend.caption_image(
            CaptionRequest(image=image, prompt=prompt, language=language, max_length=CAPTION_MAX_LENGTH)
        )
        text = result.text
        stored = {"data": normalised.data, "mime_type": normalised.mime_type}
        metadata = {"backend": result.backend, "model": result.model, "category": str(category)}
    text = caption_fit(text=text, max_length=CAPTION_MAX_LENGTH)
    if not text:
        raise _refuse("The caption backend returned an empty caption for this image.")

    if stored["mime_type"] == "image/svg+xml":
        key = _store_svg(data=stored["data"], key_prefix=_key_prefix(user))
    else:
        key = store_image(data=stored["data"], mime_type=stored["mime_type"], key_prefix=_key_prefix(user))
    meta = meta or RequestMeta()
    with transaction.atomic():
        caption = ImageCaption.objects.create(
            user=user, image_path=key, image_type=detected.image_type, caption_text=text
        )
        audit_log_write(
            action="image_caption.created",
            actor=user,
            target=caption,
            details={"image_type": detected.image_type, "size": len(data), **metadata},
            meta=meta,
        )
    return caption


def image_caption_delete(
    *, caption: ImageCaption, actor: User | None, meta: RequestMeta | None = None
) -> None:
    """Delete the row; its stored file goes too once no other caption of the user refers to it
    (files are content-addressed, so two uploads of the same image share one)."""
    meta = meta or RequestMeta()
    key = caption.image_path
    with transaction.atomic():
        deleted, _ = ImageCaption.objects.filter(pk=caption.pk).delete()
        if not deleted:
            return
        audit_log_write(
            action="image_caption.deleted",
            actor=actor,
            target=caption,
            details={"owner": caption.user_id},
            meta=meta,
        )
        if key.startswith("captions/uploads/") and not ImageCaption.objects.filter(image_path=key).exists():
            transaction.on_commit(lambda: default_storage.delete(key))


def image_caption_store(
    *,
    user: User,
    caption_text: str,
    image_path: str,
    image_type: str,
    media_generation_id: str | None = None,
    details: dict | None = None,
    meta: RequestMeta | None = None,
) -> ImageCaption:
    """Keep a caption written elsewhere (e.g. of a generated image, by an image backend).

    Additive to `image_caption_create` for images that are already stored somewhere else:
    `image_path` names where (for generated images `generation/images/<id>`, not a storage key,
    so `image_caption_delete` leaves it alone). The text is fitted to the caption limit.
    """
    if image_type not in ImageCaptionType.values:
        raise ValidationError({"image_type": f"Unknown image type {image_type!r}."})
    text = caption_fit(text=caption_text, max_length=CAPTION_MAX_LENGTH)
    if not text:
        raise _refuse("The caption backend returned an empty caption for this image.")
    with transaction.atomic():
        caption = ImageCaption.objects.create(
            user=user,
            image_path=image_path,
            image_type=image_type,
            caption_text=text,
            media_generation_id=media_generation_id,
        )
        audit_log_write(
            action="image_caption.created",
            actor=user,
            target=caption,
            details={"image_type": image_type, "media_generation_id": media_generation_id, **(details or {})},
            meta=meta or RequestMeta(),
        )
    return caption
