"""The OpenAI-compatible backend against a local server speaking the chat-completions wire format."""

import base64
import json
import logging
import socket
import threading
import time

import pytest
from django.test import override_settings
from werkzeug import Response

from core.ai.base import (
    AIBackend,
    AIError,
    AIRefused,
    AIUnavailable,
    CaptionRequest,
    ImageCategory,
    ImageInput,
)
from core.ai.openai_backend import (
    CLASSIFY_MAX_TOKENS,
    NO_KEY_PLACEHOLDER,
    OpenAIBackend,
    caption_max_tokens,
    parse_category,
)
from core.retry import RetryPolicy

KEY = "sk-test-0123456789-secret"
PATH = "/v1/chat/completions"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
IMAGE = ImageInput(data=PNG, mime_type="image/png")


def completion(content, *, finish_reason="stop", model="llava:7b", **message):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    }


def error_body(message, *, code=None, type_="invalid_request_error"):
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_backend(httpserver, sleeps):
    def make(**kwargs):
        options = {
            "base_url": httpserver.url_for("/v1"),
            "api_key": KEY,
            "timeout": 2.0,
            "vision_model": "llava:7b",
            "text_model": "llama3.1:8b",
            "sleep": sleeps.append,
            **kwargs,
        }
        return OpenAIBackend(**options)

    return make


@pytest.fixture
def backend(make_backend):
    return make_backend()


def caption_request(**kwargs):
    return CaptionRequest(image=IMAGE, prompt="Describe the photo.", max_length=300, **kwargs)


def sent_bodies(httpserver):
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def test_it_is_an_ai_backend(backend):
    assert isinstance(backend, AIBackend)
    assert backend.name == "openai"


def test_caption_success_sends_the_image_as_a_data_url(httpserver, backend):
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        completion("  A red bicycle\n leaning   against a brick wall.\n\nIt is raining. ")
    )

    result = backend.caption_image(caption_request())

    assert result.text == "A red bicycle leaning against a brick wall. It is raining."
    assert result.backend == "openai"
    assert result.model == "llava:7b"
    assert result.metadata["finish_reason"] == "stop"
    assert result.metadata["usage"]["total_tokens"] == 20
    assert result.metadata["retry"]["attempts"] == 1
    assert result.metadata["basic_description"] is False

    (request, _), *_ = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = json.loads(request.get_data())
    assert body["model"] == "llava:7b"
    assert body["max_tokens"] == caption_max_tokens(300)
    system, user = body["messages"]
    assert system["role"] == "system" and "alt text" in system["content"]
    assert "300 characters" in system["content"]
    assert user["role"] == "user"
    text_part, image_part = user["content"]
    assert text_part == {"type": "text", "text": "Describe the photo."}
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_request_model_language_and_system_override(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(completion("Ein Fahrrad.", model="llava:13b-v1.6"))

    result = backend.caption_image(caption_request(model="llava:13b-v1.6", language="de"))
    assert result.model == "llava:13b-v1.6"
    assert result.metadata["language"] == "de"
    body = sent_bodies(httpserver)[0]
    assert body["model"] == "llava:13b-v1.6"
    assert '"de"' in body["messages"][0]["content"]

    backend.caption_image(caption_request(system="Be brief."))
    assert sent_bodies(httpserver)[1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_429_with_retry_after_then_success(httpserver, backend, sleeps):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        error_body("Rate limit reached", code="rate_limit_exceeded"), status=429, headers={"Retry-After": "2"}
    )
    httpserver.expect_oneshot_request(PATH).respond_with_json(completion("A cat on a sofa."))

    result = backend.caption_image(caption_request())

    assert result.text == "A cat on a sofa."
    assert sleeps == [2.0]
    assert len(httpserver.log) == 2
    assert result.metadata["retry"]["retries"] == 1
    assert result.metadata["retry"]["reasons"] == {"429": 1}


def test_retry_after_ms_is_honoured(httpserver, backend, sleeps):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        error_body("slow down"), status=429, headers={"retry-after-ms": "250"}
    )
    httpserver.expect_oneshot_request(PATH).respond_with_json(completion("A cat."))
    backend.caption_image(caption_request())
    assert sleeps == [0.25]


def test_500_until_attempts_are_exhausted(httpserver, backend, sleeps):
    httpserver.expect_request(PATH).respond_with_json(error_body("boom", type_="server_error"), status=500)

    with pytest.raises(AIUnavailable, match=r"HTTP 500") as excinfo:
        backend.caption_image(caption_request())

    assert len(httpserver.log) == 3
    assert excinfo.value.status == 500
    assert len(sleeps) == 2
    assert 0.9 <= sleeps[0] <= 1.1 and 1.8 <= sleeps[1] <= 2.2  # 1 s base, x2, 10 % jitter
    assert excinfo.value.retry_stats.failures == 1
    assert excinfo.value.retry_stats.reasons == {"500": 3}


def test_503_then_success(httpserver, backend):
    httpserver.expect_oneshot_request(PATH).respond_with_data("Service Unavailable", status=503)
    httpserver.expect_oneshot_request(PATH).respond_with_json(completion("A dog."))
    assert backend.caption_image(caption_request()).text == "A dog."


def test_timeout(httpserver, make_backend, sleeps):
    release = threading.Event()

    def slow(request):
        release.wait(2)
        return Response(json.dumps(completion("too late")), content_type="application/json")

    httpserver.expect_request(PATH).respond_with_handler(slow)
    backend = make_backend(timeout=0.2, policy=RetryPolicy(attempts=2))
    try:
        with pytest.raises(AIUnavailable, match=r"did not answer within 0.2 s") as excinfo:
            backend.caption_image(caption_request())
    finally:
        release.set()
        # Let the single-threaded server finish both held requests before the next test clears it.
        deadline = time.monotonic() + 3
        while len(httpserver.log) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert excinfo.value.retry_stats.attempts == 2
    assert excinfo.value.retry_stats.reasons == {"timeout": 2}
    assert len(sleeps) == 1


def test_connection_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAIBackend(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=1, sleep=lambda _: None
    )
    with pytest.raises(AIUnavailable, match="could not be reached") as excinfo:
        backend.caption_image(caption_request())
    assert excinfo.value.retry_stats.reasons == {"connection": 3}


@pytest.mark.parametrize(
    "respond",
    [
        lambda handler: handler.respond_with_data("{not json", content_type="application/json"),
        lambda handler: handler.respond_with_data("<html>proxy error</html>", content_type="text/html"),
        lambda handler: handler.respond_with_json({"id": "x", "object": "chat.completion", "choices": []}),
        lambda handler: handler.respond_with_json(["not", "an", "object"]),
        lambda handler: handler.respond_with_json(completion(None)),
        lambda handler: handler.respond_with_json(completion("   ")),
    ],
    ids=["broken-json", "html", "no-choices", "list", "null-content", "empty"],
)
def test_malformed_answers_are_unavailable_after_retries(httpserver, backend, respond):
    respond(httpserver.expect_request(PATH))
    with pytest.raises(AIUnavailable):
        backend.caption_image(caption_request())
    assert len(httpserver.log) == 3


def test_malformed_then_success(httpserver, backend):
    httpserver.expect_oneshot_request(PATH).respond_with_data("{", content_type="application/json")
    httpserver.expect_oneshot_request(PATH).respond_with_json(completion("A bridge at dusk."))
    result = backend.caption_image(caption_request())
    assert result.text == "A bridge at dusk."
    assert result.metadata["retry"]["reasons"] == {"malformed": 1}


def test_content_filter_is_refused_without_retry(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(completion(None, finish_reason="content_filter"))
    with pytest.raises(AIRefused, match="content_filter"):
        backend.caption_image(caption_request())
    assert len(httpserver.log) == 1


def test_refusal_message_is_refused(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(completion(None, refusal="I can't help with that."))
    with pytest.raises(AIRefused, match="I can't help with that"):
        backend.caption_image(caption_request())


@pytest.mark.parametrize(
    ("code", "type_"),
    [
        ("content_policy_violation", "invalid_request_error"),
        ("moderation_blocked", None),
        (None, "moderation"),
    ],
)
def test_policy_errors_are_refused_without_retry(httpserver, backend, code, type_):
    httpserver.expect_request(PATH).respond_with_json(
        error_body("Your request was rejected by the safety system.", code=code, type_=type_), status=400
    )
    with pytest.raises(AIRefused, match="content policy"):
        backend.caption_image(caption_request())
    assert len(httpserver.log) == 1


def test_error_body_with_status_200(httpserver, backend):
    httpserver.expect_oneshot_request(PATH).respond_with_json(error_body("model is loading"))
    httpserver.expect_oneshot_request(PATH).respond_with_json(completion("A boat."))
    assert backend.caption_image(caption_request()).text == "A boat."

    httpserver.expect_request(PATH).respond_with_json(error_body("flagged", code="moderation"))
    with pytest.raises(AIRefused):
        backend.caption_image(caption_request())


def test_401_is_a_configuration_error_and_never_shows_the_key(httpserver, backend, caplog):
    httpserver.expect_request(PATH).respond_with_json(
        error_body(f"Incorrect API key provided: {KEY}", code="invalid_api_key"), status=401
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(AIError) as excinfo:
        backend.caption_image(caption_request())
    assert not isinstance(excinfo.value, AIUnavailable)
    assert "AI_API_KEY" in str(excinfo.value)
    assert KEY not in str(excinfo.value)
    assert KEY not in caplog.text
    assert len(httpserver.log) == 1


def test_server_messages_are_scrubbed_of_the_key(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(error_body(f"bad field near {KEY}"), status=400)
    with pytest.raises(AIError, match=r"HTTP 400\): bad field near \*\*\*") as excinfo:
        backend.caption_image(caption_request())
    assert KEY not in str(excinfo.value)


def test_unknown_model_404(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(
        {"error": {"message": "model 'llava:99b' not found", "type": "api_error"}}, status=404
    )
    with pytest.raises(AIError, match="llava:99b") as excinfo:
        backend.caption_image(caption_request(model="llava:99b"))
    assert excinfo.value.status == 404
    assert not isinstance(excinfo.value, AIUnavailable)


def test_the_key_is_never_logged_on_success_or_retry(httpserver, backend, caplog):
    httpserver.expect_oneshot_request(PATH).respond_with_data("oops", status=502)
    httpserver.expect_oneshot_request(PATH).respond_with_json(completion("A tree."))
    with caplog.at_level(logging.DEBUG):
        backend.caption_image(caption_request())
    assert caplog.records
    assert KEY not in caplog.text
    assert KEY not in repr(backend)


@pytest.mark.parametrize(
    ("answer", "category", "confidence"),
    [
        ("chart", ImageCategory.CHART, 0.8),
        ("Screenshot_text.", ImageCategory.SCREENSHOT_TEXT, 0.8),
        ("photo people", ImageCategory.PHOTO_PEOPLE, 0.8),
        ("I think this is a landscape.", ImageCategory.LANDSCAPE, 0.6),
        ("A painting", ImageCategory.ARTWORK, 0.5),
        ("dogs", ImageCategory.ANIMAL, 0.5),
        ("banana phone", ImageCategory.OTHER, 0.0),
        ("", ImageCategory.OTHER, 0.0),
    ],
)
def test_parse_category(answer, category, confidence):
    assert parse_category(answer) == (category, confidence)


@pytest.mark.parametrize(
    ("answer", "category"),
    [("food", ImageCategory.FOOD), ("Diagram", ImageCategory.CHART), ("no idea", ImageCategory.OTHER)],
)
def test_classify_image_asks_for_one_word(httpserver, backend, answer, category):
    httpserver.expect_request(PATH).respond_with_json(completion(answer))
    found, _ = backend.classify_image(IMAGE)
    assert found == category
    body = sent_bodies(httpserver)[0]
    assert body["max_tokens"] == CLASSIFY_MAX_TOKENS
    assert body["model"] == "llava:7b"
    prompt = body["messages"][1]["content"][0]["text"]
    assert all(value in prompt for value in ImageCategory.values)
    assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_complete_text_uses_the_text_model(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(
        completion("Three  tips\nfor alt text.", model="llama3.1:8b")
    )
    result = backend.complete_text(system="You write posts.", prompt="Tips?", max_tokens=200)
    assert result.text == "Three tips for alt text."
    assert result.model == "llama3.1:8b"
    body = sent_bodies(httpserver)[0]
    assert body["model"] == "llama3.1:8b"
    assert body["max_tokens"] == 200
    assert body["messages"] == [
        {"role": "system", "content": "You write posts."},
        {"role": "user", "content": "Tips?"},
    ]


def test_content_given_as_parts_is_joined(httpserver, backend):
    httpserver.expect_request(PATH).respond_with_json(
        completion([{"type": "text", "text": "A lake"}, {"type": "text", "text": "at noon."}])
    )
    assert backend.caption_image(caption_request()).text == "A lake at noon."


@pytest.mark.parametrize(("max_length", "tokens"), [(1, 64), (300, 150), (1500, 750), (5000, 1024)])
def test_caption_token_budget(max_length, tokens):
    assert caption_max_tokens(max_length) == tokens


class TestApiKey:
    pytestmark = pytest.mark.django_db

    def authorization(self, httpserver, **settings_overrides):
        httpserver.expect_request(PATH).respond_with_json(completion("A key."))
        with override_settings(AI_BASE_URL=httpserver.url_for("/v1"), **settings_overrides):
            OpenAIBackend(sleep=lambda _: None).caption_image(caption_request())
        request, _ = httpserver.log[-1]
        return request.headers.get("Authorization")

    def test_from_settings(self, httpserver, monkeypatch):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
        assert self.authorization(httpserver, AI_API_KEY="sk-settings") == "Bearer sk-settings"

    def test_the_sensitive_system_setting_wins(self, httpserver):
        from core.services import config_set

        config_set(key="ai_api_key", value="sk-config", is_sensitive=True)
        assert self.authorization(httpserver, AI_API_KEY="sk-settings") == "Bearer sk-config"

    def test_an_empty_system_setting_falls_back_to_settings(self, httpserver):
        from core.services import config_set

        config_set(key="ai_api_key", value="", is_sensitive=True)
        assert self.authorization(httpserver, AI_API_KEY="sk-settings") == "Bearer sk-settings"

    def test_no_key_anywhere_sends_a_placeholder_not_the_environment(self, httpserver, monkeypatch):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
        assert self.authorization(httpserver, AI_API_KEY="") == f"Bearer {NO_KEY_PLACEHOLDER}"

    def test_settings_give_the_defaults(self):
        with override_settings(
            AI_BASE_URL="http://ai.example:8080/v1/",
            AI_TIMEOUT=7,
            AI_VISION_MODEL="vision-x",
            AI_TEXT_MODEL="text-y",
        ):
            backend = OpenAIBackend()
        assert backend.base_url == "http://ai.example:8080/v1"
        assert backend.server == "http://ai.example:8080"
        assert backend.timeout == 7.0
        assert (backend.vision_model, backend.text_model) == ("vision-x", "text-y")
