"""accounts.authentication's credential lookup: one plain SQL statement, the same instances as the ORM."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.authentication import _with_user
from accounts.models import ApiKey, SessionKind, UserSession
from tests.factories.accounts import ApiKeyFactory, UserFactory, UserSessionFactory

pytestmark = pytest.mark.django_db


def concrete_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_a_session_and_its_user_equal_the_orms_in_one_query(django_assert_num_queries):
    user = UserFactory(last_login=timezone.now() - timedelta(days=1), full_name="Ana Lima")
    session = UserSessionFactory(user=user, user_agent="bench", revoked_at=None, ip_address="192.0.2.7")
    expected = UserSession.objects.select_related("user").get(pk=session.pk)

    with django_assert_num_queries(1):
        found = _with_user(UserSession, token_hash=session.token_hash, kind="api")
        # datetimes aware, booleans booleans, the user cached on the foreign key: no lazy load
        assert concrete_values(found) == concrete_values(expected)
        assert concrete_values(found.user) == concrete_values(expected.user)
    assert found.expires_at.tzinfo is not None and found.user.last_login.tzinfo is not None
    assert found.is_active is True and found.user.is_active is True
    assert found._state.adding is False and found._state.db == "default"


def test_an_api_key_with_its_json_permissions_equals_the_orms():
    api_key = ApiKeyFactory(permissions=["captions:read", "workflows:write"], expires_at=None)
    expected = ApiKey.objects.select_related("user").get(pk=api_key.pk)
    found = _with_user(ApiKey, key_hash=api_key.key_hash)
    assert concrete_values(found) == concrete_values(expected)
    assert found.permissions == ["captions:read", "workflows:write"]
    assert concrete_values(found.user) == concrete_values(expected.user)


def test_an_unknown_value_or_another_kind_gives_nothing():
    session = UserSessionFactory(kind=SessionKind.BROWSER)
    assert _with_user(UserSession, token_hash=session.token_hash, kind="api") is None
    assert _with_user(UserSession, token_hash="0" * 64, kind="api") is None
    assert _with_user(UserSession, token_hash=session.token_hash + "' OR '1'='1", kind="browser") is None
