"""Liveness and readiness endpoints for load balancers and orchestrators.

Plain Django views, outside the API: no authentication (a probe has no credentials), nothing
secret in the answer (see core.health), never cached.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.health import health_ready_report


@never_cache
@require_safe
def health_live(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def health_ready(request: HttpRequest) -> JsonResponse:
    """200 when every required check passes, else 503; per-check results either way."""
    ready, report = health_ready_report()
    return JsonResponse(report, status=200 if ready else 503)
