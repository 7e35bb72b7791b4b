from typing import Any

from core.models import SystemConfig


def config_get(*, key: str, default: Any = None) -> Any:
    """The typed value of a system setting, or `default` when it is unset."""
    entry = SystemConfig.objects.filter(key=key).first()
    if entry is None or entry.raw_value is None:
        return default
    return entry.typed_value
