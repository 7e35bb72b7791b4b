"""A scriptable OpenAI-compatible chat-completions server for tests, on pytest-httpserver.

    from tests.fakes.openai_chat import FakeOpenAIChat

    def test_something(httpserver):
        fake = FakeOpenAIChat(httpserver)
        fake.rate_limit_next(retry_after="2")                      # steps are served in order:
        fake.reply("A first draft")                                # a 429, then a draft,
        fake.reply_json({"score": 60, "feedback": "Too long", "criteria_scores": {...}})
        backend = fake.backend()                                   # OpenAIBackend pointed at it
        ...
        assert fake.requests[1].prompt.startswith("Platform: x")
        assert fake.sleeps == [2.0]                                # backoff recorded, never slept

Everything is one FIFO script: `reply`, `reply_json` and the failure knobs append steps, and each
POST to `/v1/chat/completions` consumes the next step. When the script is empty the server answers
`default_reply` (a constructor argument; None makes it answer 500 "nothing scripted", so a test
that forgets a step fails loudly).

Steps:
- `reply(content, *, model=None, finish_reason="stop", times=1)`: a chat completion whose message
  content is `content` (a str, or a list of content parts).
- `reply_json(obj, *, fenced=False, prose="", times=1)`: content = json.dumps(obj), optionally in a
  ```json fence and/or after some prose, as real models answer.
- `rate_limit_next(retry_after="1", times=1)`: 429 with Retry-After (None sends none).
- `error_next(status=500, times=1, body=None)`: that status with an OpenAI-style error body.
- `malformed_next(times=1)`: 200 with a truncated JSON body.
- `empty_next(times=1)`: 200, a completion with empty content.
- `refuse_next(times=1)`: 200, a message with a `refusal`.
- `hang_next(seconds, times=1)`: wait `seconds` (or until `release_hangs()`), then serve the next
  step (or the default). Use a backend timeout below `seconds` to get a timeout, and call
  `release_hangs()` before the test ends so the single-threaded server is free again.

Request log: `fake.requests` (ChatRequest: headers, body, model, max_tokens, messages, system,
prompt), `fake.count`.
Backends: `fake.backend(**overrides)` builds an OpenAIBackend for this server with `sleep`
recording into `fake.sleeps` (no test waits) and short timeouts.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

DEFAULT_KEY = "sk-fake-openai-0123456789"
DEFAULT_MODEL = "fake-chat-1"


@dataclass
class ChatRequest:
    headers: dict[str, str]
    body: Any

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def max_tokens(self) -> int | None:
        return self.body.get("max_tokens") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []

    def _content(self, role: str) -> str:
        for message in self.messages:
            if message.get("role") == role:
                content = message.get("content")
                if isinstance(content, list):
                    return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
                return content or ""
        return ""

    @property
    def system(self) -> str:
        return self._content("system")

    @property
    def prompt(self) -> str:
        return self._content("user")


@dataclass
class _Step:
    kind: str  # reply | status | malformed | hang
    content: Any = None
    model: str | None = None
    finish_reason: str = "stop"
    status: int = 200
    retry_after: str | None = None
    body: Any = None
    seconds: float = 0.0
    refusal: str | None = None
    extra: dict = field(default_factory=dict)


def completion(content: Any, *, model: str, finish_reason: str = "stop", refusal: str | None = None) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class FakeOpenAIChat:
    def __init__(
        self,
        httpserver,
        *,
        prefix: str = "/v1",
        model: str = DEFAULT_MODEL,
        api_key: str = DEFAULT_KEY,
        default_reply: str | None = None,
    ):
        self.httpserver = httpserver
        self.prefix = prefix.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.default_reply = default_reply
        self.base_url = httpserver.url_for(self.prefix)
        self.requests: list[ChatRequest] = []
        self.sleeps: list[float] = []
        self._script: list[_Step] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._release = threading.Event()
        httpserver.expect_request(f"{self.prefix}/chat/completions", method="POST").respond_with_handler(
            self._handle
        )

    # Scripting -----------------------------------------------------------------------------------

    def _add(self, step: _Step, times: int) -> None:
        with self._lock:
            self._script.extend(_Step(**{**step.__dict__, "extra": dict(step.extra)}) for _ in range(times))

    def reply(self, content: Any, *, model: str | None = None, finish_reason: str = "stop", times: int = 1):
        self._add(_Step("reply", content=content, model=model, finish_reason=finish_reason), times)

    def reply_json(self, obj: Any, *, fenced: bool = False, prose: str = "", times: int = 1) -> None:
        text = json.dumps(obj)
        if fenced:
            text = f"```json\n{text}\n```"
        if prose:
            text = f"{prose}\n{text}"
        self.reply(text, times=times)

    def rate_limit_next(self, retry_after: str | None = "1", *, times: int = 1) -> None:
        body = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
        self._add(_Step("status", status=429, retry_after=retry_after, body=body), times)

    def error_next(self, status: int = 500, *, times: int = 1, body: Any = None) -> None:
        body = (
            body
            if body is not None
            else {"error": {"message": "The server had an error", "type": "server_error"}}
        )
        self._add(_Step("status", status=status, body=body), times)

    def malformed_next(self, *, times: int = 1) -> None:
        self._add(_Step("malformed"), times)

    def empty_next(self, *, times: int = 1) -> None:
        self.reply("", times=times)

    def refuse_next(self, *, times: int = 1) -> None:
        self._add(_Step("reply", content=None, refusal="I can't help with that."), times)

    def hang_next(self, seconds: float, *, times: int = 1) -> None:
        self._add(_Step("hang", seconds=seconds), times)

    def release_hangs(self) -> None:
        """End every hang now (call it at the end of a timeout test, so the server is free)."""
        self._release.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def count(self) -> int:
        return len(self.requests)

    # A backend for this server --------------------------------------------------------------------

    def backend(self, **overrides):
        from core.ai.openai_backend import OpenAIBackend

        options = {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "timeout": 2.0,
            "text_model": self.model,
            "vision_model": self.model,
            "sleep": self.sleeps.append,
            **overrides,
        }
        return OpenAIBackend(**options)

    # Serving --------------------------------------------------------------------------------------

    def _next(self) -> _Step | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    def _handle(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(ChatRequest(headers=dict(request.headers), body=body))
        step = self._next()
        while step is not None and step.kind == "hang":
            # waiting outside the lock: other requests (threaded server) still get served
            self._release.wait(step.seconds)
            step = self._next()
        return self._serve(step, body)

    def _serve(self, step: _Step | None, body: Any) -> Response:
        requested = body.get("model") if isinstance(body, dict) else None
        if step is None:
            if self.default_reply is None:
                return _json({"error": {"message": "nothing scripted", "type": "server_error"}}, 500)
            return _json(completion(self.default_reply, model=requested or self.model))
        if step.kind == "reply":
            return _json(
                completion(
                    step.content,
                    model=step.model or requested or self.model,
                    finish_reason=step.finish_reason,
                    refusal=step.refusal,
                )
            )
        if step.kind == "malformed":
            return Response(
                '{"id": "chatcmpl-fake", "choices": [{"mess', status=200, content_type="application/json"
            )
        headers = {"Retry-After": step.retry_after} if step.retry_after is not None else None
        return _json(step.body, step.status, headers)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")
