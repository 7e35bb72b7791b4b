from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _resync_role_groups(sender, using, **kwargs):
    """After a migrate run, once every app's permissions exist (Django creates them per app in
    post_migrate; the last app is the last to get them), give the role groups the permissions of
    any model added since: a new model never leaves admins without access. Django sends the signal
    only for apps with a models module, so "last" is the last of those (console has none)."""
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is not with_models[-1]:
        return
    from django.db import connections

    if not {"auth_group", "auth_permission"} <= set(connections[using].introspection.table_names()):
        return  # migrated backwards past auth: there are no groups to sync
    from accounts.roles import sync_role_groups

    sync_role_groups()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self):
        from django.core import checks

        from accounts import signals
        from accounts.api import schema  # noqa: F401 - registers the OpenAPI auth extensions
        from accounts.checks import check_rate_limits, check_session_fingerprint_action
        from accounts.services.audit import audit_log_write
        from core.audit import audit_writer_set

        signals.connect()
        audit_writer_set(audit_log_write)  # the kernel's audited actions write through it
        checks.register(check_rate_limits)
        checks.register(check_session_fingerprint_action)
        post_migrate.connect(_resync_role_groups, dispatch_uid="accounts.resync_role_groups")
