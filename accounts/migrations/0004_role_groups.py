"""The five role groups (admin, moderator, reviewer, user, viewer) with their permissions.

Runs after every app's models exist, creating their permissions first (Django would only
create them after the whole migrate run). `bootstrap` re-syncs the groups for models added
later, with the same function.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import sync_role_groups


def create_role_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_role_groups(apps)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["admin", "moderator", "reviewer", "user", "viewer"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_postgres_indexes"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("sessions", "0001_initial"),
        ("axes", "0010_accessattemptexpiration"),
        ("core", "0002_bio_prompt_defaults"),
        ("platforms", "0001_initial"),
        ("captions", "0001_initial"),
        ("workflows", "0002_postgres_indexes"),
        ("scraping", "0002_postgres_indexes"),
        ("generation", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
