"""API keys: long-lived credentials for integrations, limited to their scopes.

The key is random (accounts.tokens.new_api_key), returned once by `api_key_create`, and stored
only as `hash_secret(key)` plus a short prefix to tell keys apart. Revoking keeps the row,
inactive, for the record. Both are audited, without the key.
"""

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Role, User
from accounts.permissions import API_SCOPES, has_any_role
from accounts.request_meta import request_meta
from accounts.services.audit import audit_log_write
from accounts.tokens import api_key_prefix, hash_secret, new_api_key

KEY_NAME_MAX_CHARS = 100

# Areas a role must hold to grant a scope on them to a key; other areas need any role but viewer.
SCOPE_ROLES = {
    "config:read": (Role.ADMIN,),
    "config:write": (Role.ADMIN,),
    "audit:read": (Role.ADMIN, Role.MODERATOR),
    "audit:write": (Role.ADMIN,),
}


def api_key_allowed_scopes(*, user: User) -> tuple[str, ...]:
    """The scopes `user` may put on a key of their own."""
    if not has_any_role(user, Role.ADMIN, Role.MODERATOR, Role.REVIEWER, Role.USER):
        return ()
    return tuple(scope for scope in API_SCOPES if has_any_role(user, *SCOPE_ROLES.get(scope, Role.values)))


def _clean_permissions(*, user: User, permissions) -> list[str]:
    if not isinstance(permissions, list | tuple) or not permissions:
        raise ValidationError({"permissions": "Give at least one scope, e.g. ['captions:read']."})
    unknown = [scope for scope in permissions if scope not in API_SCOPES]
    if unknown:
        names = ", ".join(map(str, unknown))
        raise ValidationError({"permissions": f"Unknown scope(s): {names}. Known: {', '.join(API_SCOPES)}."})
    allowed = api_key_allowed_scopes(user=user)
    refused = [scope for scope in permissions if scope not in allowed]
    if refused:
        raise ValidationError({"permissions": f"Your role cannot grant: {', '.join(refused)}."})
    return list(dict.fromkeys(permissions))  # without duplicates, in the order given


@transaction.atomic
def api_key_create(
    *,
    user: User,
    key_name: str,
    permissions: list[str],
    expires_at: datetime | None = None,
    actor: User | None,
    request=None,
) -> tuple[str, ApiKey]:
    """Create a key for `user`; return (plain key, ApiKey). The plain key is never stored: show it once."""
    if user.role == Role.VIEWER and not user.is_superuser:
        raise PermissionDenied("Viewers cannot create API keys.")
    key_name = (key_name or "").strip()
    if not key_name or len(key_name) > KEY_NAME_MAX_CHARS:
        raise ValidationError({"key_name": f"Give a name of 1 to {KEY_NAME_MAX_CHARS} characters."})
    scopes = _clean_permissions(user=user, permissions=permissions)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Must be in the future."})

    key = new_api_key()
    api_key = ApiKey.objects.create(
        user=user,
        key_name=key_name,
        key_prefix=api_key_prefix(key),
        key_hash=hash_secret(key),
        permissions=scopes,
        expires_at=expires_at,
    )
    audit_log_write(
        action="api_key.created",
        target=api_key,
        actor=actor,
        meta=request_meta(request),
        details={
            "owner_id": user.pk,
            "key_name": key_name,
            "key_prefix": api_key.key_prefix,
            "permissions": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return key, api_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None, request=None) -> ApiKey:
    """Deactivate a key (the row stays). Revoking a revoked key changes nothing and is not audited again."""
    now = timezone.now()
    changed = ApiKey.objects.filter(pk=api_key.pk, is_active=True).update(is_active=False, updated_at=now)
    api_key.refresh_from_db(fields=["is_active", "updated_at"])
    if changed:
        audit_log_write(
            action="api_key.revoked",
            target=api_key,
            actor=actor,
            meta=request_meta(request),
            details={
                "owner_id": api_key.user_id,
                "key_name": api_key.key_name,
                "key_prefix": api_key.key_prefix,
            },
        )
    return api_key
