import base64
import uuid

import pytest

from generation.backends.base import ImageBackendRefused, ImageRequest, ImageResult
from generation.backends.builtin import BuiltinImageBackend
from tests.factories.generation import TINY_PNG_BASE64

TINY_PNG = base64.b64decode(TINY_PNG_BASE64)


class TinyImageBackend:
    """A 1x1 PNG per image, instantly: for tests about the data step, not the pictures."""

    name = "tiny"

    def generate(self, request: ImageRequest):
        return [
            ImageResult(
                data=TINY_PNG,
                mime_type="image/png",
                seed=request.seed,
                media_generation_id=f"tiny-{uuid.uuid4()}",
                model="tiny",
            )
            for _ in range(request.count)
        ]

    def caption(self, *, data: bytes, mime_type: str, count: int = 1):
        return ["A tiny image."] * count


class ScriptedImageBackend:
    """Another backend (default: the builtin one), recording each request, refusing the calls whose
    number (1-based) is in `refuse`."""

    name = "builtin"

    def __init__(self, refuse: set[int] | None = None, inner=None):
        self.inner = inner or BuiltinImageBackend()
        self.refuse = set(refuse or ())
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest):
        self.requests.append(request)
        if len(self.requests) in self.refuse:
            raise ImageBackendRefused("The image was blocked by the safety filter.")
        return self.inner.generate(request)

    def caption(self, *, data: bytes, mime_type: str, count: int = 1):
        return self.inner.caption(data=data, mime_type=mime_type, count=count)


@pytest.fixture
def image_backend():
    return ScriptedImageBackend(inner=TinyImageBackend())


@pytest.fixture(autouse=True)
def fresh_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
