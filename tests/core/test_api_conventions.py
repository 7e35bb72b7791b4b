"""The API's conventions on real endpoints: one error format, never a 500 for bad input,
ISO 8601 times with a timezone, an OpenAPI 3 schema and an offline Swagger UI.

(429 and its headers are tested with the rate limiter, tests/accounts.)
"""

import json
import re
from datetime import datetime

import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tokens import hash_secret, new_session_token
from platforms import services
from tests.factories.accounts import UserFactory, UserSessionFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

CONNECTIONS = "/api/v1/platforms/connections/"
ISO_WITH_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def valid_connection(**overrides) -> dict:
    return {
        "name": "Mine",
        "platform_type": "mastodon",
        "instance_url": "https://social.example",
        "access_token": "token-abcdefghijklmnop",
        **overrides,
    }


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    return error


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


# --- 400 ------------------------------------------------------------------------------------


def test_malformed_json_is_a_400(api):
    response = api.post(CONNECTIONS, data='{"name": "x", ', content_type="application/json")
    error = assert_error(response, 400, "malformed_request")
    assert "JSON" in error["message"]


def test_a_json_body_that_is_not_an_object_is_a_400(api):
    response = api.post(CONNECTIONS, data="[1, 2]", content_type="application/json")
    assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_active", "maybe"),
        ("is_default", [True]),
        ("platform_type", "myspace"),
        ("name", "n" * 101),
        ("instance_url", "not a url"),
        ("instance_url", "https://"),
        ("instance_url", "http://social.example"),
        ("extra", "text"),
        ("access_token", None),
    ],
)
def test_bad_field_is_a_400_naming_it(api, field, value):
    response = api.post(CONNECTIONS, valid_connection(**{field: value}), format="json")
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field]
    assert all(isinstance(message, str) for message in error["fields"][field])


def test_every_missing_field_is_named(api):
    error = assert_error(api.post(CONNECTIONS, {}, format="json"), 400, "invalid")
    assert {"name", "platform_type", "instance_url", "access_token"} <= set(error["fields"])


def test_a_form_body_is_unsupported_media_type(api):
    response = api.post(CONNECTIONS, data="name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


# --- 401 / 403 ------------------------------------------------------------------------------


def test_no_credentials_is_a_401():
    assert_error(client_for().get(CONNECTIONS), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header", ["Bearer sdt_not-a-real-token", "Api-Key sdk_not-a-real-key", "Bearer", "Bearer a b"]
)
def test_bad_credentials_are_a_401(header):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get(CONNECTIONS), 401)


def test_a_valid_bearer_token_works_and_a_revoked_one_is_a_401(user):
    token = new_session_token()
    session = UserSessionFactory(user=user, token_hash=hash_secret(token))
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(CONNECTIONS).status_code == 200
    session.is_active = False
    session.save(update_fields=["is_active"])
    assert_error(client.get(CONNECTIONS), 401, "not_authenticated")


def test_a_viewer_writing_is_a_403():
    viewer = client_for(UserFactory(role=Role.VIEWER))
    assert_error(viewer.post(CONNECTIONS, valid_connection(), format="json"), 403, "permission_denied")


def test_a_user_on_an_admin_endpoint_is_a_403(api):
    assert_error(api.get("/api/v1/system-config/"), 403, "permission_denied")
    assert_error(api.get("/api/v1/audit-logs/"), 403, "permission_denied")


# --- 404 / 405 / 409 ------------------------------------------------------------------------


def test_another_users_object_is_a_404(api):
    theirs = PlatformConnectionFactory()
    for response in (
        api.get(f"{CONNECTIONS}{theirs.pk}/"),
        api.patch(f"{CONNECTIONS}{theirs.pk}/", {"name": "mine now"}, format="json"),
        api.delete(f"{CONNECTIONS}{theirs.pk}/"),
        api.post(f"{CONNECTIONS}{theirs.pk}/verify/"),
    ):
        assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/nope/",
        "/api/v1/platforms/nope/",
        "/api/nope",
        f"{CONNECTIONS}abc/",
        f"{CONNECTIONS}99999999999999999999999/",
        f"{CONNECTIONS}123456789/",
    ],
)
def test_unknown_urls_are_a_json_404(api, url):
    assert_error(api.get(url), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/nope/"),
        ("delete", "/api/v1/nope/"),
        ("post", f"{CONNECTIONS}1.5/verify/"),
        ("delete", f"{CONNECTIONS}%C2%84/"),
        ("patch", f"{CONNECTIONS}abc/"),
    ],
)
def test_writes_to_unknown_urls_are_a_json_404_even_with_csrf_checks(user, method, url):
    client = APIClient(enforce_csrf_checks=True)
    token = new_session_token()
    UserSessionFactory(user=user, token_hash=hash_secret(token))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(getattr(client, method)(url, {}, format="json"), 404, "not_found")


def test_a_wrong_method_is_a_405(api):
    assert_error(api.delete(CONNECTIONS), 405, "method_not_allowed")
    assert_error(api.get(f"{CONNECTIONS}{PlatformConnectionFactory().pk}/verify/"), 405, "method_not_allowed")


def test_a_lost_race_is_a_409(api, user, monkeypatch):
    PlatformConnectionFactory(user=user, name="Mine")
    monkeypatch.setattr(services, "connection_name_taken", lambda **kwargs: False)
    error = assert_error(api.post(CONNECTIONS, valid_connection(), format="json"), 409, "conflict")
    assert "try again" in error["message"]


# --- never a 500 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "null",
        "true",
        '"text"',
        "1e999",
        '{"name": null, "platform_type": null, "instance_url": null, "access_token": null}',
        '{"name": {"a": 1}, "platform_type": ["mastodon"], "instance_url": 5, "access_token": 7}',
        '{"name": "x", "platform_type": "mastodon", "instance_url": "https://a.example", '
        '"access_token": "t", "extra": {"k": "\\u0000"}}',
        '{"name": "x", "platform_type": "mastodon", "instance_url": "https://a.example", '
        '"access_token": "\\ud800"}',
        '{"name": "x", "platform_type": "mastodon", "instance_url": "https://a.example", '
        '"access_token": "t", "extra": {"\\udc00": 1}}',
        '{"name": "x", "platform_type": "mastodon", "instance_url": "https://a.example", '
        '"access_token": "t", "username": "\\u0000"}',
        '{"name": "x", "platform_type": "mastodon", "instance_url": "https://' + "a" * 600 + '.example", '
        '"access_token": "t"}',
        '{"name": "x", "platform_type": "mastodon", "instance_url": "https://a.example", '
        '"access_token": "' + "t" * 9000 + '"}',
    ],
)
def test_odd_bodies_never_cause_a_server_error(api, payload):
    response = api.post(CONNECTIONS, data=payload, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert_error(response, response.status_code)


@pytest.mark.parametrize(
    "query",
    [
        {"is_active": "maybe"},
        {"platform_type": "myspace"},
        {"ordering": "access_token"},
        {"ordering": "-nope"},
        {"page_size": "-1"},
        {"page_size": "abc"},
        {"cursor": "garbage"},
        {"cursor": "cD0yMDI2"},
    ],
)
def test_odd_query_strings_never_cause_a_server_error(api, query):
    PlatformConnectionFactory.create_batch(2)
    response = api.get(CONNECTIONS, query)
    assert response.status_code in (200, 400, 404), response.content


# --- formats --------------------------------------------------------------------------------


def test_datetimes_are_iso_8601_with_a_timezone(api, user):
    connection = PlatformConnectionFactory(user=user)
    services.connection_set_default(connection=connection)
    from django.utils import timezone

    type(connection).objects.filter(pk=connection.pk).update(last_used=timezone.now())
    data = api.get(f"{CONNECTIONS}{connection.pk}/").json()
    for field in ("created_at", "updated_at", "last_used"):
        assert ISO_WITH_ZONE.match(data[field]), (field, data[field])
        assert datetime.fromisoformat(data[field]).tzinfo is not None


def test_the_schema_is_openapi_3_with_these_paths():
    response = client_for().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/platforms/connections/",
        "/api/v1/platforms/connections/{id}/",
        "/api/v1/platforms/connections/{id}/set-default/",
        "/api/v1/platforms/connections/{id}/verify/",
        "/api/v1/system-config/",
        "/api/v1/system-config/{key}/",
        "/api/v1/audit-logs/",
        "/api/v1/audit-logs/{id}/",
    ):
        assert path in schema["paths"], path
    verify = schema["paths"]["/api/v1/platforms/connections/{id}/verify/"]["post"]["responses"]
    assert {"200", "400", "404", "502"} <= set(verify)
    created = schema["components"]["schemas"]["PlatformConnection"]["properties"]
    assert "access_token" not in created
    assert created["created_at"]["format"] == "date-time"
    request = schema["components"]["schemas"]["PlatformConnectionCreateRequest"]["properties"]
    assert request["access_token"]["writeOnly"] is True


def test_the_schema_is_yaml_by_default():
    response = client_for().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3." in response.content


def test_swagger_ui_is_served_from_local_static_files():
    response = client_for().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "cdn.jsdelivr" not in html
    assert "unpkg" not in html
    assert "swagger-ui" in html
    assets = re.findall(r"""(?:src|href)=["']/static/([^"'?]+)""", html)
    assert any("drf_spectacular_sidecar/swagger-ui-dist/" in asset for asset in assets), assets
    for asset in assets:
        assert finders.find(asset), f"{asset} is not a local static file"
    # The init script, with the schema's URL, comes from the page's own URL (not inline: the CSP).
    assert '<script src="/api/docs/?script=">' in html
    assert "/api/schema/" in client_for().get("/api/docs/?script=").content.decode()
