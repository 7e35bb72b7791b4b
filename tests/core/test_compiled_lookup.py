"""core.compiled_lookup: the same instances as the ORM's, from SQL compiled once."""

import pytest

from accounts.models import SessionKind, UserSession
from core.compiled_lookup import CompiledLookup
from tests.factories.accounts import UserSessionFactory
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


def concrete_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def sessions(token_hash):
    return (
        UserSession.objects.select_related("user", "active_platform")
        .filter(token_hash=token_hash, kind=SessionKind.API)
        .order_by()
    )


def test_the_instances_equal_the_orms_with_their_related_objects_loaded(django_assert_num_queries):
    connection = PlatformConnectionFactory(access_token="secret-token", extra={"description_limit": 1500})
    session = UserSessionFactory(user=connection.user, active_platform=connection, user_agent="bench")
    lookup = CompiledLookup(sessions)
    expected = sessions(session.token_hash).get()

    with django_assert_num_queries(1):
        found = lookup.first(session.token_hash)
        # datetimes, JSON and the encrypted token converted as the ORM converts them; no lazy loads
        assert concrete_values(found) == concrete_values(expected)
        assert concrete_values(found.user) == concrete_values(expected.user)
        assert concrete_values(found.active_platform) == concrete_values(expected.active_platform)
    assert found.active_platform.access_token == "secret-token"
    assert found.active_platform.extra == {"description_limit": 1500}
    assert found.expires_at.tzinfo is not None
    assert found._state.adding is False and found._state.db == "default"


def test_a_null_foreign_key_gives_none_and_an_unknown_value_gives_nothing(django_assert_num_queries):
    session = UserSessionFactory(active_platform=None)
    lookup = CompiledLookup(sessions)

    with django_assert_num_queries(1):
        assert lookup.first(session.token_hash).active_platform is None
    assert lookup.first("0" * 64) is None
    assert lookup.first(session.token_hash + "'; --") is None  # a parameter, never SQL


def test_the_queryset_is_built_and_compiled_once():
    built = []

    def build(token_hash):
        built.append(token_hash)
        return sessions(token_hash)

    first, second = UserSessionFactory(), UserSessionFactory()
    lookup = CompiledLookup(build)

    assert lookup.first(first.token_hash).pk == first.pk
    assert lookup.first(second.token_hash).pk == second.pk
    assert len(built) == 1 and built[0] not in (first.token_hash, second.token_hash)


def test_the_other_filters_stay_as_compiled():
    browser = UserSessionFactory(kind=SessionKind.BROWSER)
    assert CompiledLookup(sessions).first(browser.token_hash) is None


def two_values(value):
    return UserSession.objects.filter(token_hash=value, user_agent=value)


def no_value(value):
    return UserSession.objects.filter(kind=SessionKind.API)


def nested_select_related(value):
    return UserSession.objects.select_related("active_platform__user").filter(token_hash=value)


@pytest.mark.parametrize("build", [two_values, no_value, nested_select_related])
def test_what_it_cannot_run_is_refused(build):
    with pytest.raises(ValueError, match="one filtered value"):
        CompiledLookup(build).first("x")
