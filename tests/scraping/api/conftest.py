import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from tests.factories.accounts import UserFactory
from tests.isolation import client_for


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def count_queries():
    """count_queries(callable) -> (result, the SQL of the queries it ran)."""

    def run(call):
        with CaptureQueriesContext(connection) as context:
            result = call()
        return result, [query["sql"] for query in context.captured_queries]

    return run


def error_fields(response) -> set[str]:
    return set(response.json()["error"]["fields"])
