"""API keys: /api/v1/api-keys/ and the services behind it, and keys authenticating end to end."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import ApiKey, AuditLog, Role
from accounts.permissions import API_SCOPES
from accounts.services.api_keys import api_key_allowed_scopes, api_key_create, api_key_revoke
from accounts.tokens import hash_secret
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.isolation import OwnedEndpoint, assert_isolated

pytestmark = pytest.mark.django_db

URL = "/api/v1/api-keys/"
PROBE = "/probe/captions/"


class CaptionsProbe(APIView):
    """A test-only view in the `captions` API-key area."""

    api_scope = "captions"

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True}, status=201)


urlpatterns = [
    path("probe/captions/", CaptionsProbe.as_view()),
    path("", include("config.urls")),
]
with_probe = pytest.mark.urls(__name__)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def create(user, **body):
    body = {"key_name": "ci", "permissions": ["captions:read"], **body}
    return client_for(user).post(URL, body, format="json")


def error_fields(response) -> dict:
    return response.json()["error"]["fields"]


# --- creating ---------------------------------------------------------------------------------


def test_create_shows_the_key_once_and_stores_only_its_hash(raw_column):
    user = UserFactory()
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    response = create(user, permissions=["captions:read", "workflows:write"], expires_at=expires.isoformat())

    assert response.status_code == 201, response.content
    body = response.json()
    key = body["key"]
    assert key.startswith("sdk_") and len(key) > 40
    assert body["prefix"] == key[:12]
    assert body["permissions"] == ["captions:read", "workflows:write"]
    assert body["key_name"] == "ci"
    assert body["is_active"] is True
    assert body["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S"))
    assert {"id", "created_at", "last_used_at"} <= set(body)
    assert "key_hash" not in body

    api_key = ApiKey.objects.get(pk=body["id"])
    assert api_key.user == user
    assert api_key.expires_at == expires
    # Raw columns: the hash and prefix only; the key itself is nowhere in the row.
    assert raw_column(ApiKey, api_key.pk, "key_hash") == hash_secret(key)
    assert raw_column(ApiKey, api_key.pk, "key_prefix") == key[:12]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_keys WHERE id = %s", [api_key.pk])
        row = cursor.fetchone()
    assert all(key not in str(value) for value in row)


def test_the_key_is_not_shown_again():
    user = UserFactory()
    key = create(user).json()["key"]
    api_key = ApiKey.objects.get(user=user)
    for response in (client_for(user).get(URL), client_for(user).get(f"{URL}{api_key.pk}/")):
        assert response.status_code == 200
        text = response.content.decode()
        assert key not in text and api_key.key_hash not in text
        assert '"key"' not in text


def test_create_is_audited_without_the_key():
    user = UserFactory()
    response = client_for(user).post(
        URL,
        {"key_name": "ci", "permissions": ["captions:read"]},
        format="json",
        REMOTE_ADDR="10.1.2.3",
        HTTP_USER_AGENT="tests/1.0",
    )
    key = response.json()["key"]
    entry = AuditLog.objects.get(action="api_key.created")
    assert entry.user == user
    assert (entry.resource_type, entry.resource_id) == ("api_key", str(response.json()["id"]))
    assert entry.details["permissions"] == ["captions:read"]
    assert entry.details["key_prefix"] == key[:12]
    assert (entry.ip_address, entry.user_agent) == ("10.1.2.3", "tests/1.0")
    assert key not in json.dumps(entry.details)
    assert hash_secret(key) not in json.dumps(entry.details)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key_name": ""}, "key_name"),
        ({"key_name": "   "}, "key_name"),
        ({"key_name": "k" * 101}, "key_name"),
        ({"key_name": None}, "key_name"),
        ({"permissions": []}, "permissions"),
        ({"permissions": "captions:read"}, "permissions"),
        ({"permissions": ["captions:read", "captions:delete"]}, "permissions"),
        ({"permissions": ["everything"]}, "permissions"),
        ({"permissions": [1]}, "permissions"),
        ({"expires_at": "yesterday"}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body, field):
    user = UserFactory()
    response = create(user, **body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert field in error_fields(response)
    assert not ApiKey.objects.exists()
    assert not AuditLog.objects.filter(action="api_key.created").exists()


def test_a_name_of_100_characters_is_fine():
    assert create(UserFactory(), key_name="k" * 100).status_code == 201


def test_missing_fields_are_named():
    response = client_for(UserFactory()).post(URL, {}, format="json")
    assert response.status_code == 400
    assert {"key_name", "permissions"} <= set(error_fields(response))


def test_an_unknown_scope_is_named_in_the_message():
    response = create(UserFactory(), permissions=["captions:read", "captions:delete"])
    assert "captions:delete" in error_fields(response)["permissions"][0]


def test_duplicate_scopes_are_kept_once():
    response = create(UserFactory(), permissions=["captions:read", "captions:read", "platforms:write"])
    assert response.json()["permissions"] == ["captions:read", "platforms:write"]


@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        (Role.USER, "captions:write", True),
        (Role.USER, "platforms:read", True),
        (Role.REVIEWER, "workflows:write", True),
        (Role.USER, "config:read", False),
        (Role.USER, "audit:read", False),
        (Role.REVIEWER, "audit:read", False),
        (Role.MODERATOR, "audit:read", True),
        (Role.MODERATOR, "audit:write", False),
        (Role.MODERATOR, "config:read", False),
        (Role.ADMIN, "config:write", True),
        (Role.ADMIN, "audit:write", True),
    ],
)
def test_a_user_grants_only_scopes_their_role_can_use(role, scope, allowed):
    response = create(UserFactory(role=role), permissions=["captions:read", scope])
    if allowed:
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 400
        assert scope in error_fields(response)["permissions"][0]
        assert not ApiKey.objects.exists()


def test_allowed_scopes_by_role():
    assert set(api_key_allowed_scopes(user=UserFactory(role=Role.ADMIN))) == set(API_SCOPES)
    assert api_key_allowed_scopes(user=UserFactory(role=Role.VIEWER)) == ()
    superuser = UserFactory(role=Role.USER, is_superuser=True)
    assert "config:write" in api_key_allowed_scopes(user=superuser)


def test_viewers_cannot_create_keys():
    viewer = UserFactory(role=Role.VIEWER)
    response = create(viewer)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    with pytest.raises(PermissionDenied):
        api_key_create(user=viewer, key_name="x", permissions=["captions:read"], actor=viewer)
    assert not ApiKey.objects.exists()


def test_the_service_validates_too():
    user = UserFactory()
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(user=user, key_name="x", permissions=["nope"], actor=user)
    assert "permissions" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(
            user=user,
            key_name="x",
            permissions=["captions:read"],
            expires_at=timezone.now() - timedelta(seconds=1),
            actor=user,
        )
    assert "expires_at" in excinfo.value.message_dict


# --- listing, reading, revoking --------------------------------------------------------------


def test_list_shows_own_keys_with_prefix_only():
    user = UserFactory()
    mine = [ApiKeyFactory(user=user) for _ in range(3)]
    ApiKeyFactory()  # someone else's
    response = client_for(user).get(URL)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["id"] for row in rows} == {key.pk for key in mine}
    assert set(rows[0]) == {
        "id",
        "key_name",
        "prefix",
        "permissions",
        "is_active",
        "expires_at",
        "last_used_at",
        "created_at",
    }
    assert {row["prefix"] for row in rows} == {key.key_prefix for key in mine}


def test_admins_too_see_only_their_own_keys_here():
    admin = UserFactory(role=Role.ADMIN)
    other = ApiKeyFactory()
    assert client_for(admin).get(URL).json()["results"] == []
    assert client_for(admin).get(f"{URL}{other.pk}/").status_code == 404


@pytest.mark.parametrize("page_size", [2, 20])
def test_list_costs_a_fixed_number_of_queries(page_size, django_assert_max_num_queries):
    user = UserFactory()
    ApiKeyFactory.create_batch(25, user=user)
    client = client_for(user)
    # One rate-limit upsert, one page.
    with django_assert_max_num_queries(2):
        response = client.get(URL, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size


def test_list_filters_by_activity():
    user = UserFactory()
    active = ApiKeyFactory(user=user)
    ApiKeyFactory(user=user, is_active=False)
    rows = client_for(user).get(URL, {"is_active": "true"}).json()["results"]
    assert [row["id"] for row in rows] == [active.pk]
    response = client_for(user).get(URL, {"is_active": "maybe"})
    assert response.status_code == 400
    assert "is_active" in error_fields(response)


def test_delete_revokes_keeps_the_row_and_audits_once():
    user = UserFactory()
    api_key = ApiKeyFactory(user=user)
    client = client_for(user)

    response = client.delete(f"{URL}{api_key.pk}/")
    assert response.status_code == 204
    api_key.refresh_from_db()
    assert api_key.is_active is False
    assert client.get(f"{URL}{api_key.pk}/").json()["is_active"] is False

    assert client.delete(f"{URL}{api_key.pk}/").status_code == 204  # again: nothing changes
    entry = AuditLog.objects.get(action="api_key.revoked")
    assert (entry.user, entry.resource_id) == (user, str(api_key.pk))
    assert entry.details["key_prefix"] == api_key.key_prefix


def test_revoke_service_by_an_admin_records_the_admin():
    admin = UserFactory(role=Role.ADMIN)
    api_key = ApiKeyFactory()
    api_key_revoke(api_key=api_key, actor=admin)
    assert api_key.is_active is False
    entry = AuditLog.objects.get(action="api_key.revoked")
    assert entry.user == admin
    assert entry.details["owner_id"] == api_key.user_id


def test_unknown_ids_are_404():
    client = client_for(UserFactory())
    assert client.get(f"{URL}999999/").status_code == 404
    assert client.delete(f"{URL}999999/").status_code == 404
    assert client.get(f"{URL}abc/").status_code == 404


def test_api_keys_are_isolated():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=lambda user: ApiKeyFactory(user=user),
            create={"key_name": "ci", "permissions": ["captions:read"]},
        )
    )


def test_an_api_key_cannot_manage_keys():
    user = UserFactory(role=Role.ADMIN)
    key, api_key = api_key_create(user=user, key_name="all", permissions=list(API_SCOPES), actor=user)
    client = key_client(key)
    for response in (
        client.get(URL),
        client.get(f"{URL}{api_key.pk}/"),
        client.post(URL, {"key_name": "x", "permissions": ["captions:read"]}, format="json"),
        client.delete(f"{URL}{api_key.pk}/"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert ApiKey.objects.get().is_active


# --- keys authenticate, within their scopes ----------------------------------------------------


def new_key(user=None, **kwargs) -> str:
    user = user or UserFactory()
    options = {"key_name": "probe", "permissions": ["captions:read"], **kwargs}
    key, _ = api_key_create(user=user, actor=user, **options)
    return key


@with_probe
def test_a_read_scope_reads_but_does_not_write():
    client = key_client(new_key(permissions=["captions:read"]))
    assert client.get(PROBE).status_code == 200
    response = client.post(PROBE, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@with_probe
def test_a_write_scope_reads_and_writes():
    client = key_client(new_key(permissions=["captions:write"]))
    assert client.get(PROBE).status_code == 200
    assert client.post(PROBE, {}, format="json").status_code == 201


@with_probe
def test_a_key_without_the_area_gets_403():
    client = key_client(new_key(permissions=["workflows:write", "platforms:read"]))
    assert client.get(PROBE).status_code == 403
    assert client.post(PROBE, {}, format="json").status_code == 403


@with_probe
def test_a_key_records_its_last_use():
    user = UserFactory()
    key = new_key(user)
    assert key_client(key).get(PROBE).status_code == 200
    assert ApiKey.objects.get(user=user).last_used_at is not None


@with_probe
def test_an_expired_key_is_401():
    user = UserFactory()
    key = new_key(user, expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = key_client(key).get(PROBE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@with_probe
def test_a_revoked_key_is_401():
    user = UserFactory()
    key = new_key(user)
    assert key_client(key).get(PROBE).status_code == 200
    api_key = ApiKey.objects.get(user=user)
    assert client_for(user).delete(f"{URL}{api_key.pk}/").status_code == 204
    assert key_client(key).get(PROBE).status_code == 401


@with_probe
def test_a_key_of_a_deactivated_user_is_401():
    user = UserFactory()
    key = new_key(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert key_client(key).get(PROBE).status_code == 401


@with_probe
@pytest.mark.parametrize("header", ["Api-Key sdk_unknown", "Api-Key", "Api-Key a b"])
def test_unknown_or_malformed_keys_are_401(header):
    new_key()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(PROBE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
