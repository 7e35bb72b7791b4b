"""/api/v1/auth/: login, logout, logout-all, me and password."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role, SessionKind, User, UserSession
from accounts.tokens import hash_secret
from tests.factories.accounts import ApiKeyFactory, UserFactory, bearer_token_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
LOGIN = "/api/v1/auth/login/"


@pytest.fixture(autouse=True)
def _roomy_sign_in_rate_limit(settings):
    # These tests sign in more often than the per-IP "auth" limit allows; test_lockout covers limits.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "1000/5m"}


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def login(username: str, password: str = PASSWORD, client: APIClient | None = None, **extra):
    return (client or APIClient()).post(LOGIN, {"username": username, "password": password}, **extra)


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    return body["error"]


# --- login -------------------------------------------------------------------------------------


def test_login_with_username_returns_a_token_that_works():
    user = UserFactory()
    before = timezone.now()
    response = login(user.username, HTTP_USER_AGENT="pytest-agent/1.0", HTTP_ACCEPT_LANGUAGE="en-GB")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    expires_at = parse_datetime(body["expires_at"])
    assert expires_at.tzinfo is not None
    expected = before + timedelta(seconds=settings.API_TOKEN_TTL)
    assert abs((expires_at - expected).total_seconds()) < 60

    session = UserSession.objects.get(user=user)
    assert session.kind == SessionKind.API
    assert session.token_hash == hash_secret(body["token"])
    assert session.user_agent == "pytest-agent/1.0"
    assert session.ip_address == "127.0.0.1"
    assert session.session_fingerprint and len(session.session_fingerprint) == 32
    assert session.is_active and session.revoked_at is None

    me = bearer(body["token"]).get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    user.refresh_from_db()
    assert user.last_login is not None and user.last_login >= before
    assert AuditLog.objects.filter(action="auth.login", user=user, resource_id=str(session.pk)).exists()


def test_login_with_email_in_any_case():
    user = UserFactory(email="Mixed.Case@example.test")
    User.objects.filter(pk=user.pk).update(email="mixed.case@example.test")
    response = login("MIXED.case@Example.TEST")
    assert response.status_code == 200, response.content


def test_fingerprint_depends_on_the_user_agent_family_and_the_network():
    user = UserFactory()
    login(user.username, HTTP_USER_AGENT="Firefox/120.0", REMOTE_ADDR="198.51.100.7")
    login(user.username, HTTP_USER_AGENT="Firefox/121.0.1", REMOTE_ADDR="198.51.100.200")  # update, same /24
    login(user.username, HTTP_USER_AGENT="Chrome/121.0", REMOTE_ADDR="198.51.100.7")
    login(user.username, HTTP_USER_AGENT="Firefox/121.0", REMOTE_ADDR="198.51.101.7")
    prints = list(
        UserSession.objects.filter(user=user).order_by("pk").values_list("session_fingerprint", flat=True)
    )
    assert prints[0] == prints[1]
    assert len({prints[0], prints[2], prints[3]}) == 3


def test_each_login_is_a_new_session_with_a_new_token():
    user = UserFactory()
    first = login(user.username).json()["token"]
    second = login(user.username).json()["token"]
    assert first != second
    assert UserSession.objects.filter(user=user, is_active=True).count() == 2


@pytest.mark.parametrize("who", ["wrong password", "unknown user", "unknown email"])
def test_failed_login_is_a_generic_401(who):
    user = UserFactory()
    username, password = {
        "wrong password": (user.username, "not the password"),
        "unknown user": ("nobody-here", PASSWORD),
        "unknown email": ("nobody@example.test", PASSWORD),
    }[who]
    error = assert_error(login(username, password), 401, "not_authenticated")
    assert error["message"] == "Unable to sign in with these credentials."
    assert not UserSession.objects.exists()


def test_failure_messages_do_not_reveal_whether_the_account_exists():
    user = UserFactory()
    wrong_password = login(user.username, "nope").json()
    unknown = login("no-such-account", "nope").json()
    assert wrong_password == unknown


def test_inactive_user_cannot_log_in():
    user = UserFactory(is_active=False)
    assert_error(login(user.username), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "someone"}, "password"),
        ({"username": "x" * 256, "password": PASSWORD}, "username"),
        ({"username": ["a"], "password": PASSWORD}, "username"),
        ({"username": "a\x00b", "password": PASSWORD}, "username"),
    ],
)
def test_login_with_bad_input_is_a_400_naming_the_field(body, field):
    error = assert_error(APIClient().post(LOGIN, body, format="json"), 400, "invalid")
    assert field in error["fields"]


def test_login_with_malformed_json_is_a_400():
    response = APIClient().post(LOGIN, "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_a_stale_token_does_not_block_logging_in():
    user = UserFactory()
    client = bearer("sdt_revoked-or-unknown")
    response = login(user.username, client=client)
    assert response.status_code == 200, response.content


# --- logout ------------------------------------------------------------------------------------


def test_logout_revokes_the_calling_token_only():
    user = UserFactory()
    mine = login(user.username).json()["token"]
    other = login(user.username).json()["token"]
    response = bearer(mine).post("/api/v1/auth/logout/")
    assert response.status_code == 204
    assert response.content == b""
    session = UserSession.objects.get(token_hash=hash_secret(mine))
    assert not session.is_active and session.revoked_at is not None
    assert_error(bearer(mine).get("/api/v1/auth/me/"), 401, "not_authenticated")
    assert bearer(other).get("/api/v1/auth/me/").status_code == 200
    assert AuditLog.objects.filter(action="auth.logout", resource_id=str(session.pk), user=user).exists()


def test_logout_all_revokes_every_session_api_and_browser():
    user = UserFactory()
    tokens = [login(user.username).json()["token"] for _ in range(3)]
    browser = UserSession.objects.create(
        user=user,
        kind=SessionKind.BROWSER,
        token_hash="b" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    other_user_token = bearer_token_for(UserFactory())
    assert bearer(tokens[0]).post("/api/v1/auth/logout-all/").status_code == 204
    assert not UserSession.objects.filter(user=user, is_active=True).exists()
    browser.refresh_from_db()
    assert browser.revoked_at is not None
    for token in tokens:
        assert bearer(token).get("/api/v1/auth/me/").status_code == 401
    assert bearer(other_user_token).get("/api/v1/auth/me/").status_code == 200
    entry = AuditLog.objects.get(action="auth.sessions_revoked", user=user)
    assert entry.details["count"] == 4


@pytest.mark.parametrize("url", ["/api/v1/auth/logout/", "/api/v1/auth/logout-all/"])
def test_logout_needs_authentication(url):
    assert_error(APIClient().post(url), 401, "not_authenticated")


# --- me ----------------------------------------------------------------------------------------


def test_me_shows_the_caller_without_secrets():
    user = UserFactory(full_name="Ada Lovelace")
    body = bearer(bearer_token_for(user)).get("/api/v1/auth/me/").json()
    assert body["username"] == user.username
    assert body["email"] == user.email
    assert body["full_name"] == "Ada Lovelace"
    assert body["role"] == Role.USER
    assert "password" not in body
    assert "token_hash" not in str(body)


def test_me_patch_changes_profile_and_keeps_username():
    user = UserFactory()
    client = bearer(bearer_token_for(user))
    response = client.patch(
        "/api/v1/auth/me/",
        {
            "username": "hijack",
            "email": "New@Example.Test",
            "full_name": "New Name",
            "avatar_url": "https://a.test/x.png",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.username != "hijack"
    assert user.email == "new@example.test"
    assert user.full_name == "New Name"
    assert user.avatar_url == "https://a.test/x.png"
    entry = AuditLog.objects.get(action="user.profile_updated", user=user)
    assert entry.details == {"fields": ["avatar_url", "email", "full_name"]}


def test_me_patch_role_is_read_only():
    user = UserFactory(role=Role.USER)
    bearer(bearer_token_for(user)).patch("/api/v1/auth/me/", {"role": Role.ADMIN}, format="json")
    user.refresh_from_db()
    assert user.role == Role.USER


def test_me_email_clash_is_case_insensitive_400():
    UserFactory(email="taken@example.test")
    user = UserFactory()
    response = bearer(bearer_token_for(user)).patch(
        "/api/v1/auth/me/", {"email": "TAKEN@example.test"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "email" in error["fields"]
    user.refresh_from_db()
    assert user.email != "taken@example.test"


def test_me_keeping_ones_own_email_in_another_case_is_fine():
    user = UserFactory(email="me@example.test")
    response = bearer(bearer_token_for(user)).patch(
        "/api/v1/auth/me/", {"email": "ME@example.test"}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"avatar_url": "not a url"}, "avatar_url"),
        ({"avatar_url": "https://a.test/" + "x" * 2100}, "avatar_url"),
        ({"full_name": "x" * 256}, "full_name"),
        ({"full_name": ["list"]}, "full_name"),
    ],
)
def test_me_patch_bad_input_is_a_400_naming_the_field(body, field):
    user = UserFactory()
    response = bearer(bearer_token_for(user)).patch("/api/v1/auth/me/", body, format="json")
    error = assert_error(response, 400, "invalid")
    assert field in error["fields"]


def test_me_has_no_put():
    user = UserFactory()
    response = bearer(bearer_token_for(user)).put("/api/v1/auth/me/", {"email": "a@b.test"}, format="json")
    assert_error(response, 405, "method_not_allowed")


# --- password ----------------------------------------------------------------------------------


def test_password_change_keeps_the_current_session_and_revokes_the_others():
    user = UserFactory()
    current = login(user.username).json()["token"]
    others = [login(user.username).json()["token"] for _ in range(2)]
    response = bearer(current).post(
        "/api/v1/auth/password/",
        {"current_password": PASSWORD, "new_password": "a new and rather long passphrase"},
        format="json",
    )
    assert response.status_code == 204, response.content
    assert bearer(current).get("/api/v1/auth/me/").status_code == 200
    for token in others:
        assert bearer(token).get("/api/v1/auth/me/").status_code == 401
    user.refresh_from_db()
    assert user.check_password("a new and rather long passphrase")
    assert login(user.username, PASSWORD).status_code == 401
    assert login(user.username, "a new and rather long passphrase").status_code == 200
    entry = AuditLog.objects.get(action="auth.password_changed", user=user)
    assert entry.details == {"sessions_revoked": 2}
    assert "passphrase" not in str(list(AuditLog.objects.values_list("details", flat=True)))


def test_password_change_with_a_wrong_current_password_is_a_400():
    user = UserFactory()
    response = bearer(bearer_token_for(user)).post(
        "/api/v1/auth/password/",
        {"current_password": "wrong", "new_password": "a new and rather long passphrase"},
        format="json",
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"current_password"}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("weak", ["short", "12345678901", "password123"])
def test_password_change_runs_the_password_validators(weak):
    user = UserFactory()
    token = bearer_token_for(user)
    other = bearer_token_for(user)
    response = bearer(token).post(
        "/api/v1/auth/password/", {"current_password": PASSWORD, "new_password": weak}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"new_password"}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert bearer(other).get("/api/v1/auth/me/").status_code == 200, "nothing revoked on failure"


def test_password_similar_to_the_username_is_refused():
    user = UserFactory(username="marguerite.yourcenar")
    response = bearer(bearer_token_for(user)).post(
        "/api/v1/auth/password/",
        {"current_password": PASSWORD, "new_password": "marguerite.yourcenar"},
        format="json",
    )
    assert "new_password" in assert_error(response, 400, "invalid")["fields"]


def test_password_change_missing_fields():
    user = UserFactory()
    response = bearer(bearer_token_for(user)).post("/api/v1/auth/password/", {}, format="json")
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"current_password", "new_password"}


# --- who may use these -------------------------------------------------------------------------


def test_viewers_may_use_every_auth_endpoint():
    viewer = UserFactory(role=Role.VIEWER)
    token = login(viewer.username).json()["token"]
    client = bearer(token)
    assert client.get("/api/v1/auth/me/").status_code == 200
    assert client.patch("/api/v1/auth/me/", {"full_name": "Vee"}, format="json").status_code == 200
    sessions = client.get("/api/v1/auth/sessions/").json()["results"]
    other = bearer_token_for(viewer)
    other_id = UserSession.objects.get(token_hash=hash_secret(other)).pk
    assert client.delete(f"/api/v1/auth/sessions/{other_id}/").status_code == 204
    assert len(sessions) == 1
    response = client.post(
        "/api/v1/auth/password/",
        {"current_password": PASSWORD, "new_password": "a new and rather long passphrase"},
        format="json",
    )
    assert response.status_code == 204
    assert client.post("/api/v1/auth/logout-all/").status_code == 204
    token = login(viewer.username, "a new and rather long passphrase").json()["token"]
    assert bearer(token).post("/api/v1/auth/logout/").status_code == 204


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/auth/me/"),
        ("patch", "/api/v1/auth/me/"),
        ("get", "/api/v1/auth/sessions/"),
        ("post", "/api/v1/auth/logout/"),
        ("post", "/api/v1/auth/logout-all/"),
        ("post", "/api/v1/auth/password/"),
    ],
)
def test_api_keys_cannot_use_auth_endpoints(method, url):
    from accounts.tokens import new_api_key

    key = new_api_key()
    ApiKeyFactory(key_hash=hash_secret(key), permissions=[f"{area}:write" for area in ("captions", "audit")])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_error(getattr(client, method)(url, {}, format="json"), 403, "permission_denied")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/auth/me/"),
        ("patch", "/api/v1/auth/me/"),
        ("get", "/api/v1/auth/sessions/"),
        ("post", "/api/v1/auth/password/"),
    ],
)
def test_anonymous_is_401(method, url):
    assert_error(getattr(APIClient(), method)(url, {}, format="json"), 401, "not_authenticated")
