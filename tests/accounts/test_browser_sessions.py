"""Browser (admin) logins as UserSession rows: created on login, revoked on logout, and revocable
from the API or the admin with effect on the next request."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role, SessionKind, UserSession
from accounts.services.sessions import session_revoke
from accounts.services.users import user_deactivate
from accounts.signals import SESSION_ROW_KEY
from accounts.tokens import hash_secret
from tests.factories.accounts import UserFactory, bearer_token_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ADMIN_INDEX = "/admin/"


@pytest.fixture
def staff():
    return UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)


def admin_login(user, client: Client | None = None, **extra) -> Client:
    client = client or Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD}, **extra
    )
    assert response.status_code == 302, response.content.decode()[:1000]
    return client


def session_key(client: Client) -> str:
    return client.cookies["sessionid"].value


def browser_row(client: Client) -> UserSession:
    return UserSession.objects.get(token_hash=hash_secret(session_key(client)))


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_admin_login_creates_a_browser_session(staff):
    client = admin_login(staff, HTTP_USER_AGENT="Firefox/130", HTTP_ACCEPT_LANGUAGE="fr")
    row = browser_row(client)
    assert row.user == staff
    assert row.kind == SessionKind.BROWSER
    assert row.is_active
    assert row.user_agent == "Firefox/130"
    assert row.ip_address == "127.0.0.1"
    assert row.session_fingerprint
    assert client.session[SESSION_ROW_KEY] == row.pk
    # Its expiry is the Django session's.
    assert abs((row.expires_at - client.session.get_expiry_date()).total_seconds()) < 60
    assert client.get(ADMIN_INDEX).status_code == 200
    staff.refresh_from_db()
    assert staff.last_login is not None
    assert AuditLog.objects.filter(action="auth.login", user=staff, details__kind="browser").exists()


def test_the_session_key_is_stored_only_as_a_hash(staff):
    client = admin_login(staff)
    key = session_key(client)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM user_sessions")
        assert key not in repr(cursor.fetchall())


def test_browser_session_is_listed_by_the_api_next_to_tokens(staff):
    client = admin_login(staff)
    row = browser_row(client)
    token = bearer_token_for(staff)
    listed = bearer(token).get("/api/v1/auth/sessions/").json()["results"]
    assert {(item["id"], item["kind"]) for item in listed} >= {(row.pk, "browser")}
    # Through the browser session itself, it is the current one.
    own = client.get("/api/v1/auth/sessions/").json()["results"]
    assert [item["id"] for item in own if item["is_current"]] == [row.pk]


def test_revoking_the_browser_session_from_the_api_logs_the_browser_out(staff):
    client = admin_login(staff)
    row = browser_row(client)
    token = bearer_token_for(staff)
    assert bearer(token).delete(f"/api/v1/auth/sessions/{row.pk}/").status_code == 204

    response = client.get(ADMIN_INDEX)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert "sessionid" not in client.cookies or not client.cookies["sessionid"].value
    assert bearer(token).get("/api/v1/auth/me/").status_code == 200, "the token was not touched"


def test_logout_all_from_the_api_logs_browsers_out(staff):
    first = admin_login(staff)
    second = admin_login(staff)
    token = bearer_token_for(staff)
    assert bearer(token).post("/api/v1/auth/logout-all/").status_code == 204
    for client in (first, second):
        assert client.get(ADMIN_INDEX).status_code == 302


def test_revoking_from_the_admin_action_logs_the_browser_out(staff):
    victim = UserFactory(role=Role.MODERATOR, is_staff=True)
    victim_browser = admin_login(victim)
    operator = admin_login(staff)
    response = operator.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "revoke_sessions", "_selected_action": [victim.pk]},
    )
    assert response.status_code == 302
    assert victim_browser.get(ADMIN_INDEX).status_code == 302
    assert operator.get(ADMIN_INDEX).status_code == 200


def test_logout_revokes_the_row(staff):
    client = admin_login(staff)
    row = browser_row(client)
    assert client.post("/admin/logout/").status_code == 200
    row.refresh_from_db()
    assert not row.is_active and row.revoked_at is not None
    assert AuditLog.objects.filter(action="auth.logout", resource_id=str(row.pk)).exists()


def test_api_logout_through_the_browser_session_logs_it_out(staff):
    client = admin_login(staff)
    row = browser_row(client)
    assert client.post("/api/v1/auth/logout/").status_code == 204
    row.refresh_from_db()
    assert not row.is_active
    assert client.get(ADMIN_INDEX).status_code == 302


def test_an_expired_row_logs_the_browser_out(staff):
    client = admin_login(staff)
    row = browser_row(client)
    UserSession.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(ADMIN_INDEX).status_code == 302
    row.refresh_from_db()
    assert not row.is_active
    assert AuditLog.objects.filter(action="auth.session_revoked", details__reason="expired").exists()


def test_a_session_without_a_row_is_logged_out(staff):
    client = admin_login(staff)
    UserSession.objects.filter(pk=browser_row(client).pk).delete()
    assert client.get(ADMIN_INDEX).status_code == 302


def test_browser_last_activity_is_written_at_most_once_a_minute(staff):
    client = admin_login(staff)
    row = browser_row(client)
    UserSession.objects.filter(pk=row.pk).update(last_activity=timezone.now() - timedelta(minutes=5))

    def activity_updates(queries):
        return [
            q["sql"]
            for q in queries
            if q["sql"].startswith("UPDATE") and "user_sessions" in q["sql"] and "last_activity" in q["sql"]
        ]

    with CaptureQueriesContext(connection) as first:
        client.get(ADMIN_INDEX)
    assert len(activity_updates(first.captured_queries)) == 1
    with CaptureQueriesContext(connection) as later:
        for _ in range(3):
            client.get(ADMIN_INDEX)
    assert activity_updates(later.captured_queries) == []
    UserSession.objects.filter(pk=row.pk).update(last_activity=timezone.now() - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as after:
        client.get(ADMIN_INDEX)
    assert len(activity_updates(after.captured_queries)) == 1


def test_bearer_requests_are_not_browser_sessions():
    user = UserFactory()
    token = bearer_token_for(user)
    with CaptureQueriesContext(connection) as queries:
        assert bearer(token).get("/api/v1/auth/me/").status_code == 200
    # Only the bearer session's row is read; no browser-session lookup happens.
    reads = [q["sql"] for q in queries.captured_queries if "user_sessions" in q["sql"]]
    assert len(reads) == 1
    assert not UserSession.objects.filter(kind=SessionKind.BROWSER).exists()


def test_admin_password_change_keeps_the_browser_signed_in(staff):
    client = admin_login(staff)
    row = browser_row(client)
    old_key = session_key(client)
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new and rather long one",
            "new_password2": "a new and rather long one",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert session_key(client) != old_key, "Django cycles the key"
    assert client.get(ADMIN_INDEX).status_code == 200
    row.refresh_from_db()
    assert row.is_active
    assert row.token_hash == hash_secret(session_key(client)), "the row follows the new key"


def test_api_password_change_through_the_browser_keeps_it_and_ends_the_others(staff):
    client = admin_login(staff)
    other_browser = admin_login(staff)
    token = bearer_token_for(staff)
    response = client.post(
        "/api/v1/auth/password/",
        {"current_password": PASSWORD, "new_password": "a new and rather long one"},
        content_type="application/json",
    )
    assert response.status_code == 204, response.content
    assert client.get(ADMIN_INDEX).status_code == 200
    assert browser_row(client).is_active
    assert other_browser.get(ADMIN_INDEX).status_code == 302
    assert bearer(token).get("/api/v1/auth/me/").status_code == 401


def test_deactivating_a_user_ends_their_browser_sessions(staff):
    victim = UserFactory(role=Role.MODERATOR, is_staff=True)
    victim_browser = admin_login(victim)
    user_deactivate(user=victim, actor=staff)
    assert victim_browser.get(ADMIN_INDEX).status_code == 302
    assert not UserSession.objects.filter(user=victim, is_active=True).exists()


def test_revocation_by_service_takes_effect_on_the_next_request(staff):
    client = admin_login(staff)
    assert client.get(ADMIN_INDEX).status_code == 200
    session_revoke(session=browser_row(client), actor=None)
    assert client.get(ADMIN_INDEX).status_code == 302
