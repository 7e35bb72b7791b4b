"""Google ImageFX (labs.google), the private endpoints the original client (seed 002) used.

- Session: `GET {IMAGEFX_LABS_URL}/api/auth/session` with the user's labs.google cookie answers
  `{"access_token", "expires", "user": {"name", "email", "image"}}`. A signed-out or expired cookie
  gets `{}` (or a 401/403): that is `PlatformAuthError`, shown on the prompt, never a crash. The
  token is kept in this process's memory until 60 s before `expires` (never in a shared cache or the
  database: it is a bearer secret), keyed by a hash of the cookie.
- Generate: `POST {IMAGEFX_API_URL}/v1:runImageFx` with `Authorization: Bearer <token>` and
  `{"userInput": {"candidatesCount", "prompts": [prompt], "seed"}, "clientContext": {"sessionId",
  "tool": "IMAGE_FX"}, "modelInput": {"modelNameType"}, "aspectRatio"}`; the images are
  `imagePanels[0].generatedImages[]` with `encodedImage` (base64 PNG), `seed`, `mediaGenerationId`,
  `modelNameType`, `workflowId`, `fingerprintLogRecordId`. A 401 there means the token expired
  early: the session is fetched again once.
- Fetch: `GET {labs}/api/trpc/media.fetchMedia?input={"json":{"mediaKey": id}}` -> `result.data.json.
  result.image`.
- Caption: `POST {labs}/api/trpc/backbone.captionImage` with `{"json": {"clientContext": {...},
  "captionInput": {"candidatesCount", "mediaInput": {"mediaCategory": "MEDIA_CATEGORY_SUBJECT",
  "rawBytes": <data URI>}}}}` -> `result.data.json.result.candidates[].output`.

Failures: 401/403 -> PlatformAuthError; 429 (Retry-After), 408, 5xx, timeouts and malformed bodies
-> PlatformUnavailableError (with `retry_after`, `ambiguous`, `retry_reason`); a safety refusal
(400 whose reason or message names the safety filter, or an answer whose images were all withheld)
-> ImageFXRefused. Retries go through `core.retry`; `runImageFx` uses up quota, so it is retried
only after failures known not to have run (429, 408, connection refused). Messages name the host
and status, never the cookie or token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from core.retry import RetryPolicy, RetryStats, call_with_retries, parse_retry_after
from core.urlguard import OutboundRefused, guarded_client
from platforms.kinds.common import PlatformAuthError, PlatformError, PlatformUnavailableError, platform_error

logger = logging.getLogger(__name__)

USER_AGENT = "Mozilla/5.0 (compatible; socialdesk)"
ORIGIN = "https://labs.google"
TOKEN_MARGIN = timedelta(seconds=60)
MAX_CAPTIONS = 8
MEDIA_CATEGORY = "MEDIA_CATEGORY_SUBJECT"
REFUSAL_MARKERS = ("UNSAFE", "SAFETY", "FILTER", "PROMINENT_PEOPLE", "SEXUAL", "VIOLENCE", "CHILD")
EXPIRED_COOKIE = (
    "ImageFX did not accept the labs.google cookie: it has expired or was signed out. "
    "Sign in at labs.google and paste a fresh cookie into the ImageFX connection."
)


class ImageFXRefused(PlatformError):
    """ImageFX's safety filters refused the prompt or withheld every image; retrying will not help."""

    reason = "refused"


@dataclass(frozen=True)
class ImageFXSession:
    access_token: str = field(repr=False)
    expires: datetime
    user: dict[str, Any]


@dataclass(frozen=True)
class ImageFXImage:
    encoded_image: str = field(repr=False)
    media_generation_id: str
    seed: int | None = None
    model_name_type: str | None = None
    workflow_id: str | None = None
    fingerprint_log_record_id: str | None = None
    prompt: str | None = None
    aspect_ratio: str | None = None

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.encoded_image)


# The session tokens of this process, by hash of (labs URL, cookie); see the module docstring.
_SESSIONS: dict[str, ImageFXSession] = {}
_SESSIONS_LOCK = threading.Lock()


def imagefx_forget_sessions() -> None:
    """Drop every cached session token (tests; a changed cookie gets a new key anyway)."""
    with _SESSIONS_LOCK:
        _SESSIONS.clear()


def session_id() -> str:
    # The web client's form: a semicolon and the time in milliseconds.
    return f";{int(time.time() * 1000)}"


class ImageFXClient:
    """One user's ImageFX access. Building it makes no request; close it (or use `with`) when done."""

    def __init__(
        self,
        *,
        cookie: str,
        labs_url: str | None = None,
        api_url: str | None = None,
        timeout: float | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not cookie or not cookie.strip():
            raise PlatformAuthError("The ImageFX connection has no cookie: paste your labs.google cookie.")
        self._cookie = cookie.strip()
        self.labs_url = (labs_url or settings.IMAGEFX_LABS_URL).rstrip("/")
        self.api_url = (api_url or settings.IMAGEFX_API_URL).rstrip("/")
        self.timeout = float(timeout if timeout is not None else settings.IMAGE_TIMEOUT)
        self.policy = policy or RetryPolicy()
        self.retry_stats = RetryStats()
        self._sleep = sleep
        self._key = hashlib.sha256(f"{self.labs_url}\x00{self._cookie}".encode()).hexdigest()
        self._http = guarded_client(
            timeout=self.timeout,
            headers={"User-Agent": USER_AGENT, "Origin": ORIGIN, "Referer": f"{ORIGIN}/fx/tools/image-fx"},
        )

    def __repr__(self) -> str:
        return f"ImageFXClient(labs_url={self.labs_url!r}, api_url={self.api_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ImageFXClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- public calls ----------------------------------------------------------------------------

    def session(self, *, refresh: bool = False) -> ImageFXSession:
        """The session token for the cookie, from memory while it is valid, else from labs.google."""
        if not refresh:
            with _SESSIONS_LOCK:
                cached = _SESSIONS.get(self._key)
            if cached is not None and cached.expires - TOKEN_MARGIN > datetime.now(UTC):
                return cached
        session = self._retrying(self._fetch_session, idempotent=True)
        with _SESSIONS_LOCK:
            _SESSIONS[self._key] = session
        return session

    def generate(
        self, *, prompt: str, seed: int = 0, count: int = 1, aspect_ratio: str, model: str
    ) -> list[ImageFXImage]:
        """runImageFx: `count` images for `prompt`."""
        payload = {
            "userInput": {"candidatesCount": count, "prompts": [prompt], "seed": seed},
            "clientContext": {"sessionId": session_id(), "tool": "IMAGE_FX"},
            "modelInput": {"modelNameType": model},
            "aspectRatio": aspect_ratio,
        }
        body = self._authorised(
            lambda token: self._request(
                "POST",
                f"{self.api_url}/v1:runImageFx",
                what="the image generation",
                content=json.dumps(payload),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain;charset=UTF-8"},
            ),
            idempotent=False,
        )
        return self._images_of(body)

    def fetch_media(self, *, media_key: str) -> ImageFXImage:
        """fetchMedia: a generated image again, by its media generation id."""
        query = json.dumps({"json": {"mediaKey": media_key}}, separators=(",", ":"))
        body = self._authorised(
            lambda token: self._request(
                "GET",
                f"{self.labs_url}/api/trpc/media.fetchMedia",
                what="the image",
                params={"input": query},
                headers={"Authorization": f"Bearer {token}", "Cookie": self._cookie},
            ),
            idempotent=True,
        )
        image = _dig(body, "result", "data", "json", "result", "image")
        if not isinstance(image, dict):
            raise self._malformed("the image", "does not contain an image")
        return self._image_of(image, what="the image")

    def caption(self, *, data: bytes, mime_type: str, count: int = 1) -> list[str]:
        """captionImage: up to `count` (1-8) descriptions of the image."""
        count = max(1, min(MAX_CAPTIONS, count))
        raw = f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"
        payload = {
            "json": {
                "clientContext": {"sessionId": session_id(), "workflowId": ""},
                "captionInput": {
                    "candidatesCount": count,
                    "mediaInput": {"mediaCategory": MEDIA_CATEGORY, "rawBytes": raw},
                },
            }
        }
        body = self._authorised(
            lambda token: self._request(
                "POST",
                f"{self.labs_url}/api/trpc/backbone.captionImage",
                what="the caption",
                json_body=payload,
                headers={"Authorization": f"Bearer {token}", "Cookie": self._cookie},
            ),
            idempotent=True,
        )
        candidates = _dig(body, "result", "data", "json", "result", "candidates")
        if not isinstance(candidates, list):
            raise self._malformed("the caption", "has no candidates")
        captions = [
            " ".join(c["output"].split())
            for c in candidates
            if isinstance(c, dict) and isinstance(c.get("output"), str) and c["output"].strip()
        ]
        if not captions:
            raise platform_error(
                ImageFXRefused,
                f"{self._host(self.labs_url)} returned no caption for the image (its filters withheld it).",
                status=200,
            )
        return captions

    # -- the wire --------------------------------------------------------------------------------

    def _fetch_session(self) -> ImageFXSession:
        body = self._request(
            "GET", f"{self.labs_url}/api/auth/session", what="the session", headers={"Cookie": self._cookie}
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            # labs.google answers {} (HTTP 200) for a cookie that is no longer signed in.
            raise platform_error(PlatformAuthError, EXPIRED_COOKIE, status=401, reason="expired")
        try:
            expires = datetime.fromisoformat(str(body.get("expires")).replace("Z", "+00:00"))
        except ValueError:
            raise self._malformed("the session", "has no valid expiry") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        return ImageFXSession(access_token=token, expires=expires, user=user)

    def _authorised(self, call: Callable[[str], Any], *, idempotent: bool) -> Any:
        """Call with the session token; a 401 means it expired early: refresh the session once."""
        token = self.session().access_token
        try:
            return self._retrying(lambda: call(token), idempotent=idempotent)
        except PlatformAuthError as exc:
            if exc.status != 401:
                raise
        fresh = self.session(refresh=True).access_token
        try:
            return self._retrying(lambda: call(fresh), idempotent=idempotent)
        except PlatformAuthError as exc:
            if exc.status == 401:
                raise platform_error(
                    PlatformAuthError, EXPIRED_COOKIE, status=401, reason="expired"
                ) from None
            raise

    def _retrying(self, fn: Callable[[], Any], *, idempotent: bool) -> Any:
        try:
            result, stats = call_with_retries(
                fn,
                policy=self.policy,
                is_transient=lambda exc: isinstance(exc, PlatformUnavailableError),
                retry_after_of=lambda exc: getattr(exc, "retry_after", None),
                sleep=self._sleep,
                idempotent=idempotent,
            )
        except Exception as exc:
            stats = getattr(exc, "retry_stats", None)
            if stats is not None:
                self.retry_stats.add(stats)
            raise
        self.retry_stats.add(stats)
        return result

    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
        content: str | None = None,
        json_body: Any = None,
    ) -> Any:
        host = self._host(url)
        try:
            response = self._http.request(
                method, url, headers=headers, params=params, content=content, json=json_body
            )
        except OutboundRefused as exc:
            raise platform_error(PlatformError, str(exc), ambiguous=False, reason="refused") from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise platform_error(
                PlatformUnavailableError,
                f"{host} could not be reached for {what} (connection failed).",
                reason="network",
            ) from None
        except httpx.TimeoutException:
            raise platform_error(
                PlatformUnavailableError,
                f"{host} did not answer {what} within {self.timeout:g} s.",
                ambiguous=True,
                reason="timeout",
            ) from None
        except httpx.TransportError:
            raise platform_error(
                PlatformUnavailableError,
                f"{host} dropped the connection while answering {what}.",
                ambiguous=True,
                reason="network",
            ) from None
        if not response.is_success:
            raise self._status_error(response, host=host, what=what)
        try:
            return response.json()
        except ValueError:
            raise self._malformed(what, "is not JSON", host=host) from None

    def _status_error(self, response: httpx.Response, *, host: str, what: str) -> PlatformError:
        status = response.status_code
        detail = _error_detail(response)
        if status in (401, 403):
            return platform_error(
                PlatformAuthError,
                f"{host} refused the ImageFX credentials for {what} (HTTP {status}): the cookie has "
                "expired or was signed out; paste a fresh labs.google cookie.",
                status=status,
            )
        if status == 429:
            return platform_error(
                PlatformUnavailableError,
                f"{host} is rate-limiting ImageFX requests (HTTP 429); try again later.",
                status=429,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 408:
            return platform_error(
                PlatformUnavailableError, f"{host} timed out waiting for {what} (HTTP 408).", status=408
            )
        if status >= 500:
            return platform_error(
                PlatformUnavailableError,
                f"{host} answered {what} with a server error (HTTP {status}); try again later.",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                ambiguous=True,
            )
        if status == 400 and _is_refusal(detail):
            return platform_error(
                ImageFXRefused,
                f"ImageFX refused the request under its safety policy ({detail['reason'] or 'filtered'}).",
                status=status,
            )
        message = f"{host} refused {what} (HTTP {status})"
        if detail["message"]:
            message += f": {detail['message'][:200]}"
        return platform_error(PlatformError, message, status=status)

    def _images_of(self, body: Any) -> list[ImageFXImage]:
        panels = body.get("imagePanels") if isinstance(body, dict) else None
        if not isinstance(panels, list):
            raise self._malformed("the image generation", "has no imagePanels")
        if not panels:
            raise platform_error(
                ImageFXRefused,
                "ImageFX returned no images for this prompt (its safety filters withheld them).",
                status=200,
            )
        generated = panels[0].get("generatedImages") if isinstance(panels[0], dict) else None
        if not isinstance(generated, list):
            raise self._malformed("the image generation", "has no generatedImages")
        if not generated:
            raise platform_error(
                ImageFXRefused,
                "ImageFX returned no images for this prompt (its safety filters withheld them).",
                status=200,
            )
        workflow = body.get("workflowId")
        images = [self._image_of(item, what="the image generation") for item in generated]
        if isinstance(workflow, str):
            images = [
                img if img.workflow_id else ImageFXImage(**{**img.__dict__, "workflow_id": workflow})
                for img in images
            ]
        return images

    def _image_of(self, item: Any, *, what: str) -> ImageFXImage:
        if not isinstance(item, dict):
            raise self._malformed(what, "lists an image that is not an object")
        encoded = item.get("encodedImage")
        media_id = item.get("mediaGenerationId")
        if not isinstance(encoded, str) or not encoded or not isinstance(media_id, str) or not media_id:
            raise self._malformed(what, "lists an image without encodedImage or mediaGenerationId")
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise self._malformed(what, "lists an image that is not base64") from None
        seed = item.get("seed")

        def text(key: str) -> str | None:
            value = item.get(key)
            return str(value) if isinstance(value, str | int) and value != "" else None

        return ImageFXImage(
            encoded_image=encoded,
            media_generation_id=media_id,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            model_name_type=text("modelNameType"),
            workflow_id=text("workflowId"),
            fingerprint_log_record_id=text("fingerprintLogRecordId"),
            prompt=text("prompt"),
            aspect_ratio=text("aspectRatio"),
        )

    def _malformed(self, what: str, problem: str, *, host: str | None = None) -> PlatformUnavailableError:
        return platform_error(
            PlatformUnavailableError,
            f"{host or self._host(self.labs_url)} answered {what} with a body that {problem}.",
            ambiguous=True,
            reason="malformed",
        )

    @staticmethod
    def _host(url: str) -> str:
        parts = urlsplit(url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else url


def _dig(body: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _error_detail(response: httpx.Response) -> dict[str, str]:
    """`{"message", "reason"}` from a Google API error (`error.details[].reason`) or a tRPC error
    (`error.json.message`, `error.json.data.code`). Empty strings when the body says nothing."""
    try:
        body = response.json()
    except ValueError:
        return {"message": "", "reason": ""}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("json"), dict):  # tRPC
        error = error["json"]
    if not isinstance(error, dict):
        return {"message": "", "reason": ""}
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    reasons = [
        str(d.get("reason"))
        for d in error.get("details") or []
        if isinstance(d, dict) and isinstance(d.get("reason"), str)
    ]
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        reasons.append(data["code"])
    return {"message": " ".join(message.split()), "reason": ",".join(reasons)}


def _is_refusal(detail: dict[str, str]) -> bool:
    haystack = f"{detail['reason']} {detail['message']}".upper()
    return any(marker in haystack for marker in REFUSAL_MARKERS)
