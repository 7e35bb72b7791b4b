import io

import pytest
from django.test.utils import CaptureQueriesContext
from PIL import Image as PILImage

from accounts.models import Role
from captions.images import store_image
from tests.factories.accounts import UserFactory
from tests.isolation import client_for


def png_bytes(size=(80, 60), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def stored_png():
    """A PNG in storage, as the caption pipeline keeps it; returns (key, bytes)."""
    data = png_bytes()
    return store_image(data=data, mime_type="image/png", key_prefix="tests"), data


@pytest.fixture
def count_queries():
    """count_queries(callable) -> (result, number of queries it ran)."""
    from django.db import connection

    def run(call):
        with CaptureQueriesContext(connection) as context:
            result = call()
        return result, len(context.captured_queries)

    return run
