"""Put a mutated source into the live, already imported module (in a forked child).

The mutated source is executed into a fresh namespace, then the live module takes what differs:
a function keeps its identity and gets the mutated `__code__`, `__defaults__` and `__kwdefaults__`
(so every `from module import f` elsewhere, every bound method and every wrapper such as
`lru_cache` sees the mutant); a class defined in the module gets the same treatment for its
methods and properties and takes its changed attributes (a dataclass default, say); any other
module-level value that differs is set on the module, and on every project module that imported
it under the same name. Caches of `lru_cache` functions in the module are cleared.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import sys
import types
from pathlib import Path

_SKIP_CLASS_ATTRS = frozenset(
    {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__annotations__"}
)
_ALWAYS_SET_CLASS_ATTRS = frozenset({"__dataclass_fields__", "__dataclass_params__"})


class NotApplied(Exception):
    """The mutant changed nothing the live module holds."""


def _unwrap(fn):
    while not isinstance(fn, types.FunctionType) and hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    while isinstance(fn, types.FunctionType) and hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def _has_own_eq(value) -> bool:
    return type(value).__eq__ is not object.__eq__


def _same(old, new) -> bool:
    if old is new:
        return True
    if isinstance(old, types.FunctionType | type) and isinstance(new, types.FunctionType | type):
        # A function or class of the fresh namespace stands for the live one of the same name.
        return old.__qualname__ == new.__qualname__ and old.__module__ == new.__module__
    if type(old) is not type(new):
        return False
    if isinstance(old, tuple | list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    if isinstance(old, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    try:
        return bool(old == new)
    except Exception:  # a value that cannot be compared counts as changed
        return False


def _merge_defaults(old, new):
    """New defaults, keeping the live objects where the fresh ones only stand for them."""
    if old is None or new is None or len(old) != len(new):
        return new
    return tuple(o if _same(o, n) else n for o, n in zip(old, new, strict=True))


def _closure_for(code: types.CodeType, old: types.FunctionType):
    cells = dict(zip(old.__code__.co_freevars, old.__closure__ or (), strict=True))
    return tuple(cells[name] for name in code.co_freevars) if code.co_freevars else None


class Patcher:
    def __init__(self, module: types.ModuleType, project_root: Path):
        self.module = module
        self.project_root = str(project_root.resolve())
        self.changes: list[str] = []

    def apply(self, source: str) -> dict:
        module = self.module
        code = compile(source, module.__file__, "exec", dont_inherit=True)
        namespace = {
            "__name__": module.__name__,
            "__file__": module.__file__,
            "__package__": module.__package__,
            "__spec__": module.__spec__,
            "__loader__": getattr(module, "__loader__", None),
            "__builtins__": builtins.__dict__,
        }
        exec(code, namespace)  # noqa: S102 -- the mutated copy of our own module
        live = module.__dict__
        for name, new in namespace.items():
            if name.startswith("__") and name.endswith("__"):
                continue
            if name not in live:
                setattr(module, name, new)
                self.changes.append(name)
                continue
            self._patch_attr(module, name, live[name], new, name)
        for value in list(live.values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == module.__name__:
                clear()
        return namespace

    def _patch_attr(self, owner, name: str, old, new, label: str) -> None:
        if old is new:
            return
        if (
            isinstance(old, type)
            and isinstance(new, type)
            and old.__module__ == self.module.__name__
            and old.__qualname__ == new.__qualname__
        ):
            self._patch_class(old, new, label)
            return
        if isinstance(_unwrap(old), types.FunctionType) and isinstance(_unwrap(new), types.FunctionType):
            self._patch_function(owner, name, old, new, label)
            return
        if isinstance(old, staticmethod | classmethod) and type(old) is type(new):
            self._patch_function(None, name, old.__func__, new.__func__, label)
            return
        if isinstance(old, property) and isinstance(new, property):
            for part in ("fget", "fset", "fdel"):
                o, n = getattr(old, part), getattr(new, part)
                if o is not None and n is not None:
                    self._patch_function(None, name, o, n, f"{label}.{part}")
                elif o is not n:
                    setattr(owner, name, new)
                    self.changes.append(label)
                    return
            return
        if isinstance(old, functools.partial | functools.cached_property):
            if not _same(getattr(old, "func", None), getattr(new, "func", None)):
                setattr(owner, name, new)
                self.changes.append(label)
            return
        if _same(old, new):
            return
        if not _has_own_eq(old) and type(old) is type(new):
            # Two instances of a type without equality (a namedtuple's field getter, a TypeVar):
            # take the new one, but it is no change of the mutant's.
            self._set(owner, name, old, new)
            return
        self._set(owner, name, old, new)
        self.changes.append(label)

    def _set(self, owner, name: str, old, new) -> None:
        try:
            setattr(owner, name, new)
        except (AttributeError, TypeError):
            return
        if owner is self.module:
            for other in list(sys.modules.values()):
                if other is self.module or not self._in_project(other):
                    continue
                if getattr(other, name, None) is old:
                    setattr(other, name, new)

    def _in_project(self, module) -> bool:
        path = getattr(module, "__file__", None) or ""
        return path.startswith(self.project_root) and "/.venv/" not in path

    def _patch_function(self, owner, name: str, old, new, label: str) -> None:
        o, n = _unwrap(old), _unwrap(new)
        changed = False
        if o.__code__ != n.__code__:
            try:
                o.__code__ = n.__code__
            except ValueError:
                # The free variables changed (a removed `super()` call drops `__class__`): a new
                # function on the old globals and cells, put where the old one was.
                replacement = types.FunctionType(
                    n.__code__, o.__globals__, o.__name__, n.__defaults__, _closure_for(n.__code__, o)
                )
                replacement.__kwdefaults__ = n.__kwdefaults__
                replacement.__qualname__ = o.__qualname__
                if owner is None or o is not old:
                    raise
                self._set(owner, name, old, replacement)
                self.changes.append(label)
                return
            changed = True
        if not _same(o.__defaults__, n.__defaults__):
            o.__defaults__ = _merge_defaults(o.__defaults__, n.__defaults__)
            changed = True
        if not _same(o.__kwdefaults__, n.__kwdefaults__):
            merged = dict(n.__kwdefaults__ or {})
            for key, value in (o.__kwdefaults__ or {}).items():
                if key in merged and _same(value, merged[key]):
                    merged[key] = value
            o.__kwdefaults__ = merged or None
            changed = True
        if changed:
            self.changes.append(label)

    def _patch_class(self, old: type, new: type, label: str) -> None:
        live = vars(old)
        for attr, value in vars(new).items():
            if attr in _SKIP_CLASS_ATTRS:
                continue
            if attr in _ALWAYS_SET_CLASS_ATTRS:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(old, attr, value)
                continue
            if attr not in live:
                setattr(old, attr, value)
                self.changes.append(f"{label}.{attr}")
                continue
            self._patch_attr(old, attr, live[attr], value, f"{label}.{attr}")
