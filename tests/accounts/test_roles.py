import pytest
from django.contrib.auth.models import Group, Permission

from accounts.models import AuditLog, Role
from accounts.roles import sync_role_groups
from accounts.services.users import user_set_role
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def perms(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{app}.{code}" for app, code in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_the_data_migration_created_the_five_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
    assert perms(Role.VIEWER), "groups come with permissions from the migration"


def test_viewer_only_reads_content():
    held = perms(Role.VIEWER)
    assert "captions.view_image" in held
    assert "workflows.view_workflow" in held
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in held)
    assert "accounts.view_user" not in held


def test_user_owns_reviews_and_posts_their_content_but_nothing_outside_the_content_apps():
    # As in the API: a user approves, rejects and posts their own captions and reviews their own
    # drafts; the admin's querysets keep it to their own rows.
    held = perms(Role.USER)
    assert {
        "scraping.add_scrapingjob",
        "generation.change_prompt",
        "platforms.delete_platformconnection",
        "captions.review_image",
        "captions.post_image_caption",
        "workflows.review_platformstate",
    } <= held
    assert not any(p.startswith(("accounts.", "core.", "auth.", "django_q.", "axes.")) for p in held)


def test_reviewer_holds_what_a_user_holds_their_reach_is_wider_by_rows_not_permissions():
    # What a reviewer adds (everyone's captions and drafts) is a row scope: see the selectors
    # images_reviewable_by and workflows_reviewable_by.
    assert perms(Role.REVIEWER) == perms(Role.USER)


def test_moderator_manages_all_content_and_reads_the_audit_log_but_not_users_or_config():
    held = perms(Role.MODERATOR)
    assert perms(Role.REVIEWER) <= held
    assert {"accounts.view_auditlog", "accounts.view_user", "django_q.view_task"} <= held
    assert "accounts.change_user" not in held
    assert "core.change_systemconfig" not in held
    assert "accounts.add_apikey" not in held


def test_admin_holds_every_permission():
    assert perms(Role.ADMIN) == {
        f"{app}.{code}" for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }


def test_sync_is_idempotent():
    before = {role: perms(role) for role in Role.values}
    sync_role_groups()
    assert {role: perms(role) for role in Role.values} == before


@pytest.mark.parametrize("role", Role.values)
def test_set_role_gives_the_group_and_admin_access_to_every_role(role):
    user = UserFactory()
    assert user.is_staff is False, "a user never given a role does not enter the admin"
    user_set_role(user=user, role=Role.MODERATOR)
    user_set_role(user=user, role=role)
    user.refresh_from_db()
    assert user.role == role
    assert user.is_staff is True
    assert list(user.groups.values_list("name", flat=True)) == [role]


def test_the_data_migration_admits_users_with_a_role_group_and_no_one_else():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0005_every_role_signs_in_to_the_admin")
    viewer = user_set_role(user=UserFactory(), role=Role.VIEWER)
    type(viewer).objects.filter(pk=viewer.pk).update(is_staff=False)  # as before the migration
    roleless = UserFactory()

    migration.admit_every_role(apps, None)

    viewer.refresh_from_db()
    roleless.refresh_from_db()
    assert viewer.is_staff is True
    assert roleless.is_staff is False
    migration.admit_staff_roles_only(apps, None)
    viewer.refresh_from_db()
    assert viewer.is_staff is False


def test_role_change_is_audited_and_unknown_roles_refused():
    actor = UserFactory(role=Role.ADMIN)
    user = UserFactory()
    user_set_role(user=user, role=Role.REVIEWER, actor=actor)
    entry = AuditLog.objects.get(action="user.role_changed", resource_id=str(user.pk))
    assert entry.user == actor
    assert entry.details == {"from": Role.USER, "to": Role.REVIEWER}
    with pytest.raises(ValueError, match="Unknown role"):
        user_set_role(user=user, role="owner")
    user.refresh_from_db()
    assert user.role == Role.REVIEWER


def test_a_migrate_run_gives_the_role_groups_their_permissions_again():
    # migrate ends with post_migrate, which Django sends only to apps that have models; the
    # resync must still run when the last installed app (console) has none.
    from django.core.management.sql import emit_post_migrate_signal

    Group.objects.get(name=Role.REVIEWER).permissions.clear()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert {"captions.view_image", "captions.change_image"} <= perms(Role.REVIEWER)
