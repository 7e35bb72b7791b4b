"""Content-Security-Policy on every response (settings `CSP_*`, docs/operations.md "Security headers").

HTML pages (the admin, the sign-in lockout page, the Swagger UI at /api/docs/) get a policy that
allows scripts, styles, fonts and fetches from this origin only, images from this origin and
`data:` (Swagger UI's icons, the admin's inline image previews), and no plugins, no framing, no
`<base>` elsewhere and no form posting elsewhere. No inline script or style is allowed: the
project's templates load their CSS from static files and Swagger UI loads its init script from
its own URL (drf-spectacular's split view), so neither needs a nonce.

Everything else (JSON, files and images streamed by the API, static files) gets
`default-src 'none'; frame-ancestors 'none'; sandbox`: a stored SVG or HTML file opened directly
from its download URL cannot run a script in this origin.

A view or middleware that set its own Content-Security-Policy keeps it. With
`CSP_REPORT_ONLY=true` the header is sent as Content-Security-Policy-Report-Only (browsers report
violations in the console and block nothing), to try a change of policy on a running site.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PAGE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}
OTHER_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "frame-ancestors": ("'none'",),
    "sandbox": (),
}
HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def policy_text(policy: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(" ".join((directive, *sources)) for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.page = policy_text(PAGE_POLICY)
        self.other = policy_text(OTHER_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER in response or REPORT_ONLY_HEADER in response:
            return response
        content_type = response.get("Content-Type", "")
        policy = self.page if content_type.startswith("text/html") else self.other
        report_only = getattr(settings, "CSP_REPORT_ONLY", False)
        response[REPORT_ONLY_HEADER if report_only else HEADER] = policy
        return response


def allow_form_redirects_to(response: HttpResponse, sources: tuple[str, ...]) -> None:
    """Give one page the page policy with more `form-action` sources: for a form whose answer
    redirects elsewhere (browsers hold the redirect of a form submission to form-action too), such
    as signing in at the person's own fediverse instance. Other pages keep 'self' alone."""
    policy = {**PAGE_POLICY, "form-action": ("'self'", *sources)}
    report_only = getattr(settings, "CSP_REPORT_ONLY", False)
    response[REPORT_ONLY_HEADER if report_only else HEADER] = policy_text(policy)
