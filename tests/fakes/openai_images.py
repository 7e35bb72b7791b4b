"""A small OpenAI-compatible images server for tests, on pytest-httpserver.

    from tests.fakes.openai_images import FakeOpenAIImages

    def test_something(httpserver):
        fake = FakeOpenAIImages(httpserver)
        backend = fake.backend()                    # OpenAIImageBackend pointed at it
        results = backend.generate(ImageRequest(prompt="A cat", count=2))
        assert fake.requests_to("/v1/images/generations")[0].json["n"] == 2

Endpoints (Authorization: Bearer `fake.api_key`, else 401):
- POST /v1/images/generations, JSON `{"model", "prompt", "n", "size", "response_format"}` ->
  `{"created", "data": [{"b64_json", "revised_prompt"}]}` with `n` tiny PNGs (`fake.image_format`
  "png" or "jpeg").
- POST /v1/images/edits, multipart (image file, prompt, n, size, model, response_format) -> the
  same shape; `fake.edits` records (form fields, image bytes).
Failure knobs (tests.fakes.base, `path=` either endpoint; generations by default): `fail_next`,
`rate_limit_next(retry_after)`, `malformed_next`, `hang_next`, and `refuse_next(code=...)`: a 400
with the OpenAI error `code` `content_policy_violation` (or `moderation_blocked`).
"""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

from PIL import Image
from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_KEY = "sk-fake-images-0123456789"
DEFAULT_MODEL = "fake-image-1"
GENERATIONS_PATH = "/v1/images/generations"
EDITS_PATH = "/v1/images/edits"


def tiny_image(index: int, *, image_format: str = "png") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (index * 40 % 256, 120, 200)).save(buffer, format=image_format.upper())
    return buffer.getvalue()


class FakeOpenAIImages(FakeHttpPlatform):
    prefix = r"^/v1/images/"
    post_path = GENERATIONS_PATH
    malformed_body = '{"created": 1700000000, "data": [{"b64_js'

    def __init__(self, httpserver, *, api_key: str = DEFAULT_KEY, model: str = DEFAULT_MODEL):
        super().__init__(httpserver)
        self.api_key = api_key
        self.model = model
        self.image_format = "png"
        self.sleeps: list[float] = []
        self.edits: list[dict[str, Any]] = []

    def backend(self, **overrides):
        from generation.backends.openai_images import OpenAIImageBackend

        options = {
            "base_url": f"{self.base_url}/v1",
            "api_key": self.api_key,
            "model": self.model,
            "timeout": 2.0,
            "sleep": self.sleeps.append,
            **overrides,
        }
        return OpenAIImageBackend(**options)

    def refuse_next(self, *, code: str = "content_policy_violation", path: str | None = None, times: int = 1):
        body = {
            "error": {
                "message": "Your request was rejected as a result of our safety system.",
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
        self.fail_next(400, body=body, path=path, times=times)

    def error_body(self, status: int) -> Any:
        return {"error": {"message": f"Fake failure (HTTP {status})", "type": "server_error", "code": None}}

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                401,
            )
        if method != "POST" or path not in (GENERATIONS_PATH, EDITS_PATH):
            return json_response({"error": {"message": "Not found", "type": "invalid_request_error"}}, 404)
        if path == GENERATIONS_PATH:
            fields = body if isinstance(body, dict) else json.loads(request.get_data() or b"{}")
        else:
            fields = request.form.to_dict()
            upload = request.files.get("image")
            if upload is None:
                return json_response(
                    {"error": {"message": "image is required", "type": "invalid_request_error"}}, 400
                )
            self.edits.append({"fields": fields, "image": upload.read()})
        try:
            n = int(fields.get("n", 1))
            prompt = str(fields["prompt"])
        except (KeyError, TypeError, ValueError):
            return json_response(
                {"error": {"message": "Invalid request", "type": "invalid_request_error"}}, 400
            )
        data = [
            {
                "b64_json": base64.b64encode(tiny_image(i, image_format=self.image_format)).decode("ascii"),
                "revised_prompt": f"{prompt} (revised)",
            }
            for i in range(n)
        ]
        return json_response({"created": int(time.time()), "data": data})
