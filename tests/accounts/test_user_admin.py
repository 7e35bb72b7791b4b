"""The user admin: revoke sessions, deactivate, and the read-only lists of keys and sessions."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role, User, UserSession
from accounts.services.users import user_set_role
from tests.admin_pages import form_fields, listed
from tests.factories.accounts import (
    ApiKeyFactory,
    BrowserSessionFactory,
    UserFactory,
    UserSessionFactory,
    bearer_token_for,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_user_changelist"


@pytest.fixture
def operator():
    return UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def operator_client(operator):
    client = Client()
    client.force_login(operator)
    return client


def run_action(client, action: str, users):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [u.pk for u in users]})


def test_revoke_all_sessions_action(operator, operator_client):
    first, second, bystander = UserFactory(), UserFactory(), UserFactory()
    for user in (first, second, bystander):
        UserSessionFactory.create_batch(2, user=user)
    BrowserSessionFactory(user=first)
    response = run_action(operator_client, "revoke_sessions", [first, second])
    assert response.status_code == 302
    assert not UserSession.objects.filter(user__in=[first, second], is_active=True).exists()
    assert UserSession.objects.filter(user=bystander, is_active=True).count() == 2
    entries = AuditLog.objects.filter(action="auth.sessions_revoked", user=operator)
    assert {e.resource_id for e in entries} == {str(first.pk), str(second.pk)}
    assert {e.details["count"] for e in entries} == {3, 2}
    assert User.objects.get(pk=first.pk).is_active, "revoking sessions does not deactivate"


def test_deactivate_action_revokes_sessions_and_tokens_stop_working(operator, operator_client):
    user = UserFactory()
    token = bearer_token_for(user)
    response = run_action(operator_client, "deactivate_users", [user])
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active
    assert not UserSession.objects.filter(user=user, is_active=True).exists()
    assert AuditLog.objects.filter(
        action="user.deactivated", user=operator, resource_id=str(user.pk)
    ).exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/auth/me/").status_code == 401


def test_deactivate_action_skips_the_operator(operator, operator_client):
    other = UserFactory()
    response = run_action(operator_client, "deactivate_users", [operator, other])
    assert response.status_code == 302
    operator.refresh_from_db()
    other.refresh_from_db()
    assert operator.is_active
    assert not other.is_active


def test_unticking_active_in_the_change_form_also_revokes_sessions(operator, operator_client):
    user = UserFactory(role=Role.USER)
    UserSessionFactory.create_batch(2, user=user)
    response = operator_client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {
            "username": user.username,
            "email": user.email,
            "full_name": user.full_name,
            "avatar_url": "",
            "role": Role.USER,
            # is_active left out: unticked
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert not user.is_active
    assert not UserSession.objects.filter(user=user, is_active=True).exists()
    assert AuditLog.objects.filter(action="user.deactivated", resource_id=str(user.pk)).count() == 1


def test_actions_need_the_change_user_permission():
    moderator = UserFactory(role=Role.MODERATOR, is_staff=True)
    user_set_role(user=moderator, role=Role.MODERATOR)  # the moderator group: view_user, not change_user
    client = Client()
    client.force_login(moderator)
    target = UserFactory()
    UserSessionFactory(user=target)
    changelist = client.get(reverse(CHANGELIST))
    assert changelist.status_code == 200
    assert b"revoke_sessions" not in changelist.content
    assert b"deactivate_users" not in changelist.content
    run_action(client, "revoke_sessions", [target])
    run_action(client, "deactivate_users", [target])
    target.refresh_from_db()
    assert target.is_active
    assert UserSession.objects.filter(user=target, is_active=True).exists()
    assert not AuditLog.objects.filter(action__in=["auth.sessions_revoked", "user.deactivated"]).exists()


def test_actions_are_offered_to_admins(operator_client):
    UserFactory()
    content = operator_client.get(reverse(CHANGELIST)).content
    assert b"Revoke all sessions" in content
    assert b"Deactivate (and revoke sessions)" in content


def test_change_page_lists_keys_and_active_sessions_without_hashes(operator_client):
    user = UserFactory()
    key = ApiKeyFactory(
        user=user, key_name="nightly export", permissions=["captions:read", "workflows:write"]
    )
    live = UserSessionFactory(user=user, ip_address="198.51.100.77", user_agent="Listed/1.0")
    revoked = UserSessionFactory(
        user=user, ip_address="198.51.100.78", is_active=False, revoked_at=timezone.now()
    )
    expired = UserSessionFactory(
        user=user, ip_address="198.51.100.79", expires_at=timezone.now() - timedelta(hours=1)
    )
    someone_elses = ApiKeyFactory(key_name="not theirs")

    page = operator_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "nightly export" in page
    assert key.key_prefix in page
    assert "captions:read, workflows:write" in page
    assert "198.51.100.77" in page and "Listed/1.0" in page
    assert "198.51.100.78" not in page and "198.51.100.79" not in page
    assert "not theirs" not in page
    for secret in (
        key.key_hash,
        live.token_hash,
        revoked.token_hash,
        expired.token_hash,
        someone_elses.key_hash,
    ):
        assert secret not in page
    assert f"?user__id__exact={user.pk}" in page


def test_the_linked_lists_filter_by_user(operator_client):
    user = UserFactory()
    rows = {"usersession": UserSessionFactory(user=user), "apikey": ApiKeyFactory(user=user)}
    UserSessionFactory()
    ApiKeyFactory()
    for name, row in rows.items():
        response = operator_client.get(
            reverse(f"admin:accounts_{name}_changelist"), {"user__id__exact": user.pk}
        )
        assert response.status_code == 200
        assert listed(response) == [row]


def test_add_page_still_works(operator_client):
    response = operator_client.get(reverse("admin:accounts_user_add"))
    assert response.status_code == 200
    # UserAdmin.add_fieldsets: the role is chosen when the user is made; the password twice.
    assert form_fields(response) == ["username", "email", "full_name", "role", "password1", "password2"]
    assert response.context["add"] is True and response.context["show_save"] is True
    assert 'name="_save"' in response.content.decode()


def test_operator_setting_a_password_revokes_the_users_tokens(operator, operator_client):
    user = UserFactory()
    UserSessionFactory.create_batch(2, user=user)
    response = operator_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {
            "password1": "a brand new long passphrase",
            "password2": "a brand new long passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not UserSession.objects.filter(user=user, is_active=True).exists()
    assert AuditLog.objects.filter(
        action="auth.sessions_revoked", details__reason="password_changed"
    ).exists()


def test_operator_setting_their_own_password_stays_signed_in(operator, operator_client):
    token = bearer_token_for(operator)
    response = operator_client.post(
        reverse("admin:auth_user_password_change", args=[operator.pk]),
        {
            "password1": "a brand new long passphrase",
            "password2": "a brand new long passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    still_in = operator_client.get(reverse(CHANGELIST))
    assert still_in.status_code == 200
    assert still_in.context["user"] == operator
    assert operator in listed(still_in)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/auth/me/").status_code == 401
