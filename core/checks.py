"""System checks for settings that would otherwise fail only on first use."""

from django.conf import settings
from django.core.checks import Error, register

from core.urlguard import parse_origins


@register()
def outbound_allowed_origins_check(app_configs, **kwargs):
    try:
        parse_origins(getattr(settings, "OUTBOUND_ALLOWED_ORIGINS", ()))
    except ValueError as exc:
        return [Error(f"OUTBOUND_ALLOWED_ORIGINS: {exc}", id="core.E010")]
    return []
