"""Readiness checks for `/health/ready` (the views are in console.health_views).

Each check returns a dict with `status` "ok", "fail" or "skipped" and a few safe details.
What goes into a result is chosen here, never copied from an exception: database errors carry
DSNs, HTTP errors carry URLs with credentials, so a failure reports only the exception's class
name. The full exception is logged at WARNING with its class only, for the same reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core.tasks import WORKER_HEARTBEAT_KEY

logger = logging.getLogger(__name__)

OK, FAIL, SKIPPED = "ok", "fail", "skipped"

# The heartbeat schedule runs every minute, but django-q2's scheduler only looks for due schedules
# every ~30 s, so consecutive heartbeats can be up to ~90 s apart on a healthy cluster.
DEFAULT_WORKER_MAX_AGE_SECONDS = 90
DEFAULT_AI_TIMEOUT_SECONDS = 3.0
STORAGE_PROBE_DIR = "health"
MAX_LISTED_MIGRATIONS = 10

CheckResult = dict


def _failed(check: str, exc: BaseException, **details) -> CheckResult:
    logger.warning("Readiness check %s failed: %s", check, type(exc).__name__)
    return {"status": FAIL, "error": type(exc).__name__, **details}


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return _failed("database", exc)
    return {"status": OK, "vendor": connection.vendor}


def check_migrations() -> CheckResult:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return _failed("migrations", exc)
    if not plan:
        return {"status": OK, "pending": 0}
    names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    return {"status": FAIL, "pending": len(names), "migrations": names[:MAX_LISTED_MIGRATIONS]}


def check_worker(*, now: datetime | None = None) -> CheckResult:
    """A django-q2 cluster ran `core.tasks.record_worker_heartbeat` recently (it writes the cache)."""
    max_seconds = int(getattr(settings, "HEALTH_WORKER_MAX_AGE_SECONDS", DEFAULT_WORKER_MAX_AGE_SECONDS))
    try:
        raw = cache.get(WORKER_HEARTBEAT_KEY)
    except Exception as exc:  # a missing cache table, an unreachable Redis
        return _failed("worker", exc)
    if not raw:
        return {"status": FAIL, "reason": "no heartbeat recorded", "max_age_seconds": max_seconds}
    try:
        beat = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return {"status": FAIL, "reason": "unreadable heartbeat", "max_age_seconds": max_seconds}
    if timezone.is_naive(beat):
        beat = beat.replace(tzinfo=UTC)
    age = ((now or timezone.now()) - beat).total_seconds()
    details = {
        "last_heartbeat": beat.isoformat(),
        "age_seconds": round(age, 1),
        "max_age_seconds": max_seconds,
    }
    if age > max_seconds:
        return {"status": FAIL, "reason": "heartbeat too old", **details}
    return {"status": OK, **details}


def check_storage() -> CheckResult:
    """Write and delete a small file through the default storage (local disk, S3, MinIO)."""
    name = None
    try:
        name = default_storage.save(f"{STORAGE_PROBE_DIR}/probe-{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
        default_storage.delete(name)
    except Exception as exc:
        return _failed("storage", exc)
    return {"status": OK}


def check_ai() -> CheckResult:
    """The OpenAI-compatible server answers GET /models; the builtin backend needs no server."""
    backend = (getattr(settings, "AI_BACKEND", "builtin") or "builtin").strip().lower()
    if backend == "builtin":
        return {"status": SKIPPED, "backend": backend}
    from core.ai.openai_backend import NO_KEY_PLACEHOLDER, resolve_api_key

    timeout = getattr(settings, "HEALTH_AI_TIMEOUT_SECONDS", DEFAULT_AI_TIMEOUT_SECONDS)
    url = settings.AI_BASE_URL.rstrip("/") + "/models"
    try:
        headers = {"Authorization": f"Bearer {resolve_api_key() or NO_KEY_PLACEHOLDER}"}
        response = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=False)
    except Exception as exc:  # timeouts, refused connections, a bad URL
        return _failed("ai", exc, backend=backend)
    if not response.is_success:
        logger.warning("Readiness check ai failed: HTTP %s", response.status_code)
        return {"status": FAIL, "backend": backend, "http_status": response.status_code}
    return {"status": OK, "backend": backend}


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "database": check_database,
    "migrations": check_migrations,
    "worker": check_worker,
    "storage": check_storage,
    "ai": check_ai,
}


def health_ready_report() -> tuple[bool, dict]:
    """Run every check; (ready, {"status": "ok"|"fail", "checks": {...}}). Skipped counts as ready."""
    checks = {name: CHECKS[name]() for name in CHECKS}
    ready = all(result["status"] != FAIL for result in checks.values())
    return ready, {"status": OK if ready else FAIL, "checks": checks}
