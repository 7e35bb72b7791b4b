"""Writes on users: roles (and the groups and admin access that follow them)."""

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import Role, User
from accounts.roles import STAFF_ROLES
from accounts.services.audit import audit_log_write


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
