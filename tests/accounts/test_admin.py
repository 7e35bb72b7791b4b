import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role, User
from tests.factories.accounts import ApiKeyFactory, AuditLogFactory, UserFactory, UserSessionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "factory"),
    [
        ("user", UserFactory),
        ("usersession", UserSessionFactory),
        ("apikey", ApiKeyFactory),
        ("auditlog", AuditLogFactory),
    ],
)
def test_changelists_and_change_pages_load(admin_client, model, factory):
    obj = factory()
    changelist = admin_client.get(reverse(f"admin:accounts_{model}_changelist"), {"q": "a"})
    assert changelist.status_code == 200
    change = admin_client.get(reverse(f"admin:accounts_{model}_change", args=[obj.pk]))
    assert change.status_code == 200


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
    assert not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == [Role.VIEWER]
    assert AuditLog.objects.filter(action="user.role_changed", resource_id=str(user.pk)).exists()


def test_a_viewer_cannot_enter_the_admin(client):
    viewer = UserFactory(role=Role.VIEWER)
    client.force_login(viewer)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
