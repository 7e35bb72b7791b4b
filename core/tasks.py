"""django-q2 entry points of the core app."""

from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

WORKER_HEARTBEAT_KEY = "core:worker-heartbeat"


def record_worker_heartbeat() -> str:
    """Proof that a worker is picking up scheduled work (read by the readiness check)."""
    now = timezone.now().isoformat()
    cache.set(WORKER_HEARTBEAT_KEY, now, timeout=None)
    return now


def clear_expired_browser_sessions() -> None:
    """Django's own expired-session purge for the admin's browser sessions."""
    call_command("clearsessions")
