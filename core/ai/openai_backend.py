"""Any OpenAI-compatible server (OpenAI, Ollama's /v1, vLLM, LM Studio, ...) through the `openai` SDK.

Captions and classification use vision chat completions: a system prompt, then a user message with
the prompt as a text part and the image as a base64 data URL in an `image_url` part. Text work
(`complete_text`) is a plain chat completion.

Why it is built this way:
- The SDK's own retries are off (`max_retries=0`); `core.retry.call_with_retries` retries with the
  project's policy (3 attempts, 1 s base, x2, 30 s cap, 10 % jitter), honours Retry-After, and
  returns statistics (put into the result's metadata, or attached to the raised error as
  `retry_stats`). Retried: timeouts, connection errors, 408, 409, 429, 5xx, malformed bodies and
  empty answers. Chat completions publish nothing, so they are safe to repeat.
- The request goes out through the client's plain `post` (the SDK's documented way to a path
  without typed params) and the body is parsed here, not by the SDK's models: a malformed answer
  from a half-compatible server becomes a clear `AIUnavailable` instead of an attribute error, and
  the messages we built are not walked again by the SDK's type transform (~1.5 ms a call).
- Refusals (finish_reason `content_filter`, a `refusal` message, an error code such as
  `content_policy_violation` or a moderation code) raise `AIRefused`: retrying will not help.
- The API key comes from the sensitive system setting `ai_api_key` when set, else
  `settings.AI_API_KEY`; it is never logged, never put in a message (server messages are scrubbed of
  it), and never read from the SDK's OPENAI_API_KEY environment variable.
- The model's text is kept whole: stripped, whitespace collapsed. Length limits are the caller's.
  `complete_text` also puts the answer with its line breaks (stripped only) in
  `metadata["raw_text"]`, for text whose layout matters (markdown, paragraphs of a post).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
from django.conf import settings

from core.ai.base import (
    DEFAULT_TEXT_MAX_TOKENS,
    AIError,
    AIRefused,
    AIUnavailable,
    CaptionRequest,
    CaptionResult,
    Classification,
    ImageCategory,
    ImageInput,
    TextResult,
)
from core.retry import RetryPolicy, RetryStats, call_with_retries, parse_retry_after

logger = logging.getLogger(__name__)

# Servers without keys (Ollama) still get a bearer value: the SDK refuses to start without one.
NO_KEY_PLACEHOLDER = "no-key"
API_KEY_CONFIG = "ai_api_key"

DEFAULT_CAPTION_SYSTEM = (
    "You write alt text: a description of an image for people who cannot see it. Describe what "
    "matters plainly and concretely, without opening with phrases like 'This image shows'. Reply "
    "with the description only, at most {max_length} characters.{language}"
)
CLASSIFY_SYSTEM = "You sort images into categories. Reply with exactly one category word and nothing else."
CLASSIFY_PROMPT = "Which one of these categories fits the image best? {categories}"
CLASSIFY_MAX_TOKENS = 10

REFUSAL_CODES = {"content_policy_violation", "content_filter", "moderation_blocked", "moderation"}
TRANSIENT_STATUSES = {408, 409, 429}
SERVER_MESSAGE_CHARS = 200

# Classification confidence says how cleanly the answer matched; models state no probability.
CONFIDENCE_EXACT = 0.8
CONFIDENCE_MENTIONED = 0.6
CONFIDENCE_SYNONYM = 0.5
CATEGORY_SYNONYMS: dict[str, str] = {
    "people": ImageCategory.PHOTO_PEOPLE,
    "person": ImageCategory.PHOTO_PEOPLE,
    "portrait": ImageCategory.PHOTO_PEOPLE,
    "selfie": ImageCategory.PHOTO_PEOPLE,
    "scenery": ImageCategory.LANDSCAPE,
    "nature": ImageCategory.LANDSCAPE,
    "meal": ImageCategory.FOOD,
    "dish": ImageCategory.FOOD,
    "drink": ImageCategory.FOOD,
    "pet": ImageCategory.ANIMAL,
    "dog": ImageCategory.ANIMAL,
    "cat": ImageCategory.ANIMAL,
    "bird": ImageCategory.ANIMAL,
    "product": ImageCategory.OBJECT,
    "art": ImageCategory.ARTWORK,
    "painting": ImageCategory.ARTWORK,
    "drawing": ImageCategory.ARTWORK,
    "illustration": ImageCategory.ARTWORK,
    "screenshot": ImageCategory.SCREENSHOT_TEXT,
    "text": ImageCategory.SCREENSHOT_TEXT,
    "document": ImageCategory.SCREENSHOT_TEXT,
    "graph": ImageCategory.CHART,
    "diagram": ImageCategory.CHART,
    "plot": ImageCategory.CHART,
    "map": ImageCategory.CHART,
}


_shared_http: tuple[int, httpx.Client] | None = None
_shared_http_lock = threading.Lock()


def shared_http_client() -> httpx.Client:
    """One HTTP client per process for every backend instance: its TLS context and keep-alive
    connections outlive a backend.

    The registry builds a backend per call and each used to build its own client, which loads the
    CA bundle (~30 ms of CPU, over 100 ms on a busy machine) and opens a new connection, with a new
    TLS handshake against a remote server, for every single completion. httpx clients are
    thread-safe; the timeout is the backend's, sent with each request. Keyed by process id: a
    forked worker must not share its parent's sockets."""
    global _shared_http
    with _shared_http_lock:
        if _shared_http is None or _shared_http[0] != os.getpid():
            _shared_http = (os.getpid(), openai.DefaultHttpxClient())
        return _shared_http[1]


def resolve_api_key() -> str:
    """The sensitive system setting `ai_api_key` when set, else settings.AI_API_KEY ("" for none)."""
    from core.selectors import config_get

    configured = config_get(key=API_KEY_CONFIG)
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    return (getattr(settings, "AI_API_KEY", "") or "").strip()


def image_data_url(image: ImageInput) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def parse_category(answer: str) -> Classification:
    """Map a model's answer to a category: exact word, a category named in a sentence, a synonym,
    else `other` with confidence 0."""
    text = answer.strip().lower()
    normalised = re.sub(r"[\s\-]+", "_", text.strip(" \t\n.,;:!?\"'`*"))
    if normalised in ImageCategory.values:
        return Classification(normalised, CONFIDENCE_EXACT)
    words = re.findall(r"[a-z_]+", text.replace("-", "_"))
    for word in words:
        if word in ImageCategory.values:
            return Classification(word, CONFIDENCE_MENTIONED)
    for word in words:
        singular = word[:-1] if word.endswith("s") and word[:-1] in CATEGORY_SYNONYMS else word
        if singular in CATEGORY_SYNONYMS:
            return Classification(CATEGORY_SYNONYMS[singular], CONFIDENCE_SYNONYM)
    return Classification(ImageCategory.OTHER, 0.0)


def caption_max_tokens(max_length: int) -> int:
    """A token budget for a caption of `max_length` characters: roughly 2 characters a token
    (generous for English, enough for CJK), between 64 and 1024."""
    return max(64, min(1024, (max_length + 1) // 2))


@dataclass(frozen=True)
class _Answer:
    text: str
    model: str
    finish_reason: str | None
    usage: dict[str, Any] | None
    retry: RetryStats
    raw_text: str = ""


class OpenAIBackend:
    """Chat completions against `base_url`; thread-safe, so one instance can serve a worker pool."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        vision_model: str | None = None,
        text_model: str | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = (base_url or settings.AI_BASE_URL).rstrip("/")
        self._api_key = api_key  # None: resolved (config, then settings) when the client is built
        self.timeout = float(timeout if timeout is not None else settings.AI_TIMEOUT)
        self.vision_model = vision_model or settings.AI_VISION_MODEL
        self.text_model = text_model or settings.AI_TEXT_MODEL
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._client: openai.OpenAI | None = None
        self._key_in_use = ""
        self._lock = threading.Lock()
        parts = urlsplit(self.base_url)
        self.server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def __repr__(self) -> str:
        return f"OpenAIBackend(server={self.server!r}, vision_model={self.vision_model!r})"

    # -- the AIBackend interface -------------------------------------------------------------------

    def caption_image(self, request: CaptionRequest) -> CaptionResult:
        model = request.model or self.vision_model
        language = (
            f' Write it in the language with the code "{request.language}".' if request.language else ""
        )
        system = request.system or DEFAULT_CAPTION_SYSTEM.format(
            max_length=request.max_length, language=language
        )
        answer = self._chat(
            model=model,
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": self._vision_content(request.prompt, request.image)},
            ],
            max_tokens=caption_max_tokens(request.max_length),
        )
        metadata = self._metadata(answer, requested_model=model)
        metadata.update({"language": request.language, "prompt_used": True, "basic_description": False})
        return CaptionResult(text=answer.text, model=answer.model, backend=self.name, metadata=metadata)

    def classify_image(self, image: ImageInput, *, model: str | None = None) -> Classification:
        prompt = CLASSIFY_PROMPT.format(categories=", ".join(ImageCategory.values))
        answer = self._chat(
            model=model or self.vision_model,
            messages=[
                {"role": "system", "content": CLASSIFY_SYSTEM},
                {"role": "user", "content": self._vision_content(prompt, image)},
            ],
            max_tokens=CLASSIFY_MAX_TOKENS,
        )
        return parse_category(answer.text)

    def complete_text(
        self,
        *,
        system: str,
        prompt: str,
        model: str | None = None,
        max_tokens: int = DEFAULT_TEXT_MAX_TOKENS,
    ) -> TextResult:
        model = model or self.text_model
        answer = self._chat(
            model=model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            max_tokens=max_tokens,
        )
        metadata = self._metadata(answer, requested_model=model)
        metadata["raw_text"] = answer.raw_text
        return TextResult(text=answer.text, model=answer.model, backend=self.name, metadata=metadata)

    # -- the wire -----------------------------------------------------------------------------------

    @staticmethod
    def _vision_content(prompt: str, image: ImageInput) -> list[dict[str, Any]]:
        return [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_data_url(image)}},
        ]

    def _metadata(self, answer: _Answer, *, requested_model: str) -> dict[str, Any]:
        return {
            "backend": self.name,
            "server": self.server,
            "requested_model": requested_model,
            "finish_reason": answer.finish_reason,
            "usage": answer.usage,
            "retry": answer.retry.as_dict(),
        }

    def _client_for_call(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                key = self._api_key if self._api_key is not None else resolve_api_key()
                self._key_in_use = key
                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=key or NO_KEY_PLACEHOLDER,
                    timeout=httpx.Timeout(self.timeout),
                    max_retries=0,
                    http_client=shared_http_client(),
                )
            return self._client

    def _chat(self, *, model: str, messages: list[dict[str, Any]], max_tokens: int) -> _Answer:
        client = self._client_for_call()

        def once() -> tuple[str, str, str | None, dict | None, str]:
            logger.debug("AI chat completion: server=%s model=%s", self.server, model)
            try:
                response = client.post(
                    "/chat/completions",
                    body={"model": model, "messages": messages, "max_tokens": max_tokens},
                    cast_to=httpx.Response,
                )
            except openai.APITimeoutError:
                raise AIUnavailable(
                    f"The AI server {self.server} did not answer within {self.timeout:g} s.",
                    retry_reason="timeout",
                ) from None
            except openai.APIConnectionError:
                raise AIUnavailable(
                    f"The AI server {self.server} could not be reached (connection error).",
                    retry_reason="connection",
                ) from None
            except openai.APIStatusError as exc:
                raise self._status_error(exc, model=model) from None
            return self._parse(response, model=model)

        try:
            (text, used_model, finish, usage, raw_text), stats = call_with_retries(
                once,
                policy=self.policy,
                is_transient=lambda exc: isinstance(exc, AIUnavailable),
                retry_after_of=lambda exc: getattr(exc, "retry_after", None),
                sleep=self._sleep,
            )
        except AIError as exc:
            logger.info("AI chat completion failed: server=%s model=%s: %s", self.server, model, exc)
            raise
        return _Answer(
            text=text, model=used_model, finish_reason=finish, usage=usage, retry=stats, raw_text=raw_text
        )

    def _parse(
        self, response: httpx.Response, *, model: str
    ) -> tuple[str, str, str | None, dict | None, str]:
        status = response.status_code

        def malformed(what: str) -> AIUnavailable:
            return AIUnavailable(
                f"The AI server {self.server} answered HTTP {status} with {what}.",
                status=status,
                retry_reason="malformed",
            )

        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise malformed("a body that is not JSON") from None
        if not isinstance(body, dict):
            raise malformed("JSON that is not a chat completion")
        if body.get("error"):
            raise self._body_error(body["error"], status=status, model=model)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed("a chat completion without choices")
        choice = choices[0]
        finish = choice.get("finish_reason")
        message = choice.get("message")
        if finish == "content_filter":
            raise AIRefused(
                f"The AI server {self.server} withheld the answer (finish_reason content_filter).",
                status=status,
            )
        if not isinstance(message, dict):
            raise malformed("a choice without a message")
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise AIRefused(f"The model refused: {self._scrub(refusal)}", status=status)
        content = message.get("content")
        if isinstance(content, list):  # some servers answer in content parts
            content = " ".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        if not isinstance(content, str):
            raise malformed("a message without text content")
        text = " ".join(content.split())
        if not text:
            raise AIUnavailable(
                f"The AI server {self.server} returned an empty answer (finish_reason {finish}).",
                status=status,
                retry_reason="empty",
            )
        used_model = body.get("model") if isinstance(body.get("model"), str) and body.get("model") else model
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        return text, used_model, finish if isinstance(finish, str) else None, usage, content.strip()

    def _status_error(self, exc: openai.APIStatusError, *, model: str) -> AIError:
        status = exc.status_code
        error = exc.body if isinstance(exc.body, dict) else {}
        if isinstance(error.get("error"), dict):
            error = error["error"]
        if self._is_refusal(error):
            return AIRefused(
                f"The AI server {self.server} refused the request under its content policy (HTTP {status}).",
                status=status,
            )
        if status in TRANSIENT_STATUSES or status >= 500:
            headers = exc.response.headers
            retry_after = parse_retry_after(headers.get("retry-after"))
            if retry_after is None and headers.get("retry-after-ms"):
                ms = parse_retry_after(headers.get("retry-after-ms"))
                retry_after = ms / 1000 if ms is not None else None
            busy = "is rate-limiting requests" if status == 429 else "answered with an error"
            return AIUnavailable(
                f"The AI server {self.server} {busy} (HTTP {status}); try again later.",
                status=status,
                retry_after=retry_after,
            )
        if status in (401, 403):
            return AIError(
                f"The AI server {self.server} refused the API key (HTTP {status}): check AI_API_KEY "
                f"or the sensitive system setting {API_KEY_CONFIG!r}.",
                status=status,
            )
        detail = self._server_message(error)
        if status == 404:
            return AIError(
                f"The AI server {self.server} does not know model {model!r} or has no chat completions "
                f"endpoint (HTTP 404){detail}",
                status=status,
            )
        return AIError(
            f"The AI server {self.server} refused the request (HTTP {status}){detail}", status=status
        )

    def _body_error(self, error: Any, *, status: int, model: str) -> AIError:
        """An `{"error": ...}` body with a 2xx status (some compatible servers answer like this)."""
        error = error if isinstance(error, dict) else {"message": str(error)}
        if self._is_refusal(error):
            return AIRefused(
                f"The AI server {self.server} refused the request under its content policy.", status=status
            )
        return AIUnavailable(
            f"The AI server {self.server} answered with an error for model {model!r}"
            f"{self._server_message(error)}",
            status=status,
            retry_reason="error_body",
        )

    @staticmethod
    def _is_refusal(error: dict) -> bool:
        code = str(error.get("code") or "").lower()
        kind = str(error.get("type") or "").lower()
        return code in REFUSAL_CODES or "moderation" in code or "moderation" in kind

    def _server_message(self, error: dict) -> str:
        message = error.get("message")
        return f": {self._scrub(message)}" if isinstance(message, str) and message.strip() else "."

    def _scrub(self, text: str) -> str:
        """A server's words, short and without our key (some servers echo what they were sent)."""
        for secret in {self._key_in_use, self._api_key or ""}:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return " ".join(text.split())[:SERVER_MESSAGE_CHARS]
