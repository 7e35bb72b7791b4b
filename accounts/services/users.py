"""Writes on users: roles (and the groups and admin access that follow them), profile, password,
deactivation."""

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AltTextGate, Role, User, UserSession
from accounts.request_meta import request_meta
from accounts.services.audit import audit_log_write
from accounts.services.sessions import session_revoke_all
from accounts.time_zones import time_zone_validate

PROFILE_FIELDS = ("email", "full_name", "avatar_url", "time_zone", "alt_text_gate", "ai_builtin_only")


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None = None) -> User:
    """Give a user a role: the matching group only, and admin access (every role works in the
    admin, each seeing what docs/roles.md says; `is_staff` is Django's "may sign in to the admin")."""
    if role not in Role.values:
        raise ValueError(f"Unknown role '{role}'; use one of {', '.join(Role.values)}.")
    previous = user.role
    user.role = role
    user.is_staff = True
    user.save(update_fields=["role", "is_staff", "updated_at"])
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups.exclude(name=role))
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    if previous != role or actor is not None:
        audit_log_write(
            action="user.role_changed",
            actor=actor,
            target=user,
            details={"from": previous, "to": role},
        )
    return user


def user_update_profile(*, user: User, data: dict, request=None) -> User:
    """Change a user's own profile: email (unique, case-insensitively), full name, avatar URL,
    time zone (an IANA name, or blank for the site's), what an image's alt text needs before the
    person's drafts are published (`AltTextGate`: approved by a person, or only not empty), and
    whether every AI call for their work runs on the builtin backends (`ai_builtin_only`)."""
    changes = {name: data[name] for name in PROFILE_FIELDS if name in data}
    if "ai_builtin_only" in changes and not isinstance(changes["ai_builtin_only"], bool):
        raise ValidationError({"ai_builtin_only": ["Must be true or false."]})
    if "alt_text_gate" in changes and changes["alt_text_gate"] not in AltTextGate.values:
        raise ValidationError({"alt_text_gate": [f"Choose one of: {', '.join(AltTextGate.values)}."]})
    if "time_zone" in changes:
        changes["time_zone"] = (changes["time_zone"] or "").strip()
        try:
            time_zone_validate(changes["time_zone"])
        except ValidationError as exc:
            raise ValidationError({"time_zone": exc.messages}) from None
    if "email" in changes:
        email = (changes["email"] or "").strip().lower()
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise ValidationError({"email": ["Another account already uses this email address."]})
        changes["email"] = email
    changed = [name for name, value in changes.items() if getattr(user, name) != value]
    if not changed:
        return user
    for name in changed:
        setattr(user, name, changes[name])
    try:
        with transaction.atomic():
            user.save(update_fields=[*changed, "updated_at"])
            meta = request_meta(request)
            audit_log_write(
                action="user.profile_updated",
                actor=user,
                target=user,
                details={"fields": sorted(changed)},
                meta=meta,
            )
    except IntegrityError:
        # A concurrent request took the email between the check and the write.
        user.refresh_from_db()
        raise ValidationError({"email": ["Another account already uses this email address."]}) from None
    return user


@transaction.atomic
def user_change_password(
    *,
    user: User,
    current_password: str,
    new_password: str,
    keep_session: UserSession | None = None,
    request=None,
) -> int:
    """Change one's own password; every other session ends. Returns how many sessions were revoked."""
    if not user.check_password(current_password):
        raise ValidationError({"current_password": ["The current password is not correct."]})
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    revoked = session_revoke_all(
        user=user, actor=user, except_session=keep_session, request=request, reason="password_changed"
    )
    meta = request_meta(request)
    audit_log_write(
        action="auth.password_changed",
        actor=user,
        target=user,
        details={"sessions_revoked": revoked},
        meta=meta,
    )
    return revoked


@transaction.atomic
def user_deactivate(*, user: User, actor: User | None, request=None) -> int:
    """Deactivate an account and end all its sessions. Returns how many sessions were revoked."""
    was_active = user.is_active
    if was_active:
        user.is_active = False
        user.updated_at = timezone.now()
        User.objects.filter(pk=user.pk).update(is_active=False, updated_at=user.updated_at)
    revoked = session_revoke_all(user=user, actor=actor, request=request, reason="deactivated")
    if was_active:
        meta = request_meta(request)
        audit_log_write(
            action="user.deactivated",
            actor=actor,
            target=user,
            details={"sessions_revoked": revoked},
            meta=meta,
        )
    return revoked
