"""Connection health: whether a connection still works, why not, and since when.

One write path, `connection_health_set`: it records the state, the reason and the time, and acts
on a change:
- from ok/unknown (or unreachable) to `expired` or `revoked`: the owner is told once, by a
  CONNECTION_BROKE notification whose key is the connection and the moment it broke (repeated
  checks while it stays broken find the state unchanged and say nothing again);
- back to `ok` from a broken state: the work that was waiting resumes, through the hooks upper apps
  register (`connection_restored_hook_add`; workflows re-queues the publishing jobs it held).

`connection_health_check` asks the network (the kind's `verify`, after refreshing an OAuth token
that is about to expire) and sets the result. `connection_ready` is the gate before work (a scan,
a publish): a broken connection stops the work with its reason (`ConnectionBroken`), and an OAuth
token close to expiry is refreshed first. `connection_health_from_error` turns a refusal met during
work into a health state, so work that met a 401 marks the connection instead of failing item by
item.

`unreachable` (timeouts, 5xx, 429) is recorded but is not "broken": the network could not say,
work keeps its own retries, and nobody is notified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import NotificationEvent
from accounts.services.audit import audit_log_write
from accounts.services.notifications import notification_raise
from core.locking import row_lock
from platforms.kinds import common
from platforms.models import BROKEN_HEALTH, ConnectionHealth, PlatformConnection

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 500

RestoredHook = Callable[[PlatformConnection], None]
_restored_hooks: list[RestoredHook] = []


class ConnectionBroken(common.PlatformAuthError):
    """Work stopped: the connection is expired or revoked; `health` says which."""

    reason = "connection_broken"

    def __init__(self, message: str, *, health: str, status: int | None = None):
        super().__init__(message, status=status)
        self.health = health
        self.retry_after = None
        self.ambiguous = False
        self.retry_reason = "connection_broken"
        self.retryable = False
        self.duplicate = False


def connection_restored_hook_add(hook: RestoredHook) -> None:
    """Register what to do when a broken connection works again (an upper app, in ready())."""
    if hook not in _restored_hooks:
        _restored_hooks.append(hook)


def broken_message(connection: PlatformConnection) -> str:
    """One sentence naming the connection, its state and the network's reason."""
    state = ConnectionHealth(connection.health).label.lower()
    reason = f": {connection.health_reason}" if connection.health_reason else ""
    return (
        f"The connection “{connection.name}” is {state}{reason}. Reconnect it (or give a new access "
        f"token); the waiting work then resumes."
    )


def _reconnect_url(connection: PlatformConnection) -> str:
    try:
        return reverse("admin:platforms_platformconnection_change", args=[connection.pk])
    except NoReverseMatch:  # the admin is not mounted (an API-only deployment)
        return ""


def connection_health_set(*, connection: PlatformConnection, health: str, reason: str = "") -> str:
    """Record what a check found; notify the owner when the connection breaks, resume waiting work
    when it works again. Returns the health now stored. The caller's instance is updated too."""
    if health not in ConnectionHealth.values:
        raise ValueError(f"Unknown connection health {health!r}.")
    reason = " ".join((reason or "").split())[:MAX_REASON_CHARS]
    now = timezone.now()
    with transaction.atomic():
        try:
            locked = row_lock(row=connection)
        except PlatformConnection.DoesNotExist:
            return health
        previous = locked.health
        PlatformConnection.objects.filter(pk=locked.pk).update(
            health=health, health_reason=reason, health_checked_at=now
        )
        broke = health in BROKEN_HEALTH and previous not in BROKEN_HEALTH
        restored = health == ConnectionHealth.OK and previous in BROKEN_HEALTH
        if broke or restored:
            audit_log_write(
                action="connection.broke" if broke else "connection.restored",
                actor=None,
                target=locked,
                details={"from": previous, "to": health, "reason": reason},
            )
        if broke:
            locked.health, locked.health_reason = health, reason
            notification_raise(
                user=locked.user,
                event=NotificationEvent.CONNECTION_BROKE,
                key=f"{locked.pk}:{now.isoformat()}",
                title=f"Your connection “{locked.name}” needs reconnecting",
                body=broken_message(locked),
                url=_reconnect_url(locked),
                data={"connection_id": locked.pk, "health": health},
            )
    connection.health, connection.health_reason, connection.health_checked_at = health, reason, now
    if broke:
        logger.warning("Connection %s is %s: %s", connection.pk, health, reason)
    if restored:
        logger.info("Connection %s works again; resuming its waiting work", connection.pk)
        for hook in list(_restored_hooks):
            try:
                hook(connection)
            except Exception:  # one app's failure must not keep the others' work waiting
                logger.exception("Resuming work for connection %s failed in %r", connection.pk, hook)
    return health


def connection_health_from_error(exc: BaseException) -> tuple[str, str] | None:
    """(health, reason) for a failure that says something about the connection itself; None for one
    that does not (a post refused for its content, say)."""
    if isinstance(exc, ConnectionBroken):
        return exc.health, str(exc)
    if isinstance(exc, common.PlatformAuthError):
        why = getattr(exc, "retry_reason", None)
        if why == "revoked":
            return ConnectionHealth.REVOKED, str(exc)
        if exc.status == 401 or why in ("expired", "invalid_token"):
            return ConnectionHealth.EXPIRED, str(exc)
        return None
    if isinstance(exc, common.PlatformUnavailableError):
        return ConnectionHealth.UNREACHABLE, str(exc)
    return None


def connection_health_note_error(*, connection: PlatformConnection, exc: BaseException) -> str | None:
    """Record what a failure met during work says about the connection; returns the health set,
    or None when the failure was not about the connection. Unreachable is not recorded here: one
    timeout during work is the work's own retry business, not a verdict."""
    found = connection_health_from_error(exc)
    if found is None or found[0] == ConnectionHealth.UNREACHABLE:
        return None
    return connection_health_set(connection=connection, health=found[0], reason=found[1])


def connection_ready(*, connection: PlatformConnection, timeout: float | None = None) -> None:
    """The gate before work on a connection: raises ConnectionBroken when it is expired or revoked;
    refreshes an OAuth 2.0 access token that expires within OAUTH2_REFRESH_MARGIN first."""
    if connection.is_broken:
        raise ConnectionBroken(broken_message(connection), health=connection.health)
    from platforms.oauth2 import connection_token_due, connection_token_refresh

    if connection_token_due(connection=connection):
        connection_token_refresh(connection=connection, timeout=timeout)


def connection_health_check(*, connection: PlatformConnection, timeout: float | None = None) -> str:
    """Ask the network whether the connection works (its kind's verify, after refreshing a token
    about to expire) and record the answer: ok, expired (401), revoked (the grant is gone) or
    unreachable (timeouts, 5xx, 429). A kind that cannot be asked keeps its state."""
    kind = connection.kind
    timeout = common.DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        from platforms.oauth2 import connection_token_due, connection_token_refresh

        if connection_token_due(connection=connection):
            connection_token_refresh(connection=connection, timeout=timeout)
        if not kind.verifiable:
            return connection.health
        kind.verify(connection, timeout=timeout)
    except ConnectionBroken as exc:
        return exc.health  # the refresh recorded it
    except common.PlatformError as exc:
        found = connection_health_from_error(exc)
        if found is None:  # refused for another reason (a 403 on scopes): the token works
            health, reason = ConnectionHealth.EXPIRED, str(exc)
        else:
            health, reason = found
        logger.info("Health check of connection %s: %s (%s)", connection.pk, health, exc)
        return connection_health_set(connection=connection, health=health, reason=reason)
    return connection_health_set(connection=connection, health=ConnectionHealth.OK, reason="")


def _active_batches(batch: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(
            PlatformConnection.objects.filter(is_active=True, pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def connections_health_check_all(*, timeout: float | None = None) -> dict[str, int]:
    """The daily check: every active connection, in batches by primary key, each request in its
    host's turn (the publishers' shared `core.outbound` throttle). Returns counts by health."""
    counts: dict[str, int] = {}
    for ids in _active_batches(max(1, int(settings.CONNECTION_HEALTH_BATCH))):
        for connection in PlatformConnection.objects.filter(pk__in=ids).select_related("user").order_by("pk"):
            try:
                health = connection_health_check(connection=connection, timeout=timeout)
            except Exception:  # one connection's bug must not stop the others' check
                logger.exception("Health check of connection %s failed", connection.pk)
                health = "error"
            counts[health] = counts.get(health, 0) + 1
    return counts
