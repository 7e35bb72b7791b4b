"""Rate limiting for every DRF view, counted in the database (accounts.services.rate_limits).

`DatabaseRateThrottle` is the default throttle (settings.REST_FRAMEWORK). A view picks its
limit with `rate_limit_scope` (a key of settings.RATE_LIMITS; default "api", sign-in views use
"auth", `None` turns counting off). Callers are counted per API key, else per user, else per
IP address (REMOTE_ADDR; proxy headers are client-controlled and not trusted).

A throttle cannot set response headers, so it leaves its numbers on the request and
`RateLimitHeadersMiddleware` adds `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (epoch seconds of the window's end) to every response that was counted,
successes and refusals alike. A refusal is DRF's `Throttled`: a 429 in the one error format
(code "rate_limited") with `Retry-After`.
"""

import math

from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey
from accounts.services.rate_limits import RateLimitHit, rate_limit_hit

DEFAULT_SCOPE = "api"
REQUEST_ATTRIBUTE = "rate_limit_hit"


def is_uncounted(view) -> bool:
    """The schema and its viewers are static, public descriptions of the API: not counted (they
    are also fetched where no database is at hand, e.g. when the schema tests are collected).
    Imported here: this module is loaded while DRF's APIView class is being built.
    """
    from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

    return isinstance(view, SpectacularAPIView | SpectacularSwaggerView | SpectacularRedocView)


def rate_limit_bucket(request) -> tuple[str, object]:
    """(bucket, user to record) for a request: its API key, else its user, else its IP address."""
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}", request.user
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}", user
    return f"ip:{request.META.get('REMOTE_ADDR') or 'unknown'}", None


class DatabaseRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "rate_limit_scope", DEFAULT_SCOPE)
        if scope is None or is_uncounted(view):
            return True
        bucket, user = rate_limit_bucket(request)
        self.hit = rate_limit_hit(bucket=bucket, scope=scope, user=user)
        # DRF's Request wraps Django's: the middleware sees the latter.
        setattr(request._request, REQUEST_ATTRIBUTE, self.hit)
        return self.hit.count <= self.hit.limit

    def wait(self) -> int:
        """Seconds until the current window ends (at least 1)."""
        remaining = (self.hit.window_end - timezone.now()).total_seconds()
        return max(math.ceil(remaining), 1)


def rate_limit_headers(hit: RateLimitHit) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(hit.limit),
        "X-RateLimit-Remaining": str(hit.remaining),
        "X-RateLimit-Reset": str(int(hit.window_end.timestamp())),
    }


class RateLimitHeadersMiddleware:
    """Adds the X-RateLimit-* headers to every response whose request was counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        hit = getattr(request, REQUEST_ATTRIBUTE, None)
        if hit is not None:
            for name, value in rate_limit_headers(hit).items():
                response[name] = value
        return response
