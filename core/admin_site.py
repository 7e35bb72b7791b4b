"""The admin site moderators work in: Django's, with a "Needs attention" block on the index.

Installed as the default site by `core.apps.AdminConfig` (in INSTALLED_APPS instead of
`django.contrib.admin`), so `admin.site` and every `@admin.register` in our apps and in third-party
ones (django-q2, axes) use it.

The block reads every app, which the kernel may not import: the app that wires them together
(console) registers the function that builds it with `attention_items_provider_set`, and the one
that builds the pictures below it (charts of captions, work per day, running work) with
`dashboard_context_provider_set`.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from django.contrib import admin
from django.utils import timezone

AttentionItemsProvider = Callable[..., Sequence[Any]]  # (*, user, now) -> items for the template

_attention_items_provider: AttentionItemsProvider | None = None


def attention_items_provider_set(provider: AttentionItemsProvider | None) -> None:
    """Register the function the index calls as `provider(user=..., now=...)`."""
    global _attention_items_provider
    _attention_items_provider = provider


def attention_items(*, user, now: datetime) -> Sequence[Any]:
    """The registered provider's items; none while no app registered one."""
    if _attention_items_provider is None:
        return []
    return _attention_items_provider(user=user, now=now)


DashboardContextProvider = Callable[..., dict]  # (*, user, now, zone) -> context for the template

_dashboard_context_provider: DashboardContextProvider | None = None


def dashboard_context_provider_set(provider: DashboardContextProvider | None) -> None:
    """Register the function the index calls as `provider(user=..., now=..., zone=...)`."""
    global _dashboard_context_provider
    _dashboard_context_provider = provider


def dashboard_context(*, user, now: datetime, zone: tzinfo) -> dict:
    """The registered provider's context; none while no app registered one."""
    if _dashboard_context_provider is None:
        return {}
    return _dashboard_context_provider(user=user, now=now, zone=zone)


class SocialdeskAdminSite(admin.AdminSite):
    site_header = "socialdesk"
    site_title = "socialdesk admin"
    index_title = "Back office"
    # At 1280 px Django's app sidebar takes a quarter of the width that lists and the review
    # screens need; the breadcrumbs and the index (each person's own work) lead everywhere.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        now = timezone.now()
        items = attention_items(user=request.user, now=now)
        # The current zone is the person's own (accounts.middleware): their days, their "today".
        pictures = dashboard_context(user=request.user, now=now, zone=timezone.get_current_timezone())
        return super().index(
            request, extra_context={"attention_items": items, **pictures, **(extra_context or {})}
        )
