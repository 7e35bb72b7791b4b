"""Google ImageFX through `platforms.kinds.imagefx.client`, with the cookie of the user's connection.

ImageFX has no edit endpoint for variations: with a `reference`, the prompt alone is sent with the
next seeds (seed, seed+1, ...), and the metadata says the reference was not used. Errors of the
platform client become the image-backend errors callers understand.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.retry import RetryPolicy
from generation.backends.base import (
    ImageBackendAuthError,
    ImageBackendError,
    ImageBackendRefused,
    ImageBackendUnavailable,
    ImageRequest,
    ImageResult,
)
from platforms.kinds.common import PlatformAuthError, PlatformError, PlatformUnavailableError
from platforms.kinds.imagefx.client import ImageFXClient, ImageFXRefused


def _translate(exc: PlatformError) -> ImageBackendError:
    message = str(exc)
    status = getattr(exc, "status", None)
    if isinstance(exc, ImageFXRefused):
        return ImageBackendRefused(message, status=status)
    if isinstance(exc, PlatformUnavailableError):
        translated = ImageBackendUnavailable(
            message,
            status=status,
            retry_after=getattr(exc, "retry_after", None),
            retry_reason=getattr(exc, "retry_reason", None),
        )
        translated.ambiguous = getattr(exc, "ambiguous", True)
        return translated
    if isinstance(exc, PlatformAuthError):
        return ImageBackendAuthError(message, status=status)
    return ImageBackendError(message, status=status)


class ImageFXBackend:
    name = "imagefx"

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
        self._options = {
            "labs_url": labs_url,
            "api_url": api_url,
            "timeout": timeout,
            "policy": policy,
            "sleep": sleep,
        }
        self._cookie = cookie

    def __repr__(self) -> str:
        return "ImageFXBackend()"

    def _client(self) -> ImageFXClient:
        try:
            return ImageFXClient(cookie=self._cookie, **self._options)
        except PlatformError as exc:
            raise _translate(exc) from None

    def generate(self, request: ImageRequest) -> list[ImageResult]:
        with self._client() as client:
            try:
                images = client.generate(
                    prompt=request.prompt,
                    seed=request.seed,
                    count=request.count,
                    aspect_ratio=request.aspect_ratio,
                    model=request.model,
                )
            except PlatformError as exc:
                raise _translate(exc) from None
            stats = client.retry_stats.as_dict()
        results = []
        for index, image in enumerate(images):
            metadata = {
                "backend": self.name,
                "index": index,
                "aspect_ratio": image.aspect_ratio or request.aspect_ratio,
                "retry": stats,
            }
            if request.reference is not None:
                metadata["reference_used"] = False
                metadata["reference_note"] = (
                    "ImageFX makes no variations of an image: the prompt alone was sent."
                )
            results.append(
                ImageResult(
                    data=image.data,
                    mime_type="image/png",
                    seed=image.seed,
                    media_generation_id=image.media_generation_id,
                    model=image.model_name_type or request.model,
                    fingerprint_log_record_id=image.fingerprint_log_record_id,
                    workflow_id=image.workflow_id,
                    metadata=metadata,
                )
            )
        return results

    def caption(self, *, data: bytes, mime_type: str, count: int = 1) -> list[str]:
        with self._client() as client:
            try:
                return client.caption(data=data, mime_type=mime_type, count=count)
            except PlatformError as exc:
                raise _translate(exc) from None
