import dataclasses
import json

import pytest

from core.ai.base import (
    AIBackend,
    AIError,
    AIInvalidImage,
    AIUnsupported,
    CaptionRequest,
    ImageCategory,
    ImageInput,
)
from core.ai.builtin import MODEL_NAME, BuiltinBackend
from tests.core.ai.test_image_analysis import bar_chart, blue_square, dark_noise_portrait, encode, text_image


def image_of(img, fmt="PNG") -> ImageInput:
    return ImageInput(data=encode(img, fmt), mime_type=f"image/{fmt.lower()}")


def caption(img, **kwargs):
    request = CaptionRequest(image=image_of(img), prompt="Describe this image.", max_length=500)
    request = dataclasses.replace(request, **kwargs)
    return BuiltinBackend().caption_image(request)


def test_it_is_an_ai_backend():
    assert isinstance(BuiltinBackend(), AIBackend)
    assert BuiltinBackend.name == "builtin"


def test_caption_of_a_bright_blue_square():
    result = caption(blue_square())
    assert result.text == "A bright, mostly blue square image; it is mostly flat colour."
    assert result.backend == "builtin"
    assert result.model == MODEL_NAME


def test_metadata_says_it_is_a_basic_rule_based_description():
    result = caption(blue_square())
    meta = result.metadata
    assert meta["backend"] == "builtin"
    assert meta["basic_description"] is True
    assert meta["needs_review"] is True
    assert "rule-based" in meta["review_reason"]
    assert meta["prompt_used"] is False
    assert meta["language"] == "en"
    assert meta["measurements"]["orientation"] == "square"
    assert meta["measurements"]["dominant_colours"][0]["name"] == "blue"
    assert json.loads(json.dumps(meta)) == meta


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (text_image, "A bright, black-and-white landscape-format image; it may contain text."),
        (bar_chart, "A bright, mostly white landscape-format image; it may be a chart or diagram."),
        (dark_noise_portrait, "A dark, mostly black and brown portrait-format image."),
    ],
)
def test_captions_say_what_the_measurements_support(builder, expected):
    assert caption(builder()).text == expected


@pytest.mark.parametrize(
    ("builder", "category"),
    [
        (text_image, ImageCategory.SCREENSHOT_TEXT),
        (bar_chart, ImageCategory.CHART),
        (blue_square, ImageCategory.OTHER),
        (dark_noise_portrait, ImageCategory.OTHER),
    ],
)
def test_classification_rules(builder, category):
    found, confidence = BuiltinBackend().classify_image(image_of(builder()))
    assert found == category
    assert 0.0 < confidence <= 1.0
    assert caption(builder()).metadata["category"] == category


def test_text_confidence_is_the_text_likeness():
    result = caption(text_image())
    _, confidence = BuiltinBackend().classify_image(image_of(text_image()))
    assert confidence == result.metadata["measurements"]["text_likeness"] >= 0.5


def test_it_never_claims_people_food_or_animals():
    # A noisy dark portrait is what a badly lit photo of a person looks like to these rules.
    category, confidence = BuiltinBackend().classify_image(image_of(dark_noise_portrait(), "JPEG"))
    assert category == ImageCategory.OTHER
    assert confidence <= 0.2


@pytest.mark.parametrize("language", ["de", "fr-CA", "ja"])
def test_a_non_english_request_is_noted(language):
    meta = caption(blue_square(), language=language).metadata
    assert meta["language"] == "en"
    assert meta["requested_language"] == language
    assert "English only" in meta["language_note"]


@pytest.mark.parametrize("language", [None, "", "en", "en-GB", "EN"])
def test_english_or_no_language_has_no_note(language):
    meta = caption(blue_square(), language=language).metadata
    assert "language_note" not in meta


@pytest.mark.parametrize("max_length", [9, 12, 25, 35, 45, 60, 80, 200])
def test_caption_fits_max_length_as_a_whole_sentence(max_length):
    for builder in (text_image, bar_chart, blue_square, dark_noise_portrait):
        text = caption(builder(), max_length=max_length).text
        assert len(text) <= max_length
        assert text.startswith("A") and text.endswith(".")


def test_short_limits_drop_detail_not_words():
    assert caption(dark_noise_portrait(), max_length=40).text == "A dark portrait-format image."
    assert caption(text_image(), max_length=25).text == "A landscape-format image."
    assert caption(blue_square(), max_length=12).text == "An image."


def test_complete_text_is_not_pretended():
    with pytest.raises(AIUnsupported, match="configure AI_BACKEND=openai") as excinfo:
        BuiltinBackend().complete_text(system="You write posts.", prompt="Write a post.")
    assert isinstance(excinfo.value, AIError)


def test_unreadable_image():
    with pytest.raises(AIInvalidImage):
        BuiltinBackend().caption_image(
            CaptionRequest(image=ImageInput(data=b"nope", mime_type="image/png"), prompt="x")
        )
