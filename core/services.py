import json

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.errors import Conflict
from core.locking import row_lock
from core.logging import SENSITIVE_CONFIG
from core.models import ConfigType, SystemConfig, parse_config_value


def _serialise(value, value_type: str) -> str:
    if value_type == ConfigType.JSON:
        return value if isinstance(value, str) else json.dumps(value)
    if value_type == ConfigType.BOOL and isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@transaction.atomic
def config_set(
    *,
    key: str,
    value,
    value_type: str = ConfigType.STRING,
    is_sensitive: bool = False,
    description: str | None = None,
) -> SystemConfig:
    """Create or replace a system setting after checking the value parses as its type.

    Sensitive values are stored only encrypted, in `secret_value`.
    """
    key = (key or "").strip()
    if not key:
        raise ValidationError({"key": "A setting needs a key."})
    if value_type not in ConfigType.values:
        raise ValidationError(
            {"type": f"Unknown type '{value_type}'; use one of {', '.join(ConfigType.values)}."}
        )
    raw = None if value is None else _serialise(value, value_type)
    try:
        parse_config_value(raw, value_type)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"value": f"Not a valid {value_type}: {exc}"}) from None

    entry = SystemConfig.objects.select_for_update().filter(key=key).first() or SystemConfig(key=key)
    entry.type = value_type
    entry.is_sensitive = is_sensitive
    entry.value = None if is_sensitive else raw
    entry.secret_value = raw if is_sensitive else None
    if description is not None:
        entry.description = description
    entry.save()
    if is_sensitive:
        # Masked in this process's log lines from now on (others read it within a minute).
        SENSITIVE_CONFIG.add(raw)
    return entry


def config_set_default(
    *, key: str, value, value_type: str = ConfigType.STRING, description: str = ""
) -> bool:
    """Create a setting only if it does not exist yet (bootstrap and data migrations). True if created."""
    if SystemConfig.objects.filter(key=key).exists():
        return False
    config_set(key=key, value=value, value_type=value_type, description=description)
    return True


# The API's audited writes (accounts.api.system_config). config_set above stays the plain primitive
# that bootstrap, data migrations and the admin use.

KEEP = object()  # config_update(value=KEEP): leave the stored value as it is
AUDITED_VALUE_CHARS = 1000


def _config_audit(*, entry: SystemConfig, operation: str, changed: list[str], actor, meta) -> None:
    from core.audit import audit_log_write

    details = {
        "key": entry.key,
        "operation": operation,
        "type": entry.type,
        "is_sensitive": entry.is_sensitive,
        "changed": changed,
    }
    if not entry.is_sensitive and operation != "deleted" and entry.value is not None:
        details["value"] = entry.value[:AUDITED_VALUE_CHARS]  # a sensitive value is never recorded
    audit_log_write(
        action="config.changed",
        actor=actor,
        target=entry,
        details=details,
        ip_address=getattr(meta, "ip_address", None),
        user_agent=getattr(meta, "user_agent", None) or None,
    )


def _conflict():
    return Conflict("The setting was changed by another request at the same time; reload and try again.")


def config_create(
    *,
    key: str,
    value,
    value_type: str = ConfigType.STRING,
    is_sensitive: bool = False,
    description: str | None = None,
    actor=None,
    meta=None,
) -> SystemConfig:
    """Add a new setting (a key that exists is a ValidationError on `key`), audited."""
    if SystemConfig.objects.filter(key=(key or "").strip()).exists():
        raise ValidationError({"key": "A setting with this key exists; change it instead."})
    try:
        with transaction.atomic():
            entry = config_set(
                key=key,
                value=value,
                value_type=value_type,
                is_sensitive=is_sensitive,
                description=description,
            )
            _config_audit(entry=entry, operation="created", changed=[], actor=actor, meta=meta)
    except IntegrityError:
        raise _conflict() from None
    return entry


def config_update(
    *,
    entry: SystemConfig,
    value=KEEP,
    value_type: str | None = None,
    is_sensitive: bool | None = None,
    description: str | None = None,
    actor=None,
    meta=None,
) -> SystemConfig:
    """Change a setting's value, type, sensitivity or description; what is not given is kept.

    A sensitive value is never turned into a plain one: making a setting non-sensitive needs a new value.
    """
    new_type = value_type or entry.type
    new_sensitive = entry.is_sensitive if is_sensitive is None else is_sensitive
    if value is KEEP:
        if entry.is_sensitive and not new_sensitive:
            message = "Give a new value when a setting stops being sensitive: a secret never becomes plain."
            raise ValidationError({"value": message})
        value = entry.raw_value
        try:
            parse_config_value(value, new_type)
        except (ValueError, TypeError):
            raise ValidationError(
                {"type": f"The current value is not a valid {new_type}; send a new value with the type."}
            ) from None
    with transaction.atomic():
        current = row_lock(row=entry)
        before = (current.raw_value, current.type, current.is_sensitive, current.description)
        updated = config_set(
            key=current.key,
            value=value,
            value_type=new_type,
            is_sensitive=new_sensitive,
            description=description,
        )
        after = (updated.raw_value, updated.type, updated.is_sensitive, updated.description)
        names = ("value", "type", "is_sensitive", "description")
        changed = [name for name, old, new in zip(names, before, after, strict=True) if old != new]
        if changed:
            _config_audit(entry=updated, operation="updated", changed=changed, actor=actor, meta=meta)
    return updated


@transaction.atomic
def config_delete(*, entry: SystemConfig, actor=None, meta=None) -> None:
    _config_audit(entry=entry, operation="deleted", changed=[], actor=actor, meta=meta)
    SystemConfig.objects.filter(pk=entry.pk).delete()
