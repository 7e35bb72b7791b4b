"""/api/v1/audit-logs/: read-only, for moderators and admins, filtered, cursor-paginated."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog, Role
from accounts.services.audit import audit_log_write
from accounts.tokens import hash_secret
from tests.factories.accounts import ApiKeyFactory, AuditLogFactory, UserFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-logs/"


@pytest.fixture
def moderator():
    return UserFactory(role=Role.MODERATOR)


@pytest.fixture
def api(moderator):
    return client_for(moderator)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.ADMIN])
def test_moderators_and_admins_read_everyones(role):
    entry = AuditLogFactory(action="auth.login")
    client = client_for(UserFactory(role=role))
    assert entry.pk in ids(client.get(URL))
    assert client.get(f"{URL}{entry.pk}/").status_code == 200


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.USER, Role.VIEWER])
def test_other_roles_are_refused_even_for_their_own_entries(role):
    user = UserFactory(role=role)
    entry = AuditLogFactory(user=user)
    client = client_for(user)
    for response in (client.get(URL), client.get(f"{URL}{entry.pk}/")):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_anonymous_is_401():
    response = client_for().get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_read_only(api):
    entry = AuditLogFactory()
    for response in (
        api.post(URL, {"action": "forged"}, format="json"),
        api.patch(f"{URL}{entry.pk}/", {"action": "forged"}, format="json"),
        api.put(f"{URL}{entry.pk}/", {"action": "forged"}, format="json"),
        api.delete(f"{URL}{entry.pk}/"),
    ):
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
    entry.refresh_from_db()
    assert entry.action == "test.action"


def test_entry_shape(api, moderator):
    actor = UserFactory(username="actor")
    entry = audit_log_write(
        action="connection.created",
        actor=actor,
        resource_type="platform_connection",
        resource_id=42,
        details={"name": "x"},
        ip_address="192.0.2.1",
        user_agent="curl/8",
    )
    data = client_for(moderator).get(f"{URL}{entry.pk}/").json()
    assert data == {
        "id": entry.pk,
        "user": actor.pk,
        "username": "actor",
        "action": "connection.created",
        "resource_type": "platform_connection",
        "resource_id": "42",
        "details": {"name": "x"},
        "ip_address": "192.0.2.1",
        "user_agent": "curl/8",
        "created_at": data["created_at"],
    }
    assert data["created_at"].endswith(("Z", "+00:00"))


def test_system_entries_have_no_user(api):
    entry = audit_log_write(action="system.cleanup")
    data = api.get(f"{URL}{entry.pk}/").json()
    assert (data["user"], data["username"]) == (None, None)


def test_unknown_entry_is_404(api):
    response = api.get(f"{URL}999999/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_filters(api):
    alice, bob = UserFactory(), UserFactory()
    login = AuditLogFactory(user=alice, action="auth.login", resource_type="user", resource_id=str(alice.pk))
    failed = AuditLogFactory(user=None, action="auth.login_failed", resource_type="user", resource_id="7")
    created = AuditLogFactory(
        user=bob, action="connection.created", resource_type="platform_connection", resource_id="7"
    )
    assert ids(api.get(URL, {"action": "auth.login"})) == [login.pk]
    assert set(ids(api.get(URL, {"action_prefix": "auth."}))) == {login.pk, failed.pk}
    assert ids(api.get(URL, {"user": bob.pk})) == [created.pk]
    assert ids(api.get(URL, {"resource_type": "platform_connection"})) == [created.pk]
    assert set(ids(api.get(URL, {"resource_id": "7"}))) == {failed.pk, created.pk}
    assert ids(api.get(URL, {"resource_type": "user", "resource_id": "7"})) == [failed.pk]
    beyond = api.get(URL, {"user": 2**63})  # a 400 naming the filter, not a database error
    assert beyond.status_code == 400 and "user" in beyond.json()["error"]["fields"]


def test_created_at_range(api):
    now = timezone.now()
    old = AuditLogFactory()
    AuditLog.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10))
    recent = AuditLogFactory()
    AuditLog.objects.filter(pk=recent.pk).update(created_at=now - timedelta(hours=1))
    since = (now - timedelta(days=1)).isoformat()
    until = (now - timedelta(days=5)).isoformat()
    assert ids(api.get(URL, {"created_after": since})) == [recent.pk]
    assert ids(api.get(URL, {"created_before": until})) == [old.pk]
    between = api.get(URL, {"created_after": (now - timedelta(days=11)).isoformat(), "created_before": since})
    assert ids(between) == [old.pk]
    assert ids(api.get(URL, {"created_after": "2000-01-01T00:00:00Z"})) == [recent.pk, old.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-45T00:00:00Z"}, "created_before"),
        ({"user": "alice"}, "user"),
        ({"user": "1.5"}, "user"),
        ({"action": "a\x00b"}, "action"),
    ],
)
def test_invalid_filters_are_a_400_naming_the_field(api, params, field):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_newest_first(api):
    entries = [audit_log_write(action=f"test.{n}") for n in range(3)]
    assert ids(api.get(URL))[:3] == [entry.pk for entry in reversed(entries)]


@pytest.mark.parametrize("count", [3, 40])
def test_a_page_costs_the_same_queries_at_any_size(api, count, django_assert_max_num_queries):
    AuditLogFactory.create_batch(count)
    with django_assert_max_num_queries(4):
        response = api.get(URL, {"page_size": count})
    rows = response.json()["results"]
    assert len(rows) >= count
    assert all(row["username"] for row in rows[:count])


def test_api_key_needs_the_audit_scope(moderator):
    AuditLogFactory()
    for scopes, expected in ((["audit:read"], 200), (["platforms:read"], 403)):
        key = f"sdk_audit_{scopes[0]}"
        ApiKeyFactory(user=moderator, key_hash=hash_secret(key), permissions=scopes)
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert client.get(URL).status_code == expected
