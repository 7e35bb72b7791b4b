"""The audit writer as the kernel sees it: a hook, because the AuditLog model is accounts'.

The kernel's own audited actions (system config changes, cleanup, archive, key rotation) call
`audit_log_write` here; accounts registers its one writer (accounts.services.audit) in its
AppConfig.ready(), so core imports no app and every audit row still goes through that writer.
"""

from collections.abc import Callable
from typing import Any

AuditWriter = Callable[..., Any]

_writer: AuditWriter | None = None


def audit_writer_set(writer: AuditWriter | None) -> None:
    """Register the function every kernel audit row is written with (accounts does, at start-up)."""
    global _writer
    _writer = writer


def audit_log_write(
    *,
    action: str,
    actor=None,
    target=None,
    details: dict | None = None,
    resource_type: str | None = None,
    resource_id: Any = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> Any:
    """Write one audit row through the registered writer, which names the resource from `target`
    (see accounts.services.audit). Without a writer (accounts not installed) this is an error, not
    a silent skip: an audited action must not go unrecorded."""
    if _writer is None:
        raise RuntimeError("No audit writer registered; accounts registers one in its AppConfig.ready().")
    return _writer(
        action=action,
        actor=actor,
        target=target,
        details=details,
        resource_type=resource_type,
        resource_id=resource_id,
        ip_address=ip_address,
        user_agent=user_agent,
    )
