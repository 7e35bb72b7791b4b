"""Roles map to Django groups of the same name; this module says which permissions each holds.

viewer reads own data; user owns, changes, reviews and posts own content; reviewer also reviews
everyone's captions and drafts; moderator also manages everyone's content and tasks; admin manages
everything, users, keys and system config included. Row-level scoping ("own data", "everyone's
review queue") is done by selectors; these groups decide what each role may do at all. The whole
table is docs/roles.md.

Every role signs in to the admin (is_staff, set by `accounts.services.users.user_set_role`).

`sync_role_groups` is used by a data migration (with historical models) and by `bootstrap`
(with the live registry), so groups follow new models without a new migration.
"""

from django.apps import apps as global_apps

from accounts.models import Role

CONTENT_APPS = ("platforms", "captions", "workflows", "scraping", "generation")
DEFAULT_ACTIONS = ("add", "change", "delete", "view")
# The content apps' own permissions beyond Django's four: captions.review_image,
# captions.post_image_caption, workflows.review_platformstate. The API lets a user approve, reject
# and post their own captions and review their own drafts, so the admin lets them too (on their
# own rows: the admins' querysets are scoped).
OWN_CONTENT_ACTIONS = (*DEFAULT_ACTIONS, "review", "post")

# What moderators may see or run outside the content apps.
MODERATOR_EXTRA = (
    "accounts.view_user",
    "accounts.view_auditlog",
    "django_q.view_task",
    "django_q.view_success",
    "django_q.view_failure",
    "django_q.delete_failure",
    "django_q.view_schedule",
    "django_q.view_ormq",
)


def _role_holds(role: str, app_label: str, codename: str) -> bool:
    action = codename.split("_", 1)[0]
    in_content = app_label in CONTENT_APPS
    rules = {
        Role.ADMIN: True,
        Role.MODERATOR: in_content or f"{app_label}.{codename}" in MODERATOR_EXTRA,
        Role.REVIEWER: in_content and action in OWN_CONTENT_ACTIONS,
        Role.USER: in_content and action in OWN_CONTENT_ACTIONS,
        Role.VIEWER: in_content and action == "view",
    }
    return rules[role]


def _codenames_for(role: str, permissions) -> set[tuple[str, str]]:
    """(app_label, codename) pairs a role holds, chosen from all existing permissions."""
    return {
        (app_label, codename) for app_label, codename in permissions if _role_holds(role, app_label, codename)
    }


def sync_role_groups(apps=global_apps) -> dict[str, int]:
    """Create the five role groups and set exactly their permissions. Idempotent.

    Returns the number of permissions each group holds.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    every = {
        (app_label, codename): pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    counts = {}
    for role in Role.values:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = _codenames_for(role, every.keys())
        group.permissions.set([every[pair] for pair in wanted])
        counts[role] = len(wanted)
    return counts
