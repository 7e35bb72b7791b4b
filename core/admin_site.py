"""The admin site moderators work in: Django's, with a "Needs attention" block on the index.

Installed as the default site by `core.apps.AdminConfig` (in INSTALLED_APPS instead of
`django.contrib.admin`), so `admin.site` and every `@admin.register` in our apps and in third-party
ones (django-q2, axes) use it.

The block reads every app, which the kernel may not import: the app that wires them together
(console) registers the function that builds it with `attention_items_provider_set`.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
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


class SocialdeskAdminSite(admin.AdminSite):
    site_header = "socialdesk"
    site_title = "socialdesk admin"
    index_title = "Back office"
    # At 1280 px Django's app sidebar takes a quarter of the width that lists and the review
    # screens need; the breadcrumbs and the index (each person's own work) lead everywhere.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        items = attention_items(user=request.user, now=timezone.now())
        return super().index(request, extra_context={"attention_items": items, **(extra_context or {})})
