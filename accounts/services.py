"""Writes on accounts: roles and the audit log. (Sessions, keys and limits come with the access issue.)"""

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import AuditLog, Role, User
from accounts.roles import STAFF_ROLES


def audit_log_write(
    *,
    action: str,
    user: User | None = None,
    resource_type: str | None = None,
    resource_id: Any = None,
    details: dict | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """The one way an AuditLog row is written."""
    return AuditLog.objects.create(
        user=user,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        details=details or {},
        ip_address=ip_address,
        user_agent=user_agent,
    )


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None = None) -> User:
    """Give a user a role: the matching group only, and admin access for staff roles."""
    if role not in Role.values:
        raise ValueError(f"Unknown role '{role}'; use one of {', '.join(Role.values)}.")
    previous = user.role
    user.role = role
    user.is_staff = role in STAFF_ROLES or user.is_superuser
    user.save(update_fields=["role", "is_staff", "updated_at"])
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups.exclude(name=role))
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    if previous != role or actor is not None:
        audit_log_write(
            action="user.role_changed",
            user=actor,
            resource_type="user",
            resource_id=user.pk,
            details={"from": previous, "to": role},
        )
    return user
