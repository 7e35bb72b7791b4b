"""The audit log: one service writes every row."""

from typing import Any

from accounts.models import AuditLog, User
from accounts.request_meta import RequestMeta


def audit_log_write(
    *,
    action: str,
    user: User | None = None,
    resource_type: str | None = None,
    resource_id: Any = None,
    details: dict | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    meta: RequestMeta | None = None,
) -> AuditLog:
    """The one way an AuditLog row is written. `meta` (the request's address and user agent)
    fills `ip_address` and `user_agent` when they are not given."""
    if meta is not None:
        ip_address = ip_address or meta.ip_address
        user_agent = user_agent or meta.user_agent or None
    return AuditLog.objects.create(
        user=user,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        details=details or {},
        ip_address=ip_address,
        user_agent=user_agent,
    )
