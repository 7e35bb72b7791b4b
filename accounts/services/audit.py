"""The audit log: one service writes every row, and names the row's resource from the object.

A model's audit resource type is its class name in snake_case (PublishingJob -> "publishing_job")
unless the model declares `audit_resource_type` (and `audit_resource_id_attr` when the id shown is
not the primary key): the stored strings predate this writer and must keep their values. A model
whose rows always carry the same context in their details (a publishing job's workflow and
platform) gives it with an `audit_context()` method.
"""

import re
from typing import Any

from django.db.models import Model

from accounts.models import AuditLog, User
from accounts.request_meta import RequestMeta

_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


def audit_resource_of(target: Model) -> tuple[str, Any]:
    """(resource type, resource id) of an audited object, from its model's declaration or name."""
    resource_type = (
        getattr(target, "audit_resource_type", None) or _WORD_START.sub("_", type(target).__name__).lower()
    )
    return resource_type, getattr(target, getattr(target, "audit_resource_id_attr", "pk"))


def audit_log_write(
    *,
    action: str,
    actor: User | None = None,
    target: Model | None = None,
    meta: RequestMeta | None = None,
    details: dict | None = None,
    resource_type: str | None = None,
    resource_id: Any = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """The one way an AuditLog row is written.

    `target` (the object acted on) gives the resource type and id; `resource_type`/`resource_id`
    are for actions on something that is not a row (a retention run, a failed sign-in's account).
    `meta` (the request's address and user agent) fills `ip_address` and `user_agent` when they are
    not given.
    """
    if target is not None:
        derived_type, resource_id = audit_resource_of(target)
        resource_type = resource_type or derived_type
        context = getattr(target, "audit_context", None)
        if context is not None:
            details = {**context(), **(details or {})}
    if meta is not None:
        ip_address = ip_address or meta.ip_address
        user_agent = user_agent or meta.user_agent or None
    return AuditLog.objects.create(
        user=actor,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        details=details or {},
        ip_address=ip_address,
        user_agent=user_agent,
    )
