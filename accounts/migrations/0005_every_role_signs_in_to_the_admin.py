"""Every role now works in the admin (docs/roles.md): users who hold a role group get `is_staff`,
Django's "may sign in to the admin", as `user_set_role` now gives it to every role. Users without a
role group (never given a role) stay out."""

from django.db import migrations

ROLES = ["admin", "moderator", "reviewer", "user", "viewer"]
NEWLY_ADMITTED = ["user", "viewer"]


def admit_every_role(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    User.objects.filter(groups__name__in=ROLES, is_staff=False).update(is_staff=True)


def admit_staff_roles_only(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    User.objects.filter(groups__name__in=NEWLY_ADMITTED, is_superuser=False).update(is_staff=False)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_role_groups")]

    operations = [migrations.RunPython(admit_every_role, admit_staff_roles_only)]
