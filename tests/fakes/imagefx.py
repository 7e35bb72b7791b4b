"""A small Google ImageFX (labs.google + aisandbox) for tests, on pytest-httpserver.

    from tests.fakes.imagefx import FakeImageFX

    def test_something(httpserver):
        fake = FakeImageFX(httpserver)
        client = fake.client()                    # ImageFXClient pointed at it, sleeps recorded
        images = client.generate(prompt="A cat", seed=7, count=2, aspect_ratio=..., model="IMAGEN_3")
        assert fake.count("POST", "/v1:runImageFx") == 1

Wire formats (the original client's, see platforms/kinds/imagefx/client.py):
- GET  /fx/api/auth/session: the `Cookie` header must equal `fake.cookie`; answers
  `{"access_token", "expires", "user": {"name", "email", "image"}}`; a wrong or expired cookie gets
  `{}` (HTTP 200), as labs.google answers a signed-out browser.
- POST /v1:runImageFx (body JSON sent as text/plain): `Authorization: Bearer <token>` must be a
  token the session issued and not revoked, else 401 (Google API error). Answers `imagePanels[0].
  generatedImages[]` with `candidatesCount` images: a tiny PNG each, `seed` (the request's, + index),
  unique `mediaGenerationId`, `modelNameType`, `workflowId`, `fingerprintLogRecordId`, `prompt`,
  `aspectRatio`. Each image is kept for fetchMedia.
- GET  /fx/api/trpc/media.fetchMedia?input={"json":{"mediaKey": id}}: the image under
  `result.data.json.result.image`, or a tRPC 404.
- POST /fx/api/trpc/backbone.captionImage: `{"json": {"captionInput": {"candidatesCount",
  "mediaInput": {"mediaCategory", "rawBytes": data URI}}}}` -> `result.data.json.result.candidates[]
  .output` (`fake.captions` is the list served, cycled).

Failure knobs (besides tests.fakes.base's `fail_next`, `rate_limit_next`, `malformed_next`,
`hang_next` with `path=` one of the paths above; runImageFx by default):
- `expire_cookie()`: the session answers `{}` from now on (an expired or signed-out cookie);
- `revoke_tokens()`: tokens issued so far get 401 (a token that expired early; a new session works);
- `refuse_next(times=1)`: runImageFx answers 400 INVALID_ARGUMENT with reason
  PUBLIC_ERROR_UNSAFE_GENERATION (the safety filter);
- `withhold_next(times=1)`: runImageFx answers 200 with an empty `generatedImages` (all filtered).
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image
from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

DEFAULT_COOKIE = "__Secure-next-auth.session-token=fake-imagefx-cookie-0123456789"
SESSION_PATH = "/fx/api/auth/session"
GENERATE_PATH = "/v1:runImageFx"
FETCH_PATH = "/fx/api/trpc/media.fetchMedia"
CAPTION_PATH = "/fx/api/trpc/backbone.captionImage"


def tiny_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)).save(buffer, format="PNG")
    return buffer.getvalue()


def google_error(status: int, message: str, *, state: str, reason: str | None = None) -> dict:
    error: dict[str, Any] = {"code": status, "message": message, "status": state}
    if reason:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "aisandbox"}
        ]
    return {"error": error}


def trpc_error(status: int, code: str, message: str) -> dict:
    return {
        "error": {"json": {"message": message, "code": -32001, "data": {"code": code, "httpStatus": status}}}
    }


class FakeImageFX(FakeHttpPlatform):
    prefix = r"^/(fx/api/|v1:)"
    post_path = GENERATE_PATH
    malformed_body = '{"imagePanels": [{"generatedImages": [{"encodedIm'

    def __init__(
        self, httpserver, *, cookie: str = DEFAULT_COOKIE, token_ttl: timedelta = timedelta(hours=1)
    ):
        super().__init__(httpserver)
        self.cookie = cookie
        self.token_ttl = token_ttl
        self.labs_url = httpserver.url_for("/fx").rstrip("/")
        self.api_url = self.base_url
        self.captions = ["A cat sitting on a red sofa."]
        self.images: dict[str, dict[str, Any]] = {}
        self.sleeps: list[float] = []
        self.cookie_expired = False
        self._tokens: dict[str, bool] = {}  # token -> valid
        self._ids = itertools.count(1)
        self._refusals = 0
        self._withheld = 0
        self._state_lock = threading.Lock()

    # Knobs ------------------------------------------------------------------------------------

    def expire_cookie(self) -> None:
        self.cookie_expired = True

    def revoke_tokens(self) -> None:
        with self._state_lock:
            for token in self._tokens:
                self._tokens[token] = False

    def refuse_next(self, *, times: int = 1) -> None:
        with self._state_lock:
            self._refusals += times

    def withhold_next(self, *, times: int = 1) -> None:
        with self._state_lock:
            self._withheld += times

    @property
    def tokens_issued(self) -> int:
        return len(self._tokens)

    # Clients for this server ------------------------------------------------------------------

    def client(self, **overrides):
        from platforms.kinds.imagefx.client import ImageFXClient

        options = {
            "cookie": self.cookie,
            "labs_url": self.labs_url,
            "api_url": self.api_url,
            "timeout": 2.0,
            "sleep": self.sleeps.append,
            **overrides,
        }
        return ImageFXClient(**options)

    def backend(self, **overrides):
        from generation.backends.imagefx import ImageFXBackend

        options = {
            "cookie": self.cookie,
            "labs_url": self.labs_url,
            "api_url": self.api_url,
            "timeout": 2.0,
            "sleep": self.sleeps.append,
            **overrides,
        }
        return ImageFXBackend(**options)

    # Serving ----------------------------------------------------------------------------------

    def error_body(self, status: int) -> Any:
        states = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        return google_error(status, f"Fake failure (HTTP {status})", state=states.get(status, "UNKNOWN"))

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if path == SESSION_PATH and method == "GET":
            return self._session(request)
        if path == GENERATE_PATH and method == "POST":
            return self._generate(request)
        if path == FETCH_PATH and method == "GET":
            return self._fetch(request)
        if path == CAPTION_PATH and method == "POST":
            return self._caption(request)
        return json_response(google_error(404, "Not found", state="NOT_FOUND"), 404)

    def _session(self, request: Request) -> Response:
        if self.cookie_expired or request.headers.get("Cookie") != self.cookie:
            return json_response({})
        token = f"ya29.fake-token-{next(self._ids)}"
        with self._state_lock:
            self._tokens[token] = True
        expires = datetime.now(UTC) + self.token_ttl
        return json_response(
            {
                "user": {
                    "name": "Test User",
                    "email": "test@example.com",
                    "image": "https://example.com/a.png",
                },
                "expires": expires.isoformat().replace("+00:00", "Z"),
                "access_token": token,
            }
        )

    def _token_ok(self, request: Request) -> bool:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        with self._state_lock:
            return bool(auth.startswith("Bearer ") and self._tokens.get(token))

    def _generate(self, request: Request) -> Response:
        if not self._token_ok(request):
            return json_response(
                google_error(401, "Request had invalid authentication credentials.", state="UNAUTHENTICATED"),
                401,
            )
        try:
            payload = json.loads(request.get_data() or b"null")
            user_input = payload["userInput"]
            count = int(user_input["candidatesCount"])
            prompt = user_input["prompts"][0]
            seed = int(user_input.get("seed", 0))
            model = payload["modelInput"]["modelNameType"]
            aspect = payload["aspectRatio"]
            assert payload["clientContext"]["tool"] == "IMAGE_FX"
        except (ValueError, KeyError, TypeError, IndexError, AssertionError):
            return json_response(google_error(400, "Invalid JSON payload.", state="INVALID_ARGUMENT"), 400)
        with self._state_lock:
            refuse = self._refusals > 0
            self._refusals -= 1 if refuse else 0
            withhold = not refuse and self._withheld > 0
            self._withheld -= 1 if withhold else 0
        if refuse:
            return json_response(
                google_error(
                    400,
                    "Request contains an invalid argument.",
                    state="INVALID_ARGUMENT",
                    reason="PUBLIC_ERROR_UNSAFE_GENERATION",
                ),
                400,
            )
        workflow = f"fake-workflow-{next(self._ids)}"
        generated = []
        for index in range(0 if withhold else count):
            number = next(self._ids)
            image = {
                "encodedImage": base64.b64encode(tiny_png(seed + index)).decode("ascii"),
                "seed": seed + index,
                "mediaGenerationId": f"CAMSJDFake{number:06d}",
                "isMaskEditedImage": False,
                "modelNameType": model,
                "workflowId": workflow,
                "fingerprintLogRecordId": f"fp-{number}",
                "prompt": prompt,
                "aspectRatio": aspect,
            }
            with self._state_lock:
                self.images[image["mediaGenerationId"]] = image
            generated.append(image)
        return json_response(
            {"imagePanels": [{"prompt": prompt, "generatedImages": generated}], "workflowId": workflow}
        )

    def _fetch(self, request: Request) -> Response:
        if request.headers.get("Cookie") != self.cookie or self.cookie_expired:
            return json_response(trpc_error(401, "UNAUTHORIZED", "Unauthorized"), 401)
        try:
            key = json.loads(request.args.get("input", ""))["json"]["mediaKey"]
        except (ValueError, KeyError, TypeError):
            return json_response(trpc_error(400, "BAD_REQUEST", "Invalid input"), 400)
        with self._state_lock:
            image = self.images.get(key)
        if image is None:
            return json_response(trpc_error(404, "NOT_FOUND", "Media not found"), 404)
        return json_response({"result": {"data": {"json": {"result": {"image": image}}}}})

    def _caption(self, request: Request) -> Response:
        if request.headers.get("Cookie") != self.cookie or self.cookie_expired:
            return json_response(trpc_error(401, "UNAUTHORIZED", "Unauthorized"), 401)
        try:
            payload = json.loads(request.get_data() or b"null")["json"]["captionInput"]
            count = int(payload["candidatesCount"])
            media = payload["mediaInput"]
            assert media["rawBytes"].startswith("data:image/")
            assert media["mediaCategory"] == "MEDIA_CATEGORY_SUBJECT"
        except (ValueError, KeyError, TypeError, AssertionError):
            return json_response(trpc_error(400, "BAD_REQUEST", "Invalid input"), 400)
        candidates = [
            {"output": self.captions[i % len(self.captions)], "mediaGenerationId": f"caption-{i}"}
            for i in range(count)
        ]
        return json_response({"result": {"data": {"json": {"result": {"candidates": candidates}}}}})
