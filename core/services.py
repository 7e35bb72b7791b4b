import json

from django.core.exceptions import ValidationError
from django.db import transaction

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
    return entry


def config_set_default(
    *, key: str, value, value_type: str = ConfigType.STRING, description: str = ""
) -> bool:
    """Create a setting only if it does not exist yet (bootstrap and data migrations). True if created."""
    if SystemConfig.objects.filter(key=key).exists():
        return False
    config_set(key=key, value=value, value_type=value_type, description=description)
    return True
