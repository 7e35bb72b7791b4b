"""What each app declares in a module of its own: `<app>/schedules.py`, `<app>/retention.py`,
`<app>/archive.py`, `<app>/reapers.py`. One lookup for every registry, so the kernel finds what
the apps declare without importing any of them by name."""

import importlib

from django.apps import apps


def app_declarations(*, module: str, attribute: str) -> list:
    """`<app>.<module>.<attribute>` of every installed app that has the module, in app order."""
    found: list = []
    for config in apps.get_app_configs():
        module_name = f"{config.name}.{module}"
        try:
            imported = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but an import inside it failed
                raise
            continue
        found.extend(getattr(imported, attribute, []))
    return found


def refuse_duplicate_names(items: list, *, kind: str) -> list:
    """The items, unless two share a `name` (RuntimeError naming them)."""
    names = [item.name for item in items]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise RuntimeError(f"{kind} declared twice: {', '.join(sorted(duplicates))}")
    return items
