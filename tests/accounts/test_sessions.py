"""Sessions: the services, bearer-token validity, storage as hashes, and /api/v1/auth/sessions/."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role, SessionKind, UserSession
from accounts.services.sessions import (
    RequestMeta,
    session_create,
    session_revoke,
    session_revoke_all,
    session_touch,
)
from accounts.tokens import SESSION_TOKEN_PREFIX, hash_secret
from tests.factories.accounts import BrowserSessionFactory, UserFactory, UserSessionFactory, bearer_token_for
from tests.isolation import OwnedEndpoint, assert_isolated

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/auth/sessions/"
META = RequestMeta(ip_address="203.0.113.9", user_agent="agent/2", accept_language="de")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def updates_of(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("UPDATE") and "user_sessions" in q["sql"]
    ]


# --- services ----------------------------------------------------------------------------------


def test_session_create_stores_only_the_hash(settings):
    user = UserFactory()
    token, session = session_create(user=user, kind=SessionKind.API, meta=META)
    assert token.startswith(SESSION_TOKEN_PREFIX)
    assert len(token) > 40
    assert session.token_hash == hash_secret(token)
    assert session.ip_address == "203.0.113.9"
    assert session.user_agent == "agent/2"
    assert session.session_fingerprint == META.fingerprint
    assert session.session_fingerprint != RequestMeta(user_agent="agent/2", accept_language="fr").fingerprint
    ttl = (session.expires_at - session.created_at).total_seconds()
    assert abs(ttl - settings.API_TOKEN_TTL) < 60
    user.refresh_from_db()
    assert user.last_login is not None
    entry = AuditLog.objects.get(action="auth.login")
    assert entry.user == user
    assert entry.ip_address == "203.0.113.9"
    assert token not in str(entry.details)


def test_tokens_are_absent_from_the_database_in_plain_form(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "1000/5m"}
    user = UserFactory()
    token = (
        APIClient()
        .post("/api/v1/auth/login/", {"username": user.username, "password": "correct horse battery staple"})
        .json()["token"]
    )
    bearer(token).get("/api/v1/auth/me/")
    secret_part = token.removeprefix(SESSION_TOKEN_PREFIX)
    with connection.cursor() as cursor:
        for table in ("user_sessions", "audit_logs", "users"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (fixed table names)
            dump = repr(cursor.fetchall())
            assert secret_part not in dump, table
            assert "correct horse battery staple" not in dump, table
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_hash FROM user_sessions")
        assert cursor.fetchall() == [(hash_secret(token),)]


def test_session_revoke_marks_it_and_is_idempotent():
    session = UserSessionFactory()
    actor = UserFactory(role=Role.ADMIN)
    session_revoke(session=session, actor=actor)
    session.refresh_from_db()
    assert session.is_active is False
    assert session.revoked_at is not None
    first_revoked_at = session.revoked_at
    session_revoke(session=session, actor=actor)
    session.refresh_from_db()
    assert session.revoked_at == first_revoked_at
    assert AuditLog.objects.filter(action="auth.session_revoked", resource_id=str(session.pk)).count() == 1


def test_session_revoke_all_spares_the_excepted_session_and_other_users():
    user = UserFactory()
    keep, *_others = UserSessionFactory.create_batch(3, user=user)
    browser = BrowserSessionFactory(user=user)
    stranger = UserSessionFactory()
    count = session_revoke_all(user=user, actor=user, except_session=keep)
    assert count == 3
    assert set(UserSession.objects.filter(is_active=True).values_list("pk", flat=True)) == {
        keep.pk,
        stranger.pk,
    }
    browser.refresh_from_db()
    assert browser.revoked_at is not None
    entry = AuditLog.objects.get(action="auth.sessions_revoked")
    assert entry.details["count"] == 3
    assert entry.details["kept_session_id"] == keep.pk


# --- bearer tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["expired", "revoked", "unknown", "browser row", "inactive user"])
def test_expired_revoked_unknown_tokens_are_401(state):
    user = UserFactory()
    token = bearer_token_for(user)
    session = UserSession.objects.get(token_hash=hash_secret(token))
    if state == "expired":
        UserSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        session_revoke(session=session, actor=user)
    elif state == "unknown":
        token = token + "x"
    elif state == "browser row":
        UserSession.objects.filter(pk=session.pk).update(kind=SessionKind.BROWSER)
    elif state == "inactive user":
        user.is_active = False
        user.save()
    response = bearer(token).get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_last_activity_is_written_at_most_once_a_minute():
    user = UserFactory()
    token = bearer_token_for(user)
    session = UserSession.objects.get(token_hash=hash_secret(token))
    long_ago = timezone.now() - timedelta(minutes=5)
    UserSession.objects.filter(pk=session.pk).update(last_activity=long_ago)
    client = bearer(token)

    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/auth/me/").status_code == 200
    assert len([sql for sql in updates_of(first.captured_queries) if "last_activity" in sql]) == 1
    session.refresh_from_db()
    assert session.last_activity > long_ago

    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            assert client.get("/api/v1/auth/me/").status_code == 200
    assert updates_of(again.captured_queries) == []

    # 59 seconds later: still no write; after a minute: one.
    UserSession.objects.filter(pk=session.pk).update(last_activity=timezone.now() - timedelta(seconds=59))
    with CaptureQueriesContext(connection) as within:
        client.get("/api/v1/auth/me/")
    assert updates_of(within.captured_queries) == []
    UserSession.objects.filter(pk=session.pk).update(last_activity=timezone.now() - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as after:
        client.get("/api/v1/auth/me/")
    assert len(updates_of(after.captured_queries)) == 1


def test_session_touch_is_conditional():
    session = UserSessionFactory()
    now = timezone.now()
    UserSession.objects.filter(pk=session.pk).update(last_activity=now - timedelta(minutes=2))
    session.refresh_from_db()
    stale_copy = UserSession.objects.get(pk=session.pk)
    assert session_touch(session=session, now=now) is True
    # Another process's copy still thinks it is stale: the WHERE clause stops a second write.
    assert session_touch(session=stale_copy, now=now) is False
    assert session_touch(session=session, now=now + timedelta(seconds=30)) is False


# --- /api/v1/auth/sessions/ ----------------------------------------------------------------------


def test_sessions_lists_own_active_sessions_newest_activity_first_and_marks_the_current():
    user = UserFactory()
    token = bearer_token_for(user)
    current = UserSession.objects.get(token_hash=hash_secret(token))
    now = timezone.now()
    older = UserSessionFactory(user=user, ip_address="198.51.100.1", user_agent="old browser")
    browser = BrowserSessionFactory(user=user)
    UserSession.objects.filter(pk=older.pk).update(last_activity=now - timedelta(hours=2))
    UserSession.objects.filter(pk=browser.pk).update(last_activity=now - timedelta(hours=1))
    UserSession.objects.filter(pk=current.pk).update(last_activity=now - timedelta(seconds=10))
    revoked = UserSessionFactory(user=user)
    session_revoke(session=revoked, actor=user)
    expired = UserSessionFactory(user=user, expires_at=now - timedelta(minutes=1))
    UserSessionFactory()  # someone else's

    response = bearer(token).get(SESSIONS)
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [current.pk, browser.pk, older.pk]
    assert [row["is_current"] for row in rows] == [True, False, False]
    assert rows[1]["kind"] == SessionKind.BROWSER
    assert rows[2]["ip_address"] == "198.51.100.1"
    assert rows[2]["user_agent"] == "old browser"
    assert set(rows[0]) == {
        "id",
        "kind",
        "ip_address",
        "user_agent",
        "created_at",
        "last_activity",
        "expires_at",
        "fingerprint_mismatch_at",
        "is_current",
    }
    assert rows[0]["expires_at"].endswith(("Z", "+00:00"))
    text = response.content.decode()
    assert "token_hash" not in text
    for session in (current, older, browser):
        assert session.token_hash not in text
    ids = {row["id"] for row in rows}
    assert revoked.pk not in ids and expired.pk not in ids


def test_sessions_list_is_cursor_paginated_with_a_fixed_number_of_queries(django_assert_max_num_queries):
    user = UserFactory()
    # Written from Python, as session_create does; ties on last_activity included (6 share one).
    # (SQLite stores db_default=Now() as text with 3 fractional digits, Python-written values with 6,
    # and compares them as text: rows from the factory's db_default would repeat across pages.)
    now = timezone.now()
    token = bearer_token_for(user, last_activity=now)
    UserSessionFactory.create_batch(6, user=user, last_activity=now - timedelta(minutes=1))
    for minutes in range(2, 8):
        UserSessionFactory(user=user, last_activity=now - timedelta(minutes=minutes))
    client = bearer(token)
    seen = []
    url = f"{SESSIONS}?page_size=5"
    for page_size_url in (f"{SESSIONS}?page_size=2", f"{SESSIONS}?page_size=10"):
        with django_assert_max_num_queries(6):
            assert client.get(page_size_url).status_code == 200
    while url:
        with django_assert_max_num_queries(6):
            body = client.get(url).json()
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == 13 == len(set(seen))


def test_sessions_for_admins_are_still_only_their_own():
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    token = bearer_token_for(admin)
    someone = UserSessionFactory()
    client = bearer(token)
    assert someone.pk not in {row["id"] for row in client.get(SESSIONS).json()["results"]}
    assert client.get(f"{SESSIONS}{someone.pk}/").status_code == 404
    assert client.delete(f"{SESSIONS}{someone.pk}/").status_code == 404
    someone.refresh_from_db()
    assert someone.is_active


def test_session_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=SESSIONS,
            make=lambda user: UserSessionFactory(user=user),
            update=None,
            create=None,
            viewers_may_write=True,
        )
    )


def test_sessions_cannot_be_created_or_edited_here():
    session = UserSessionFactory()
    client = bearer(bearer_token_for(session.user))
    assert client.post(SESSIONS, {}, format="json").status_code == 405
    assert client.patch(f"{SESSIONS}{session.pk}/", {}, format="json").status_code == 405


def test_delete_revokes_one_session_and_audits_it():
    user = UserFactory()
    token = bearer_token_for(user)
    other_token = bearer_token_for(user)
    other = UserSession.objects.get(token_hash=hash_secret(other_token))
    client = bearer(token)
    response = client.delete(f"{SESSIONS}{other.pk}/")
    assert response.status_code == 204
    other.refresh_from_db()
    assert not other.is_active and other.revoked_at is not None
    assert other_token and bearer(other_token).get("/api/v1/auth/me/").status_code == 401
    assert client.get(f"{SESSIONS}{other.pk}/").status_code == 404, "a revoked session is no longer listed"
    assert AuditLog.objects.filter(
        action="auth.session_revoked", resource_id=str(other.pk), user=user
    ).exists()


def test_revoking_the_current_session_signs_it_out():
    user = UserFactory()
    token = bearer_token_for(user)
    current = UserSession.objects.get(token_hash=hash_secret(token))
    client = bearer(token)
    assert client.delete(f"{SESSIONS}{current.pk}/").status_code == 204
    assert client.get(SESSIONS).status_code == 401


@pytest.mark.parametrize("ident", ["abc", "-1", "99999999999999999999999", "0"])
def test_bad_session_ids_are_404(ident):
    client = bearer(bearer_token_for(UserFactory()))
    response = client.get(f"{SESSIONS}{ident}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_invalid_cursor_is_404_in_the_error_format():
    client = bearer(bearer_token_for(UserFactory()))
    response = client.get(f"{SESSIONS}?cursor=garbage")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
