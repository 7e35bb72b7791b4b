from typing import Any

from core.models import SystemConfig


def config_get(*, key: str, default: Any = None) -> Any:
    """The typed value of a system setting, or `default` when it is unset."""
    entry = SystemConfig.objects.filter(key=key).first()
    if entry is None or entry.raw_value is None:
        return default
    return entry.typed_value


def config_values(*, keys: list[str]) -> dict[str, Any]:
    """The typed values of those of `keys` that are set, in one query (unset keys are absent)."""
    entries = SystemConfig.objects.filter(key__in=keys)
    return {entry.key: entry.typed_value for entry in entries if entry.raw_value is not None}
