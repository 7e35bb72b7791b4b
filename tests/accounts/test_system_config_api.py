"""/api/v1/system-config/: typed settings for admins only; sensitive values never returned."""

import json

import pytest

from accounts.models import AuditLog, Role
from accounts.tokens import hash_secret
from core.models import SystemConfig
from core.selectors import config_get
from core.services import config_set
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/system-config/"
SECRET = "sk-live-secret-value-that-must-not-leak"


@pytest.fixture
def admin():
    return UserFactory(role=Role.ADMIN)


@pytest.fixture
def api(admin):
    return client_for(admin)


def detail(key: str) -> str:
    return f"{URL}{key}/"


def entries(response) -> dict:
    return {row["key"]: row for row in response.json()["results"]}


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.REVIEWER, Role.USER, Role.VIEWER])
def test_only_admins(role):
    config_set(key="threshold", value=70, value_type="int")
    client = client_for(UserFactory(role=role))
    for response in (
        client.get(URL),
        client.get(detail("threshold")),
        client.post(URL, {"key": "new", "value": "x"}, format="json"),
        client.patch(detail("threshold"), {"value": 1}, format="json"),
        client.delete(detail("threshold")),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert config_get(key="threshold") == 70
    assert not SystemConfig.objects.filter(key="new").exists()


def test_anonymous_is_401():
    assert client_for().get(URL).status_code == 401


def test_a_superuser_with_another_role_counts_as_admin():
    superuser = UserFactory(role=Role.USER, is_superuser=True)
    assert client_for(superuser).get(URL).status_code == 200


def test_api_key_needs_the_config_scope(admin):
    config_set(key="threshold", value=70, value_type="int")
    for scopes, read, write in (
        (["config:read"], 200, 403),
        (["config:write"], 200, 201),
        (["platforms:write"], 403, 403),
    ):
        key = f"sdk_cfg_{'_'.join(scopes)}"
        ApiKeyFactory(user=admin, key_hash=hash_secret(key), permissions=scopes)
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert client.get(detail("threshold")).status_code == read
        assert (
            client.post(URL, {"key": f"k{len(scopes[0])}", "value": "v"}, format="json").status_code == write
        )


# --- read -----------------------------------------------------------------------------------


def test_list_is_ordered_by_key_and_cursor_paginated(api):
    for key in ("zeta", "alpha", "mid"):
        config_set(key=key, value="x")
    keys = []
    page = api.get(URL, {"page_size": 2}).json()
    keys += [row["key"] for row in page["results"]]
    while page["next"]:
        assert "cursor=" in page["next"]
        page = api.get(page["next"]).json()
        keys += [row["key"] for row in page["results"]]
    expected = sorted(SystemConfig.objects.values_list("key", flat=True))
    assert keys == expected
    assert {"alpha", "mid", "zeta"} <= set(keys)


@pytest.mark.parametrize("count", [2, 20])
def test_list_costs_the_same_queries_at_any_page_size(api, count, django_assert_max_num_queries):
    for n in range(count):
        config_set(key=f"bulk_{n:03d}", value=n, value_type="int")
    with django_assert_max_num_queries(4):
        response = api.get(URL, {"page_size": count})
    assert len(response.json()["results"]) == count


def test_values_are_typed(api):
    config_set(key="threshold", value=70, value_type="int")
    config_set(key="ratio", value=0.25, value_type="float")
    config_set(key="enabled", value=True, value_type="bool")
    config_set(key="models", value={"vision": "llava"}, value_type="json")
    config_set(key="greeting", value="hello", value_type="string")
    rows = entries(api.get(URL, {"page_size": 200}))
    assert rows["threshold"]["value"] == 70
    assert rows["ratio"]["value"] == 0.25
    assert rows["enabled"]["value"] is True
    assert rows["models"]["value"] == {"vision": "llava"}
    assert rows["greeting"]["value"] == "hello"
    assert rows["greeting"]["value_hint"] is None


def test_sensitive_values_are_never_returned(api):
    config_set(key="openai_api_key", value=SECRET, is_sensitive=True)
    listing = api.get(URL, {"page_size": 200})
    one = api.get(detail("openai_api_key"))
    for response in (listing, one):
        assert response.status_code == 200
        assert SECRET not in response.content.decode()
    assert one.json()["value"] is None
    assert one.json()["value_hint"] == "••••leak"
    assert one.json()["is_sensitive"] is True


def test_unknown_key_is_404(api):
    response = api.get(detail("no-such-setting"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_keys_with_dots_and_colons_are_addressable(api):
    config_set(key="ai.vision:model", value="llava")
    assert api.get(detail("ai.vision:model")).json()["value"] == "llava"


def test_a_stored_value_that_no_longer_parses_is_shown_as_text(api):
    SystemConfig.objects.create(key="legacy", value="seventy", type="int")
    SystemConfig.objects.create(key="weird", value="NaN", type="float")
    rows = entries(api.get(URL, {"page_size": 200}))
    assert rows["legacy"]["value"] == "seventy"
    assert rows["weird"]["value"] == "NaN"


def test_filters(api):
    config_set(key="s1", value=SECRET, is_sensitive=True)
    config_set(key="n1", value=1, value_type="int")
    assert set(entries(api.get(URL, {"is_sensitive": "true"}))) == {"s1"}
    assert "n1" in entries(api.get(URL, {"type": "int", "page_size": 200}))
    bad = api.get(URL, {"type": "decimal"})
    assert bad.status_code == 400
    assert "type" in bad.json()["error"]["fields"]


# --- create ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "value_type", "expected"),
    [
        ("hello", "string", "hello"),
        (70, "int", 70),
        ("70", "int", 70),
        (0.5, "float", 0.5),
        (True, "bool", True),
        ("off", "bool", False),
        ({"a": [1, 2]}, "json", {"a": [1, 2]}),
        ("plain string", "json", "plain string"),
        ([1, "two"], "json", [1, "two"]),
        (None, "string", None),
    ],
)
def test_create_typed(api, value, value_type, expected):
    response = api.post(URL, {"key": "k", "value": value, "type": value_type}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["value"] == expected
    assert config_get(key="k") == expected


def test_create_is_audited(api, admin):
    api.post(URL, {"key": "threshold", "value": 70, "type": "int", "description": "Min score"}, format="json")
    log = AuditLog.objects.get(action="config.changed")
    assert log.user == admin
    assert log.resource_type == "system_config"
    assert log.details["key"] == "threshold"
    assert log.details["operation"] == "created"
    assert log.details["value"] == "70"


def test_create_sensitive_stores_encrypted_and_audits_without_the_value(api, raw_column):
    response = api.post(URL, {"key": "token", "value": SECRET, "is_sensitive": True}, format="json")
    assert response.status_code == 201
    assert SECRET not in response.content.decode()
    assert response.json()["value"] is None
    entry = SystemConfig.objects.get(key="token")
    assert entry.value is None
    assert SECRET not in raw_column(SystemConfig, entry.pk, "secret_value")
    assert config_get(key="token") == SECRET
    log = AuditLog.objects.get(action="config.changed")
    assert "value" not in log.details
    assert SECRET not in json.dumps(log.details)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "k", "value": "seventy", "type": "int"}, "value"),
        ({"key": "k", "value": 1.5, "type": "int"}, "value"),
        ({"key": "k", "value": "maybe", "type": "bool"}, "value"),
        ({"key": "k", "value": "1.2.3", "type": "float"}, "value"),
        ({"key": "k", "value": "inf", "type": "float"}, "value"),
        ({"key": "k", "value": {"a": 1}, "type": "string"}, "value"),
        ({"key": "k", "value": 5, "type": "string"}, "value"),
        ({"key": "k", "value": "a\x00b", "type": "string"}, "value"),
        ({"key": "k", "value": {"a": "\x00"}, "type": "json"}, "value.a"),  # named where it is
        ({"key": "k", "value": "x", "type": "decimal"}, "type"),
        ({"key": "has space", "value": "x"}, "key"),
        ({"key": "a/b", "value": "x"}, "key"),
        ({"key": "k" * 256, "value": "x"}, "key"),
        ({"value": "x"}, "key"),
        ({"key": "k"}, "value"),
        ({"key": "k", "value": "x", "is_sensitive": "maybe"}, "is_sensitive"),
    ],
)
def test_create_bad_input_is_a_400_naming_the_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not SystemConfig.objects.filter(key="k").exists()


def test_create_an_existing_key_is_a_400(api):
    config_set(key="threshold", value=70, value_type="int")
    response = api.post(URL, {"key": "threshold", "value": 1, "type": "int"}, format="json")
    assert response.status_code == 400
    assert "key" in response.json()["error"]["fields"]
    assert config_get(key="threshold") == 70


# --- update ---------------------------------------------------------------------------------


def test_patch_value(api):
    config_set(key="threshold", value=70, value_type="int", description="Min score")
    response = api.patch(detail("threshold"), {"value": 80}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["value"] == 80
    assert response.json()["description"] == "Min score"
    log = AuditLog.objects.get(action="config.changed")
    assert log.details["changed"] == ["value"]
    assert log.details["operation"] == "updated"


def test_patch_type_checks_the_current_value(api):
    config_set(key="threshold", value="70")
    response = api.patch(detail("threshold"), {"type": "int"}, format="json")
    assert response.status_code == 200
    assert response.json()["value"] == 70
    config_set(key="name", value="hello")
    response = api.patch(detail("name"), {"type": "int"}, format="json")
    assert response.status_code == 400
    assert "type" in response.json()["error"]["fields"]
    assert config_get(key="name") == "hello"


def test_patch_value_is_checked_against_the_stored_type(api):
    config_set(key="threshold", value=70, value_type="int")
    response = api.patch(detail("threshold"), {"value": "high"}, format="json")
    assert response.status_code == 400
    assert "value" in response.json()["error"]["fields"]
    assert config_get(key="threshold") == 70
    assert not AuditLog.objects.exists()


def test_patch_description_and_sensitivity(api):
    config_set(key="token", value=SECRET)
    response = api.patch(detail("token"), {"is_sensitive": True, "description": "API token"}, format="json")
    assert response.status_code == 200
    assert response.json()["value"] is None
    assert SECRET not in response.content.decode()
    entry = SystemConfig.objects.get(key="token")
    assert (entry.is_sensitive, entry.value, entry.secret_value, entry.description) == (
        True,
        None,
        SECRET,
        "API token",
    )
    log = AuditLog.objects.get(action="config.changed")
    assert SECRET not in json.dumps(log.details)


def test_a_secret_is_never_made_plain_without_a_new_value(api):
    config_set(key="token", value=SECRET, is_sensitive=True)
    response = api.patch(detail("token"), {"is_sensitive": False}, format="json")
    assert response.status_code == 400
    assert "value" in response.json()["error"]["fields"]
    assert SECRET not in response.content.decode()
    response = api.patch(detail("token"), {"is_sensitive": False, "value": "public"}, format="json")
    assert response.status_code == 200
    assert response.json()["value"] == "public"


def test_patch_a_sensitive_value_keeps_it_hidden(api):
    config_set(key="token", value="old-secret-value-000", is_sensitive=True)
    response = api.patch(detail("token"), {"value": SECRET}, format="json")
    assert response.status_code == 200
    assert response.json()["value_hint"] == "••••leak"
    assert config_get(key="token") == SECRET
    log = AuditLog.objects.get(action="config.changed")
    assert log.details["changed"] == ["value"]
    assert "value" not in log.details


def test_patch_cannot_rename(api):
    config_set(key="threshold", value=70, value_type="int")
    response = api.patch(detail("threshold"), {"key": "other", "value": 71}, format="json")
    assert response.status_code == 200
    assert response.json()["key"] == "threshold"
    assert not SystemConfig.objects.filter(key="other").exists()


def test_put_is_not_allowed(api):
    config_set(key="threshold", value=70, value_type="int")
    response = api.put(detail("threshold"), {"key": "threshold", "value": 1, "type": "int"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- delete ---------------------------------------------------------------------------------


def test_delete(api):
    config_set(key="token", value=SECRET, is_sensitive=True)
    assert api.delete(detail("token")).status_code == 204
    assert not SystemConfig.objects.filter(key="token").exists()
    log = AuditLog.objects.get(action="config.changed")
    assert log.details["operation"] == "deleted"
    assert log.details["key"] == "token"
    assert SECRET not in json.dumps(log.details)
    assert api.delete(detail("token")).status_code == 404
