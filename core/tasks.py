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


def reap_stale_work() -> dict:
    """Take back background work of every kind whose worker went silent (core.reaper)."""
    from core.reaper import reap_stale_work as reap

    return {result.name: result.error or result.counts for result in reap()}


def run_cleanup() -> None:
    """The daily `manage.py cleanup`. A run cut short by the task timeout loses nothing: each
    batch is its own transaction, and the next run removes the rest."""
    call_command("cleanup")


def run_archive() -> None:
    """The daily `manage.py archive`, with the same timeout behaviour as `run_cleanup`."""
    call_command("archive")
