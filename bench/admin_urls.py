"""The project's URLs plus a bench-only admin site whose image changelist keeps Django's defaults.

`bench.admin_changelist` requests `/bench-defaults-admin/captions/image/` as its baseline, with
`override_settings(ROOT_URLCONF="bench.admin_urls")`, so no settings module has to change.

The site is the project's own site class with every ModelAdmin the project registers (so the
navigation sidebar, the templates, the middleware and the permission checks are the same on both
sides); only captions.Image gets `DefaultsImageAdmin`, the project's `ImageAdmin` with Django's
defaults put back for what `LargeTableAdminMixin` and the class tune (see bench.admin_changelist).
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.urls import include, path

from captions.admin import ImageAdmin
from captions.models import Image
from core.admin_site import SocialdeskAdminSite

BENCH_SITE_NAME = "bench_defaults"


class DefaultsImageAdmin(ImageAdmin):
    """ImageAdmin as a ModelAdmin that kept Django's defaults: the same columns, filters, search,
    ordering, page size, queryset (its caption-limit annotation included), column code and
    templates; Django's exact-count `Paginator`, the full-table count on filtered pages,
    `list_select_related = False` (Django then joins every non-null foreign key of the row, as it
    does by default when list_display shows a relation) and Django's row checkbox (a widget
    template rendered per row, where LargeTableAdminMixin writes the same markup directly)."""

    paginator = Paginator
    show_full_result_count = True
    list_select_related = False
    action_checkbox = admin.ModelAdmin.action_checkbox


def _defaults_site() -> admin.AdminSite:
    site = SocialdeskAdminSite(name=BENCH_SITE_NAME)
    for model, model_admin in admin.site._registry.items():
        site.register(model, DefaultsImageAdmin if model is Image else type(model_admin))
    return site


bench_defaults_site = _defaults_site()

urlpatterns = [
    path("bench-defaults-admin/", bench_defaults_site.urls),
    path("", include("config.urls")),
]
