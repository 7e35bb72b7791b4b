"""A token or browser session used from a client other than the one it was created from: audited
once per new client, marked in the session list and the admin, and revoked at once under
SESSION_FINGERPRINT_ACTION=revoke."""

import importlib

import pytest
from django.core.checks import run_checks
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.checks import check_session_fingerprint_action
from accounts.models import AuditLog, Role, UserSession
from accounts.request_meta import client_network, fingerprint_of, user_agent_family
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
FIREFOX_120 = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
FIREFOX_121 = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
HOME = "198.51.100.7"
HOME_OTHER_ADDRESS = "198.51.100.231"  # the same /24: a new lease from the same provider
ELSEWHERE = "203.0.113.50"
CHANGED = "session.fingerprint_changed"


def api_login(user, **client) -> str:
    response = APIClient().post(
        "/api/v1/auth/login/", {"username": user.username, "password": PASSWORD}, **client
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def me(token: str, **client):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.get("/api/v1/auth/me/", **client)


def changes_of(user) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=CHANGED, user=user).order_by("pk"))


# --- the fingerprint ---------------------------------------------------------------------------


def test_user_agent_family_drops_versions_only():
    assert user_agent_family(FIREFOX_120) == user_agent_family(FIREFOX_121)
    assert user_agent_family(FIREFOX_120) != user_agent_family(CHROME)
    assert user_agent_family("") == ""


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("198.51.100.7", "198.51.100.0/24"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),  # IPv4 seen through an IPv6 socket
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("2001:db8:1234:ffff:abcd::9", "2001:db8:1234::/48"),
        (None, ""),
        ("not an address", ""),
    ],
)
def test_client_network_is_the_slash_24_or_slash_48(address, network):
    assert client_network(address) == network


def test_fingerprint_survives_an_update_and_a_new_address_in_the_same_network():
    first = fingerprint_of(user_agent=FIREFOX_120, ip_address=HOME)
    assert fingerprint_of(user_agent=FIREFOX_121, ip_address=HOME_OTHER_ADDRESS) == first
    assert fingerprint_of(user_agent=CHROME, ip_address=HOME) != first
    assert fingerprint_of(user_agent=FIREFOX_120, ip_address=ELSEWHERE) != first
    assert len(first) == 32


def test_the_migrations_frozen_copy_computes_the_same_fingerprint():
    migration = importlib.import_module("accounts.migrations.0010_user_session_fingerprint_mismatch")
    cases = [(FIREFOX_120, HOME), (CHROME, "2001:db8::5"), ("", None), (None, "::ffff:1.2.3.4")]
    for agent, address in cases:
        frozen = migration._fingerprint(agent, address)
        assert frozen == fingerprint_of(user_agent=agent or "", ip_address=address)


# --- API tokens --------------------------------------------------------------------------------


def test_record_a_token_used_elsewhere_is_audited_once_per_new_client_and_marked(settings):
    settings.SESSION_FINGERPRINT_ACTION = "record"
    user = UserFactory()
    token = api_login(user, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    session = UserSession.objects.get(user=user)

    assert me(token, HTTP_USER_AGENT=FIREFOX_121, REMOTE_ADDR=HOME_OTHER_ADDRESS).status_code == 200
    assert changes_of(user) == []
    session.refresh_from_db()
    assert session.fingerprint_mismatch_at is None and session.last_fingerprint is None

    for _ in range(3):  # the same other client, again and again: one audit row
        assert me(token, HTTP_USER_AGENT=CHROME, REMOTE_ADDR=ELSEWHERE).status_code == 200
    [change] = changes_of(user)
    assert change.resource_type == "user_session" and change.resource_id == str(session.pk)
    assert change.ip_address == ELSEWHERE and change.user_agent == CHROME
    assert change.details["created_from"] == session.session_fingerprint
    assert change.details["used_from"] == fingerprint_of(user_agent=CHROME, ip_address=ELSEWHERE)
    assert change.details["session_action"] == "record"
    session.refresh_from_db()
    assert session.is_active
    assert session.last_fingerprint == change.details["used_from"]
    first_mismatch = session.fingerprint_mismatch_at
    assert first_mismatch is not None

    # Back home: nothing new. A third place: a second row.
    assert me(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME).status_code == 200
    assert len(changes_of(user)) == 1
    assert me(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR="192.0.2.10").status_code == 200
    assert len(changes_of(user)) == 2

    listed = me_sessions(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    [row] = listed
    assert row["id"] == session.pk and row["fingerprint_mismatch_at"] is not None


def me_sessions(token: str, **client) -> list[dict]:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get("/api/v1/auth/sessions/", **client)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_session_never_used_elsewhere_is_listed_unmarked(settings):
    user = UserFactory()
    token = api_login(user, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    [row] = me_sessions(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    assert row["fingerprint_mismatch_at"] is None


def test_revoke_a_token_used_elsewhere_is_refused_and_ended(settings):
    settings.SESSION_FINGERPRINT_ACTION = "revoke"
    user = UserFactory()
    token = api_login(user, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    assert me(token, HTTP_USER_AGENT=FIREFOX_121, REMOTE_ADDR=HOME_OTHER_ADDRESS).status_code == 200

    refused = me(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=ELSEWHERE)
    assert refused.status_code == 401
    assert "another client or network" in refused.json()["error"]["message"]
    session = UserSession.objects.get(user=user)
    assert not session.is_active and session.revoked_at is not None
    assert session.fingerprint_mismatch_at is not None
    [change] = changes_of(user)
    assert change.details["session_action"] == "revoke"
    revoked = AuditLog.objects.get(action="auth.session_revoked", resource_id=str(session.pk))
    assert revoked.details["reason"] == "fingerprint_changed"
    # The token is dead for its own client too.
    assert me(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME).status_code == 401


def test_revoke_ends_a_session_already_marked_under_record(settings):
    settings.SESSION_FINGERPRINT_ACTION = "record"
    user = UserFactory()
    token = api_login(user, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    assert me(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=ELSEWHERE).status_code == 200
    settings.SESSION_FINGERPRINT_ACTION = "revoke"
    assert me(token, HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=ELSEWHERE).status_code == 401
    assert len(changes_of(user)) == 1  # not a new client: no second row
    assert not UserSession.objects.get(user=user).is_active


# --- browser sessions --------------------------------------------------------------------------


@pytest.fixture
def staff():
    return UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)


def admin_login(user) -> Client:
    client = Client(HTTP_USER_AGENT=FIREFOX_120, REMOTE_ADDR=HOME)
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_browser_session_used_elsewhere_is_recorded_and_shown_in_the_admin(settings, staff):
    settings.SESSION_FINGERPRINT_ACTION = "record"
    client = admin_login(staff)
    assert client.get("/admin/", REMOTE_ADDR=ELSEWHERE).status_code == 200
    assert client.get("/admin/", REMOTE_ADDR=ELSEWHERE).status_code == 200
    [change] = changes_of(staff)
    assert change.details["kind"] == "browser"
    row = UserSession.objects.get(user=staff)
    assert row.is_active and row.fingerprint_mismatch_at is not None

    changelist = reverse("admin:accounts_usersession_changelist")
    marked = client.get(changelist, {"used_elsewhere": "yes"})
    assert marked.status_code == 200
    assert list(marked.context["cl"].result_list) == [row]
    assert list(client.get(changelist, {"used_elsewhere": "no"}).context["cl"].result_list) == []
    assert "Used elsewhere" in marked.content.decode()


def test_browser_session_used_elsewhere_is_logged_out_under_revoke(settings, staff):
    settings.SESSION_FINGERPRINT_ACTION = "revoke"
    client = admin_login(staff)
    assert client.get("/admin/").status_code == 200
    response = client.get("/admin/", HTTP_USER_AGENT=CHROME)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    row = UserSession.objects.get(user=staff)
    assert not row.is_active
    assert len(changes_of(staff)) == 1
    # Signed out for the original browser as well.
    assert client.get("/admin/").status_code == 302


# --- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["record", "revoke"])
def test_known_actions_pass_the_check(settings, value):
    settings.SESSION_FINGERPRINT_ACTION = value
    assert check_session_fingerprint_action() == []


@pytest.mark.parametrize("value", ["block", "", None])
def test_an_unknown_action_is_a_startup_error(settings, value):
    settings.SESSION_FINGERPRINT_ACTION = value
    errors = [error for error in run_checks() if error.id.startswith("accounts.")]
    assert [error.id for error in errors] == ["accounts.E004"]
    assert "record, revoke" in errors[0].hint
