"""Liveness and readiness endpoints for load balancers and orchestrators.

Plain Django views, outside the API: no authentication (a probe has no credentials), nothing
secret in the answer (see console.health), never cached.
"""

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from console.health import FAIL, health_ready_report

logger = logging.getLogger("console.health")


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
    response = JsonResponse(report, status=200 if ready else 503)
    if not ready:
        # Not ready is a state a probe expects (every start, until the worker's first heartbeat),
        # not a server error: a warning naming the failing checks, instead of Django's
        # "Service Unavailable" at ERROR for every 5xx.
        failing = sorted(name for name, check in report["checks"].items() if check.get("status") == FAIL)
        logger.warning("Not ready: %s failing", ", ".join(failing), extra={"status_code": 503})
        response._has_been_logged = True  # read by django.utils.log.log_response
    return response
