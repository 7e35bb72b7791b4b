"""Connecting a Bluesky account: the app password is exchanged for a session on create (API,
service, admin) and never stored; refusals are field errors that store nothing; a renewed session
is written back encrypted; verification reads the session's account."""

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from core.retry import RetryPolicy
from platforms import services
from platforms.kinds.bluesky.client import jwt_expiry
from platforms.kinds.publishing import Publication, publisher_for
from platforms.models import PlatformConnection
from tests.factories.accounts import UserFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.bluesky import APP_PASSWORD, FakeBluesky
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/platforms/connections/"
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"


@pytest.fixture
def fake(httpserver, settings):
    fake = FakeBluesky(httpserver)
    settings.OUTBOUND_ALLOWED_ORIGINS = [fake.base_url]
    return fake


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


def body(fake, **overrides):
    data = {
        "name": "My Bluesky",
        "platform_type": "bluesky",
        "instance_url": fake.base_url,
        "username": fake.handle,
        "access_token": APP_PASSWORD,
    }
    data.update(overrides)
    return data


def test_create_exchanges_the_app_password_for_a_session(api, fake):
    response = api.post(URL, body(fake), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["extra"] == {"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url}
    assert APP_PASSWORD not in response.content.decode()
    (sign_in,) = fake.requests_to(CREATE_SESSION, "POST")
    assert sign_in.json == {"identifier": fake.handle, "password": APP_PASSWORD}
    stored = PlatformConnection.objects.get(pk=data["id"])
    assert stored.access_token in fake.access_tokens
    assert stored.refresh_token in fake.refresh_tokens
    assert stored.token_expires_at == jwt_expiry(stored.access_token)
    assert stored.token_expires_at is not None


@pytest.mark.parametrize(
    ("status", "error", "message", "expected"),
    [
        (401, "AuthenticationRequired", "Invalid identifier or password", "Invalid identifier or password"),
        (400, "InvalidRequest", "Input/identifier must be a string", "Input/identifier must be a string"),
        (500, "InternalServerError", "Internal Server Error", "server error"),
    ],
)
def test_a_refused_sign_in_is_a_field_error_and_stores_nothing(api, fake, status, error, message, expected):
    fake.fail_next(status, body={"error": error, "message": message}, path=CREATE_SESSION)
    response = api.post(URL, body(fake), format="json")
    assert response.status_code == 400
    problem = response.json()["error"]["fields"]["access_token"][0]
    assert expected in problem
    assert APP_PASSWORD not in response.content.decode()
    assert not PlatformConnection.objects.exists()
    assert not AuditLog.objects.filter(action="connection.created").exists()


def test_a_wrong_app_password_is_a_field_error(api, fake):
    response = api.post(URL, body(fake, access_token="wrong-wrong-wrong-wrong"), format="json")
    assert response.status_code == 400
    assert "Invalid identifier or password" in response.json()["error"]["fields"]["access_token"][0]
    assert not PlatformConnection.objects.exists()


def test_a_rate_limited_sign_in_says_when_to_try_again(api, fake):
    fake.reset_in = 90
    fake.rate_limit_next(retry_after=None, path=CREATE_SESSION)
    response = api.post(URL, body(fake), format="json")
    assert response.status_code == 400
    problem = response.json()["error"]["fields"]["access_token"][0]
    assert "HTTP 429" in problem
    assert "Try again in" in problem
    assert not PlatformConnection.objects.exists()


def test_a_form_wrong_anyway_makes_no_request(api, fake):
    response = api.post(URL, body(fake, username=""), format="json")
    assert response.status_code == 400
    assert "handle" in response.json()["error"]["fields"]["username"][0]
    assert fake.requests == []


def test_a_new_app_password_on_update_signs_in_again(api, fake, user):
    connection = services.connection_create(user=user, **body(fake))
    first = connection.access_token
    response = api.patch(f"{URL}{connection.pk}/", {"access_token": APP_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection.access_token not in (first, APP_PASSWORD)
    assert connection.access_token in fake.access_tokens
    assert fake.count("POST", CREATE_SESSION) == 2


def test_another_account_without_its_app_password_is_refused(api, fake, user):
    connection = services.connection_create(user=user, **body(fake))
    response = api.patch(f"{URL}{connection.pk}/", {"username": "bob.test"}, format="json")
    assert response.status_code == 400
    assert "app password" in response.json()["error"]["fields"]["access_token"][0]
    connection.refresh_from_db()
    assert connection.username == fake.handle


def test_renaming_keeps_the_session(api, fake, user):
    connection = services.connection_create(user=user, **body(fake))
    response = api.patch(f"{URL}{connection.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert fake.count("POST", CREATE_SESSION) == 1


def test_a_renewed_session_is_stored_encrypted(fake, user, raw_column, sleeper):
    connection = services.connection_create(user=user, **body(fake))
    old_refresh = connection.refresh_token
    fake.expire_access_tokens()
    publisher = publisher_for(connection, timeout=2.0, policy=RetryPolicy(attempts=2), sleep=sleeper)
    publisher.publish(Publication(text="Hello Bluesky", idempotency_key="renew-1"))
    stored = PlatformConnection.objects.get(pk=connection.pk)
    assert stored.access_token in fake.access_tokens
    assert stored.refresh_token in fake.refresh_tokens
    assert stored.refresh_token != old_refresh
    for column in ("access_token", "refresh_token"):
        assert getattr(stored, column) not in raw_column(PlatformConnection, stored.pk, column)
    log = AuditLog.objects.get(action="connection.session_renewed")
    assert stored.refresh_token not in str(log.details)
    assert len(fake.posts) == 1


def test_verify_reads_the_account_and_renews_an_expired_session(api, fake, user):
    connection = services.connection_create(user=user, **body(fake))
    fake.expire_access_tokens()
    response = api.post(f"{URL}{connection.pk}/verify/")
    assert response.status_code == 200, response.content
    assert response.json()["account"]["id"] == fake.did
    assert response.json()["account"]["username"] == fake.handle
    connection.refresh_from_db()
    assert connection.access_token in fake.access_tokens


def test_verify_with_a_revoked_session_says_to_sign_in_again(api, fake, user):
    connection = services.connection_create(user=user, **body(fake))
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    response = api.post(f"{URL}{connection.pk}/verify/")
    assert response.status_code == 400
    assert "sign in again" in response.content.decode()


def admin_form(user, fake, **overrides):
    data = {
        "user": user.pk,
        "name": "Bluesky",
        "platform_type": "bluesky",
        "instance_url": fake.base_url,
        "username": fake.handle,
        "extra": "{}",
        "is_active": "on",
        "new_access_token": APP_PASSWORD,
        "new_client_key": "",
        "new_client_secret": "",
    }
    data.update(overrides)
    return data


def test_the_admin_exchanges_the_app_password_too(admin_client, fake):
    user = UserFactory()
    response = admin_client.post(reverse("admin:platforms_platformconnection_add"), admin_form(user, fake))
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = PlatformConnection.objects.get()
    assert stored.access_token in fake.access_tokens
    assert stored.refresh_token in fake.refresh_tokens
    assert stored.extra["did"] == fake.did
    page = admin_client.get(reverse("admin:platforms_platformconnection_change", args=[stored.pk]))
    html = page.content.decode()
    assert f"refresh token: ••••{stored.refresh_token[-4:]}" in html
    for secret in (stored.access_token, stored.refresh_token, APP_PASSWORD):
        assert secret not in html


def test_the_admin_asks_for_the_app_password_again_for_another_account(admin_client, fake):
    user = UserFactory()
    admin_client.post(reverse("admin:platforms_platformconnection_add"), admin_form(user, fake))
    stored = PlatformConnection.objects.get()
    response = admin_client.post(
        reverse("admin:platforms_platformconnection_change", args=[stored.pk]),
        admin_form(user, fake, username="bob.test", new_access_token=""),
    )
    assert response.status_code == 200
    assert "app password again" in response.content.decode()
    stored.refresh_from_db()
    assert stored.username == fake.handle


def test_the_admin_shows_a_refused_sign_in_on_the_password_field(admin_client, fake):
    user = UserFactory()
    response = admin_client.post(
        reverse("admin:platforms_platformconnection_add"),
        admin_form(user, fake, new_access_token="wrong-wrong-wrong-wrong"),
    )
    assert response.status_code == 200
    assert "Invalid identifier or password" in response.content.decode()
    assert not PlatformConnection.objects.exists()


def test_a_session_renewed_for_a_deleted_connection_changes_no_row(fake, user):
    from platforms.kinds.common import Session

    connection = services.connection_create(user=user, **body(fake))
    PlatformConnection.objects.filter(pk=connection.pk).delete()
    session = Session(
        access_token="new-access-0001", refresh_token="new-refresh-0001", expires_at=None, extra={}
    )
    services.connection_session_store(connection=connection, session=session)
    assert connection.access_token == "new-access-0001"
    assert not PlatformConnection.objects.exists()
