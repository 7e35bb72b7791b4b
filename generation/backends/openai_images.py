"""An OpenAI-compatible image server: POST {AI_BASE_URL}/images/generations (and /images/edits).

Wire: `{"model", "prompt", "n", "size", "response_format": "b64_json"}`; the answer is
`{"data": [{"b64_json": ..., "revised_prompt": ...}]}`. Sizes come from the aspect ratio (DALL-E 3
knows 1792-pixel sides, the others 1536). OpenAI has no seed: results say `seed: None` and the
metadata notes that the requested seed was not used.

With a `reference` image (persona variations) the request goes to `/images/edits` as multipart
when `settings.IMAGE_OPENAI_EDITS` is true; otherwise (many compatible servers have no edits
endpoint) the prompt alone is sent and the metadata says the reference was not used.

Like core.ai.openai_backend: the SDK's own retries are off; `core.retry` retries with the project's
policy. Generating costs money and cannot be checked afterwards, so it is retried only after a
failure known not to have taken effect (429, connection refused); an ambiguous failure (timeout,
5xx) goes back to the caller, whose task re-queues with backoff. Captions (vision chat) are
delegated to core.ai's OpenAI backend. Moderation (400 `content_policy_violation` /
`moderation_blocked`) raises `ImageBackendRefused`. The key is never logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
from django.conf import settings

from core.ai.base import AIError, AIRefused, AIUnavailable, CaptionRequest, ImageInput
from core.ai.openai_backend import NO_KEY_PLACEHOLDER, OpenAIBackend, resolve_api_key
from core.retry import RetryPolicy, call_with_retries, parse_retry_after
from generation.backends.base import (
    ImageBackendAuthError,
    ImageBackendError,
    ImageBackendRefused,
    ImageBackendUnavailable,
    ImageRequest,
    ImageResult,
)
from generation.models import AspectRatio

logger = logging.getLogger(__name__)

SIZES = {
    AspectRatio.SQUARE: "1024x1024",
    AspectRatio.PORTRAIT: "1024x1536",
    AspectRatio.LANDSCAPE: "1536x1024",
    AspectRatio.UNSPECIFIED: "1024x1024",
}
DALL_E_3_SIZES = {**SIZES, AspectRatio.PORTRAIT: "1024x1792", AspectRatio.LANDSCAPE: "1792x1024"}
REFUSAL_CODES = {"content_policy_violation", "moderation_blocked", "content_filter"}
TRANSIENT_STATUSES = {408, 409, 429}
CAPTION_PROMPT = "Describe this image in one or two sentences for someone who cannot see it."
SERVER_MESSAGE_CHARS = 200


def image_size_for(*, model: str, aspect_ratio: str) -> str:
    table = DALL_E_3_SIZES if model.lower().startswith("dall-e-3") else SIZES
    return table.get(aspect_ratio, table[AspectRatio.SQUARE])


def sniff_mime_type(data: bytes) -> str | None:
    """The image type from its first bytes (servers do not say, and gpt-image-1 may send JPEG/WebP)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class OpenAIImageBackend:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
        edits: bool | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = (base_url or settings.AI_BASE_URL).rstrip("/")
        self._api_key = api_key
        self.model = model or settings.IMAGE_OPENAI_MODEL
        self.timeout = float(timeout if timeout is not None else settings.IMAGE_TIMEOUT)
        self.edits = settings.IMAGE_OPENAI_EDITS if edits is None else edits
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._key_in_use = ""
        parts = urlsplit(self.base_url)
        self.server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def __repr__(self) -> str:
        return f"OpenAIImageBackend(server={self.server!r}, model={self.model!r})"

    # -- the ImageBackend interface -------------------------------------------------------------

    def generate(self, request: ImageRequest) -> list[ImageResult]:
        client = self._client()
        size = image_size_for(model=self.model, aspect_ratio=request.aspect_ratio)
        use_edits = request.reference is not None and self.edits
        endpoint = "images/edits" if use_edits else "images/generations"
        reference_type = sniff_mime_type(request.reference or b"") or "image/png"

        def once() -> list[dict[str, Any]]:
            try:
                if use_edits:
                    raw = client.images.with_raw_response.edit(
                        image=("reference.png", request.reference, reference_type),
                        prompt=request.prompt,
                        model=self.model,
                        n=request.count,
                        size=size,
                        response_format="b64_json",
                    )
                else:
                    raw = client.images.with_raw_response.generate(
                        prompt=request.prompt,
                        model=self.model,
                        n=request.count,
                        size=size,
                        response_format="b64_json",
                    )
            except openai.APITimeoutError:
                raise _unavailable(
                    f"The image server {self.server} did not answer within {self.timeout:g} s.",
                    reason="timeout",
                    ambiguous=True,
                ) from None
            except openai.APIConnectionError as exc:
                never_sent = isinstance(exc.__cause__, httpx.ConnectError)
                raise _unavailable(
                    f"The image server {self.server} could not be reached (connection error).",
                    reason="connection",
                    ambiguous=not never_sent,
                ) from None
            except openai.APIStatusError as exc:
                raise self._status_error(exc) from None
            return self._parse(raw.http_response)

        logger.debug("Image generation: server=%s model=%s endpoint=%s", self.server, self.model, endpoint)
        try:
            items, stats = call_with_retries(
                once,
                policy=self.policy,
                is_transient=lambda exc: isinstance(exc, ImageBackendUnavailable),
                retry_after_of=lambda exc: getattr(exc, "retry_after", None),
                sleep=self._sleep,
                idempotent=False,
            )
        except ImageBackendError as exc:
            logger.info("Image generation failed: server=%s model=%s: %s", self.server, self.model, exc)
            raise
        results = []
        for index, item in enumerate(items):
            metadata: dict[str, Any] = {
                "backend": self.name,
                "server": self.server,
                "endpoint": endpoint,
                "size": size,
                "index": index,
                "requested_model": request.model,
                "seed_used": False,
                "note": "OpenAI-compatible servers take no seed; the requested seed was not used.",
                "retry": stats.as_dict(),
            }
            if item.get("revised_prompt"):
                metadata["revised_prompt"] = str(item["revised_prompt"])
            if request.reference is not None:
                metadata["reference_used"] = use_edits
                if not use_edits:
                    metadata["reference_note"] = (
                        "IMAGE_OPENAI_EDITS is off: the prompt alone was sent, not the reference image."
                    )
            results.append(
                ImageResult(
                    data=item["data"],
                    mime_type=item["mime_type"],
                    seed=None,
                    media_generation_id=f"openai-{uuid.uuid4().hex}",
                    model=self.model,
                    metadata=metadata,
                )
            )
        return results

    def caption(self, *, data: bytes, mime_type: str, count: int = 1) -> list[str]:
        backend = OpenAIBackend(
            base_url=self.base_url,
            api_key=self._api_key,
            timeout=self.timeout,
            policy=self.policy,
            sleep=self._sleep,
        )
        image = ImageInput(data=data, mime_type=mime_type)
        captions: list[str] = []
        try:
            for _ in range(max(1, count)):
                result = backend.caption_image(CaptionRequest(image=image, prompt=CAPTION_PROMPT))
                captions.append(result.text)
        except AIRefused as exc:
            raise ImageBackendRefused(str(exc), status=exc.status) from None
        except AIUnavailable as exc:
            raise ImageBackendUnavailable(
                str(exc), status=exc.status, retry_after=exc.retry_after, retry_reason=exc.retry_reason
            ) from None
        except AIError as exc:
            cls = ImageBackendAuthError if exc.status in (401, 403) else ImageBackendError
            raise cls(str(exc), status=exc.status) from None
        return captions

    # -- the wire --------------------------------------------------------------------------------

    def _client(self) -> openai.OpenAI:
        key = self._api_key if self._api_key is not None else resolve_api_key()
        self._key_in_use = key
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=key or NO_KEY_PLACEHOLDER,
            timeout=httpx.Timeout(self.timeout),
            max_retries=0,
        )

    def _parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        status = response.status_code

        def malformed(what: str) -> ImageBackendUnavailable:
            return _unavailable(
                f"The image server {self.server} answered HTTP {status} with {what}.",
                status=status,
                reason="malformed",
                ambiguous=True,
            )

        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise malformed("a body that is not JSON") from None
        if not isinstance(body, dict):
            raise malformed("JSON that is not an images response")
        if body.get("error"):
            error = body["error"] if isinstance(body["error"], dict) else {"message": str(body["error"])}
            if _is_refusal(error):
                raise ImageBackendRefused(
                    f"The image server {self.server} refused the prompt under its content policy.",
                    status=status,
                )
            raise malformed(f"an error{self._server_message(error)}")
        data = body.get("data")
        if not isinstance(data, list) or not data:
            raise malformed("no images")
        items = []
        for item in data:
            encoded = item.get("b64_json") if isinstance(item, dict) else None
            if not isinstance(encoded, str) or not encoded:
                raise malformed("an image without b64_json")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise malformed("an image that is not base64") from None
            mime_type = sniff_mime_type(raw)
            if mime_type is None:
                raise malformed("data that is not a PNG, JPEG or WebP image")
            items.append({"data": raw, "mime_type": mime_type, "revised_prompt": item.get("revised_prompt")})
        return items

    def _status_error(self, exc: openai.APIStatusError) -> ImageBackendError:
        status = exc.status_code
        error = exc.body if isinstance(exc.body, dict) else {}
        if isinstance(error.get("error"), dict):
            error = error["error"]
        if _is_refusal(error):
            return ImageBackendRefused(
                f"The image server {self.server} refused the prompt under its content policy "
                f"(HTTP {status}).",
                status=status,
            )
        if status in TRANSIENT_STATUSES or status >= 500:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            busy = "is rate-limiting requests" if status == 429 else "answered with an error"
            return _unavailable(
                f"The image server {self.server} {busy} (HTTP {status}); try again later.",
                status=status,
                retry_after=retry_after,
                # a 429 or 408 was refused before any work; a 5xx may have generated (and billed)
                ambiguous=status >= 500 or status == 409,
            )
        if status in (401, 403):
            return ImageBackendAuthError(
                f"The image server {self.server} refused the API key (HTTP {status}): check AI_API_KEY "
                "or the sensitive system setting 'ai_api_key'.",
                status=status,
            )
        return ImageBackendError(
            f"The image server {self.server} refused the request (HTTP {status})"
            f"{self._server_message(error)}",
            status=status,
        )

    def _server_message(self, error: dict) -> str:
        message = error.get("message")
        if not isinstance(message, str) or not message.strip():
            return "."
        if self._key_in_use and len(self._key_in_use) >= 4:
            message = message.replace(self._key_in_use, "***")
        return ": " + " ".join(message.split())[:SERVER_MESSAGE_CHARS]


def _is_refusal(error: dict) -> bool:
    code = str(error.get("code") or "").lower()
    kind = str(error.get("type") or "").lower()
    return code in REFUSAL_CODES or "moderation" in code or "moderation" in kind


def _unavailable(
    message: str,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    reason: str | None = None,
    ambiguous: bool,
) -> ImageBackendUnavailable:
    exc = ImageBackendUnavailable(message, status=status, retry_after=retry_after, retry_reason=reason)
    exc.ambiguous = ambiguous
    return exc
