import pytest

from platforms.kinds.imagefx.client import imagefx_forget_sessions
from tests.fakes.base import make_httpserver  # noqa: F401  (threaded: a hanging request blocks nothing)


@pytest.fixture(autouse=True)
def _forget_imagefx_sessions():
    # Session tokens are cached per process; every test starts signed out.
    imagefx_forget_sessions()
    yield
    imagefx_forget_sessions()
