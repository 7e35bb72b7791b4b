"""The admin site moderators work in: Django's, with a "Needs attention" block on the index.

Installed as the default site by `core.apps.AdminConfig` (in INSTALLED_APPS instead of
`django.contrib.admin`), so `admin.site` and every `@admin.register` in our apps and in third-party
ones (django-q2, axes) use it.
"""

from django.contrib import admin
from django.utils import timezone


class SocialdeskAdminSite(admin.AdminSite):
    site_header = "socialdesk"
    site_title = "socialdesk admin"
    index_title = "Back office"

    def index(self, request, extra_context=None):
        from core.dashboard import admin_attention_items

        items = admin_attention_items(user=request.user, now=timezone.now())
        return super().index(request, extra_context={"attention_items": items, **(extra_context or {})})
