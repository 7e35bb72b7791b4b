from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "System"

    def ready(self) -> None:
        from core import checks  # noqa: F401 -- registers the system checks


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site; named in INSTALLED_APPS, never core's own config."""

    default = False
    default_site = "core.admin_site.SocialdeskAdminSite"
