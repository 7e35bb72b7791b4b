import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role, User
from tests.admin_pages import form_fields, listed, readonly_fields
from tests.factories.accounts import ApiKeyFactory, AuditLogFactory, UserFactory, UserSessionFactory

pytestmark = pytest.mark.django_db


# Per model: how the changelist search finds the row, the fields its change page shows, which of
# them are read-only, and whether the page can save.
PAGES = {
    "user": (
        lambda obj: obj.username,
        ["username", "password", "full_name", "email", "avatar_url", "time_zone", "is_verified", "role",
         "is_active", "is_superuser", "api_keys_overview", "sessions_overview", "last_login", "created_at",
         "updated_at"],
        {"last_login", "created_at", "updated_at", "api_keys_overview", "sessions_overview"},
        True,
    ),
    "usersession": (
        lambda obj: obj.ip_address,
        ["active_platform", "is_active", "user", "kind", "ip_address", "user_agent",
         "session_fingerprint", "last_fingerprint", "fingerprint_mismatch_at", "created_at", "updated_at",
         "last_activity", "expires_at", "revoked_at"],
        {"user", "kind", "ip_address", "user_agent", "session_fingerprint", "last_fingerprint",
         "fingerprint_mismatch_at", "created_at", "updated_at", "last_activity", "expires_at", "revoked_at"},
        True,
    ),
    "apikey": (
        lambda obj: obj.key_name,
        ["user", "key_name", "permissions", "is_active", "expires_at", "key_prefix", "last_used_at",
         "created_at", "updated_at"],
        {"key_prefix", "last_used_at", "created_at", "updated_at"},
        True,
    ),
    "auditlog": (
        lambda obj: obj.resource_id,
        ["user", "action", "resource_type", "resource_id", "details", "ip_address", "user_agent"],
        {"user", "action", "resource_type", "resource_id", "details", "ip_address", "user_agent"},
        False,  # the audit trail is read-only: no save button
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "factory"),
    [
        ("user", UserFactory),
        ("usersession", lambda: UserSessionFactory(ip_address="203.0.113.41")),
        ("apikey", ApiKeyFactory),
        ("auditlog", lambda: AuditLogFactory(resource_id="audit-row-4711")),
    ],
)
def test_changelists_and_change_pages_load(admin_client, model, factory):
    obj = factory()
    search, fields, read_only, can_save = PAGES[model]
    changelist = admin_client.get(reverse(f"admin:accounts_{model}_changelist"), {"q": "a"})
    assert changelist.status_code == 200
    found = admin_client.get(reverse(f"admin:accounts_{model}_changelist"), {"q": search(obj)})
    assert listed(found) == [obj]

    change = admin_client.get(reverse(f"admin:accounts_{model}_change", args=[obj.pk]))
    assert change.status_code == 200
    assert change.context["original"] == obj
    assert form_fields(change) == fields
    assert readonly_fields(change) == read_only
    assert change.context["show_save"] is can_save
    body = change.content.decode()
    for secret in ("token_hash", "key_hash"):
        assert secret not in form_fields(change)
        if hasattr(obj, secret):
            assert getattr(obj, secret) not in body


def test_the_user_change_page_shows_the_user_but_never_the_password_hash(admin_client):
    user = UserFactory(username="hashowner", full_name="Hash Owner")
    user.set_password("a long and unusual passphrase")
    user.save()
    body = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'value="hashowner"' in body and 'value="Hash Owner"' in body
    digest = user.password.rsplit("$", 1)[-1]
    assert digest not in body
    assert user.password not in body


def test_token_and_key_hashes_are_not_shown(admin_client):
    session = UserSessionFactory()
    key = ApiKeyFactory()
    body = admin_client.get(reverse("admin:accounts_usersession_change", args=[session.pk])).content.decode()
    assert session.token_hash not in body
    body = admin_client.get(reverse("admin:accounts_apikey_change", args=[key.pk])).content.decode()
    assert key.key_hash not in body


def test_audit_log_is_read_only(admin_client):
    entry = AuditLogFactory()
    response = admin_client.post(reverse("admin:accounts_auditlog_delete", args=[entry.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert AuditLog.objects.filter(pk=entry.pk).exists()


def test_adding_a_user_gives_them_the_role_group(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "rita",
            "email": "rita@example.test",
            "full_name": "Rita Reviewer",
            "role": Role.REVIEWER,
            "password1": "a long and unusual passphrase",
            "password2": "a long and unusual passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rita = User.objects.get(username="rita")
    assert rita.is_staff
    assert list(rita.groups.values_list("name", flat=True)) == [Role.REVIEWER]


def test_changing_a_role_in_the_admin_keeps_groups_in_step_and_is_audited(admin_client):
    user = UserFactory(role=Role.REVIEWER)
    response = admin_client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {
            "username": user.username,
            "email": user.email,
            "full_name": user.full_name,
            "avatar_url": "",
            "role": Role.VIEWER,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.role == Role.VIEWER
    assert user.is_staff, "every role signs in to the admin (docs/roles.md)"
    assert list(user.groups.values_list("name", flat=True)) == [Role.VIEWER]
    assert AuditLog.objects.filter(action="user.role_changed", resource_id=str(user.pk)).exists()


def test_a_user_never_given_a_role_cannot_enter_the_admin(client):
    # The role field says viewer, but no role was given through user_set_role: no group, not staff.
    viewer = UserFactory(role=Role.VIEWER)
    client.force_login(viewer)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
