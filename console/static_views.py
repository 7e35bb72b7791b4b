"""Answers for URLs that browsers ask for on their own."""

from django.templatetags.static import static
from django.views.generic import RedirectView


class FaviconView(RedirectView):
    """`/favicon.ico`, asked for by pages that name no icon (the API's JSON, Swagger UI).

    The static URL is resolved per request, not at import: with the manifest storage it needs
    `collectstatic` to have run, and a URL module must import before that."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("core/favicon.svg")
