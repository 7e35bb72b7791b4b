import pytest

from platforms.kinds.imagefx.client import imagefx_forget_sessions
from tests.fakes.base import make_httpserver  # noqa: F401  (threaded server)


@pytest.fixture(autouse=True)
def _forget_imagefx_sessions():
    imagefx_forget_sessions()
    yield
    imagefx_forget_sessions()
