import io
import itertools

import pytest
from PIL import Image

from generation.backends import ImageBackendError, ImageRequest, image_backend_for
from generation.backends.builtin import BuiltinImageBackend
from generation.models import AspectRatio


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB").tobytes()


def test_same_request_gives_same_pixels_and_unique_ids():
    backend = BuiltinImageBackend()
    first = backend.generate(ImageRequest(prompt="a lighthouse", seed=3, count=2))
    again = backend.generate(ImageRequest(prompt="a lighthouse", seed=3, count=2))

    assert [r.data for r in first] == [r.data for r in again]
    assert first[0].data != first[1].data  # each index is its own picture
    ids = {r.media_generation_id for r in first + again}
    assert len(ids) == 4 and all(i.startswith("builtin-") for i in ids)
    assert first[0].mime_type == "image/png" and first[0].seed == 3
    assert first[0].metadata["synthetic"] is True
    assert first[0].metadata["backend"] == "builtin"
    assert "does not depict" in first[0].metadata["note"]
    assert first[0].metadata["fingerprint"] == again[0].metadata["fingerprint"]


def test_prompt_and_seed_change_the_picture():
    backend = BuiltinImageBackend()
    base = backend.generate(ImageRequest(prompt="a lighthouse", seed=1))[0]
    other_seed = backend.generate(ImageRequest(prompt="a lighthouse", seed=2))[0]
    other_prompt = backend.generate(ImageRequest(prompt="a harbour", seed=1))[0]
    assert len({_pixels(base.data), _pixels(other_seed.data), _pixels(other_prompt.data)}) == 3


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        (AspectRatio.SQUARE, (512, 512)),
        (AspectRatio.PORTRAIT, (288, 512)),
        (AspectRatio.LANDSCAPE, (512, 288)),
        (AspectRatio.UNSPECIFIED, (512, 512)),
    ],
)
def test_aspect_ratio_sets_the_size(aspect, size):
    result = BuiltinImageBackend().generate(ImageRequest(prompt="x", aspect_ratio=aspect))[0]
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.size == size


def test_reference_gives_deterministic_variations_of_it():
    backend = BuiltinImageBackend()
    base = backend.generate(ImageRequest(prompt="a face", seed=5))[0]
    request = ImageRequest(prompt="a face", seed=5, count=4, reference=base.data)
    variations = backend.generate(request)
    again = backend.generate(request)

    assert len(variations) == 4
    assert [v.data for v in variations] == [v.data for v in again]
    assert all(v.data != base.data for v in variations)
    assert all(v.metadata["variation_of_reference"] for v in variations)
    assert "variation of the reference" in variations[0].metadata["note"]


def test_unreadable_reference_is_a_clear_error():
    with pytest.raises(ImageBackendError, match="reference image could not be read"):
        BuiltinImageBackend().generate(ImageRequest(prompt="x", reference=b"not an image"))


def test_caption_measures_the_image():
    backend = BuiltinImageBackend()
    image = backend.generate(ImageRequest(prompt="x", aspect_ratio=AspectRatio.LANDSCAPE))[0]
    captions = backend.caption(data=image.data, mime_type="image/png", count=3)
    assert 1 <= len(captions) <= 3
    assert "landscape-format" in captions[0]
    assert len(set(captions)) == len(captions)
    assert all(len(a) > len(b) for a, b in itertools.pairwise(captions))


def test_caption_of_garbage_is_a_clear_error():
    with pytest.raises(ImageBackendError, match="could not be read"):
        BuiltinImageBackend().caption(data=b"nope", mime_type="image/png")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt": " "},
        {"prompt": "x", "count": 0},
        {"prompt": "x", "count": 9},
        {"prompt": "x", "seed": -1},
        {"prompt": "x", "aspect_ratio": "WIDE"},
    ],
)
def test_request_rejects_bad_values(kwargs):
    with pytest.raises(ImageBackendError):
        ImageRequest(**kwargs)


def test_request_repr_hides_the_reference():
    text = repr(ImageRequest(prompt="x", reference=b"\x89PNG" * 100))
    assert "400 bytes" in text and "PNG" not in text


def test_registry_names(settings):
    settings.IMAGE_BACKEND = "builtin"
    assert image_backend_for(user=None).name == "builtin"
    assert image_backend_for(user=None, name="OpenAI").name == "openai"
    with pytest.raises(ImageBackendError, match="Unknown image backend 'dalle'"):
        image_backend_for(user=None, name="dalle")
