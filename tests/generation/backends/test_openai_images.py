"""The OpenAI-compatible image backend against a local images server."""

import json

import pytest

from core.retry import RetryPolicy
from generation.backends import (
    ImageBackendAuthError,
    ImageBackendError,
    ImageBackendRefused,
    ImageBackendUnavailable,
    ImageRequest,
)
from generation.backends.openai_images import image_size_for
from generation.models import AspectRatio
from tests.fakes.openai_images import EDITS_PATH, GENERATIONS_PATH, FakeOpenAIImages


@pytest.fixture
def fake(httpserver):
    return FakeOpenAIImages(httpserver)


def test_generate_sends_the_images_api_request(fake):
    results = fake.backend().generate(
        ImageRequest(prompt="A lighthouse", seed=5, count=3, aspect_ratio=AspectRatio.PORTRAIT)
    )

    call = fake.requests_to(GENERATIONS_PATH)[0]
    assert call.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert json.loads(call.body) == {
        "prompt": "A lighthouse",
        "model": "fake-image-1",
        "n": 3,
        "size": "1024x1536",
        "response_format": "b64_json",
    }
    assert len(results) == 3
    first = results[0]
    assert first.data.startswith(b"\x89PNG") and first.mime_type == "image/png"
    assert first.seed is None and first.metadata["seed_used"] is False
    assert first.model == "fake-image-1"
    assert first.media_generation_id.startswith("openai-")
    assert len({r.media_generation_id for r in results}) == 3
    assert first.metadata["revised_prompt"] == "A lighthouse (revised)"


def test_jpeg_answers_are_typed_from_their_bytes(fake):
    fake.image_format = "jpeg"
    result = fake.backend().generate(ImageRequest(prompt="x"))[0]
    assert result.mime_type == "image/jpeg"


@pytest.mark.parametrize(
    ("model", "aspect", "size"),
    [
        ("gpt-image-1", AspectRatio.LANDSCAPE, "1536x1024"),
        ("dall-e-3", AspectRatio.LANDSCAPE, "1792x1024"),
        ("dall-e-3", AspectRatio.PORTRAIT, "1024x1792"),
        ("anything", AspectRatio.UNSPECIFIED, "1024x1024"),
    ],
)
def test_sizes_follow_the_aspect_ratio(model, aspect, size):
    assert image_size_for(model=model, aspect_ratio=aspect) == size


def test_reference_goes_to_edits_when_enabled(fake):
    reference = b"\x89PNG\r\n\x1a\nreference"
    results = fake.backend(edits=True).generate(
        ImageRequest(prompt="same person", count=2, reference=reference)
    )
    assert fake.count("POST", EDITS_PATH) == 1 and fake.count("POST", GENERATIONS_PATH) == 0
    assert fake.edits[0]["image"] == reference
    assert fake.edits[0]["fields"]["n"] == "2" and fake.edits[0]["fields"]["prompt"] == "same person"
    assert results[0].metadata["reference_used"] is True


def test_reference_without_edits_sends_the_prompt_only(fake):
    result = fake.backend(edits=False).generate(ImageRequest(prompt="p", reference=b"ref"))[0]
    assert fake.count("POST", GENERATIONS_PATH) == 1 and fake.count("POST", EDITS_PATH) == 0
    assert result.metadata["reference_used"] is False
    assert "IMAGE_OPENAI_EDITS" in result.metadata["reference_note"]


def test_wrong_key_is_an_auth_error_without_the_key(fake):
    with pytest.raises(ImageBackendAuthError, match="HTTP 401") as caught:
        fake.backend(api_key="sk-wrong-key-123").generate(ImageRequest(prompt="x"))
    assert "sk-wrong-key-123" not in str(caught.value)


@pytest.mark.parametrize("code", ["content_policy_violation", "moderation_blocked"])
def test_moderation_is_a_refusal(fake, code):
    fake.refuse_next(code=code)
    with pytest.raises(ImageBackendRefused, match="content policy"):
        fake.backend().generate(ImageRequest(prompt="x"))
    assert fake.count("POST", GENERATIONS_PATH) == 1


def test_429_is_retried_after_retry_after(fake):
    fake.rate_limit_next(retry_after="4")
    assert len(fake.backend().generate(ImageRequest(prompt="x"))) == 1
    assert fake.sleeps == [4.0]


def test_429_that_persists_is_unavailable(fake):
    fake.rate_limit_next(retry_after="9", times=3)
    with pytest.raises(ImageBackendUnavailable, match="rate-limiting") as caught:
        fake.backend().generate(ImageRequest(prompt="x"))
    assert caught.value.retry_after == 9.0 and caught.value.status == 429


def test_5xx_is_unavailable_and_not_repeated_blindly(fake):
    fake.fail_next(500)
    with pytest.raises(ImageBackendUnavailable, match="HTTP 500"):
        fake.backend().generate(ImageRequest(prompt="x"))
    assert fake.count("POST", GENERATIONS_PATH) == 1


def test_malformed_body_is_unavailable(fake):
    fake.malformed_next()
    with pytest.raises(ImageBackendUnavailable, match="not JSON") as caught:
        fake.backend().generate(ImageRequest(prompt="x"))
    assert caught.value.retry_reason == "malformed"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"data": []}, "no images"),
        ({"data": [{"url": "https://x"}]}, "without b64_json"),
        ({"data": [{"b64_json": "!!!"}]}, "not base64"),
        ({"data": [{"b64_json": "aGVsbG8="}]}, "not a PNG"),
    ],
)
def test_unusable_answers_are_unavailable(fake, body, match):
    fake.fail_next(200, body=body)
    with pytest.raises(ImageBackendUnavailable, match=match):
        fake.backend().generate(ImageRequest(prompt="x"))


def test_other_4xx_is_a_plain_error(fake):
    fake.fail_next(400, body={"error": {"message": "Invalid size", "type": "invalid_request_error"}})
    with pytest.raises(ImageBackendError, match="Invalid size") as caught:
        fake.backend().generate(ImageRequest(prompt="x"))
    assert type(caught.value) is ImageBackendError


def test_timeout_is_unavailable(fake):
    fake.hang_next(1.5)
    with pytest.raises(ImageBackendUnavailable, match="did not answer"):
        fake.backend(timeout=0.3, policy=RetryPolicy(attempts=1)).generate(ImageRequest(prompt="x"))


def test_caption_uses_vision_chat(httpserver):
    from tests.fakes.openai_chat import FakeOpenAIChat

    chat = FakeOpenAIChat(httpserver)
    chat.reply("A lighthouse on a cliff.")
    backend = FakeOpenAIImages(httpserver, api_key=chat.api_key).backend()
    assert backend.caption(data=b"\x89PNG", mime_type="image/png") == ["A lighthouse on a cliff."]
    assert chat.requests[0].messages[1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_caption_refusal_and_unavailability(httpserver):
    from tests.fakes.openai_chat import FakeOpenAIChat

    chat = FakeOpenAIChat(httpserver)
    backend = FakeOpenAIImages(httpserver, api_key=chat.api_key).backend()
    chat.refuse_next()
    with pytest.raises(ImageBackendRefused):
        backend.caption(data=b"x", mime_type="image/png")
    chat.error_next(503, times=3)
    with pytest.raises(ImageBackendUnavailable):
        backend.caption(data=b"x", mime_type="image/png")
