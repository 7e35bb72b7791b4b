"""The offline image backend: a deterministic picture from (prompt, seed, index, aspect ratio).

It does not understand the prompt. It hashes the inputs and draws a two-colour gradient with a few
shapes whose colours and positions come from the hash, so the same request always gives the same
pixels (tests, demos, a first run without any service), and different prompts or seeds give
visibly different pictures. Every result says so in its metadata (`synthetic: True` and a note), so
nobody mistakes it for a generated illustration of the prompt.

With a `reference` (persona variations) each image is a deterministic variation of the reference:
a crop of 80-95 % at a hash-chosen offset, a mirror for odd hashes, and a light tint, resized to
the requested aspect ratio. Captions are the builtin AI backend's measured descriptions.

`media_generation_id` is unique per call (`builtin-<uuid>`), because the column is unique and the
same prompt may be run twice; the deterministic part is `metadata["fingerprint"]`.
"""

from __future__ import annotations

import hashlib
import io
import uuid

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from core.ai.base import AIInvalidImage
from core.ai.builtin import classify_measurements, describe
from core.ai.image_analysis import analyse_image
from generation.backends.base import ImageBackendError, ImageRequest, ImageResult
from generation.models import AspectRatio

MODEL_NAME = "builtin-gradient-1"
SIZES = {
    AspectRatio.SQUARE: (512, 512),
    AspectRatio.PORTRAIT: (288, 512),
    AspectRatio.LANDSCAPE: (512, 288),
    AspectRatio.UNSPECIFIED: (512, 512),
}
SHAPES = 5
MAX_REFERENCE_PIXELS = 40_000_000
NOTE = (
    "Synthetic placeholder drawn offline from a hash of the prompt, seed and index; it does not "
    "depict the prompt. Configure IMAGE_BACKEND=openai or imagefx for generated images."
)
VARIATION_NOTE = (
    "Synthetic variation of the reference image (crop, mirror, tint chosen from a hash); it does not "
    "depict the prompt."
)


class BuiltinImageBackend:
    name = "builtin"

    def generate(self, request: ImageRequest) -> list[ImageResult]:
        reference = _open_reference(request.reference) if request.reference is not None else None
        results = []
        for index in range(request.count):
            digest = fingerprint(request, index=index)
            if reference is None:
                image = draw(digest, size=SIZES.get(request.aspect_ratio, SIZES[AspectRatio.SQUARE]))
                note = NOTE
            else:
                image = vary(reference, digest, size=SIZES.get(request.aspect_ratio, reference.size))
                note = VARIATION_NOTE
            results.append(
                ImageResult(
                    data=png_bytes(image),
                    mime_type="image/png",
                    seed=request.seed,
                    media_generation_id=f"builtin-{uuid.uuid4().hex}",
                    model=MODEL_NAME,
                    metadata={
                        "backend": self.name,
                        "synthetic": True,
                        "note": note,
                        "fingerprint": digest.hex(),
                        "index": index,
                        "requested_model": request.model,
                        "variation_of_reference": reference is not None,
                    },
                )
            )
        return results

    def caption(self, *, data: bytes, mime_type: str, count: int = 1) -> list[str]:
        """Up to `count` measured descriptions, the most detailed first (shorter ones drop clauses)."""
        try:
            measurements = analyse_image(data)
        except AIInvalidImage as exc:
            raise ImageBackendError(str(exc)) from None
        category, _confidence = classify_measurements(measurements)
        captions: list[str] = []
        budget = 1500
        while len(captions) < max(1, count):
            text = describe(measurements, category=category, max_length=budget)
            if captions and text == captions[-1]:
                break
            captions.append(text)
            budget = len(text) - 1
            if budget <= 0:
                break
        return captions


def fingerprint(request: ImageRequest, *, index: int) -> bytes:
    """SHA-256 of everything that decides the pixels (the reference by its own digest)."""
    parts = [request.prompt, str(request.seed), str(index), request.aspect_ratio]
    if request.reference is not None:
        parts.append(hashlib.sha256(request.reference).hexdigest())
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()


def _colour(digest: bytes, at: int) -> tuple[int, int, int]:
    return digest[at % 32], digest[(at + 1) % 32], digest[(at + 2) % 32]


def draw(digest: bytes, *, size: tuple[int, int]) -> Image.Image:
    width, height = size
    top, bottom = _colour(digest, 0), _colour(digest, 3)
    # A vertical gradient: one row per line, interpolated between the two colours.
    gradient = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(height - 1, 1)
        gradient.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    image = gradient.resize((width, height))
    pen = ImageDraw.Draw(image)
    for n in range(SHAPES):
        base = 6 + n * 5
        x0 = digest[base % 32] * width // 256
        y0 = digest[(base + 1) % 32] * height // 256
        extent = 0.15 + digest[(base + 2) % 32] / 255 * 0.35
        x1 = min(width - 1, x0 + int(width * extent))
        y1 = min(height - 1, y0 + int(height * extent))
        fill = _colour(digest, base + 3)
        if digest[(base + 4) % 32] % 2:
            pen.ellipse((x0, y0, x1, y1), fill=fill)
        else:
            pen.rectangle((x0, y0, x1, y1), fill=fill)
    return image


def _open_reference(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_REFERENCE_PIXELS:
                raise ImageBackendError("The reference image has too many pixels.")
            return ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageBackendError(f"The reference image could not be read ({type(exc).__name__}).") from None


def vary(reference: Image.Image, digest: bytes, *, size: tuple[int, int]) -> Image.Image:
    width, height = reference.size
    keep = 0.80 + (digest[0] / 255) * 0.15
    crop_w, crop_h = max(1, int(width * keep)), max(1, int(height * keep))
    left = (digest[1] * (width - crop_w)) // 255
    top = (digest[2] * (height - crop_h)) // 255
    image = reference.crop((left, top, left + crop_w, top + crop_h))
    if digest[3] % 2:
        image = ImageOps.mirror(image)
    tint = Image.new("RGB", image.size, _colour(digest, 4))
    image = Image.blend(image, tint, 0.08 + (digest[7] / 255) * 0.1)
    return ImageOps.fit(image, size)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
