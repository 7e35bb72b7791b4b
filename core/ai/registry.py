"""Which AI backend runs: `settings.AI_BACKEND`, or a name the caller passes; for a person's work,
`backend_for(user=...)`, which honours their "builtin only" preference (`User.ai_builtin_only`).

A fresh backend is built on each call, so a changed `ai_api_key` system setting or test settings
take effect at once; a caller that makes many calls (a caption task) keeps the instance it got.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.ai.base import AIBackend


def _builtin() -> AIBackend:
    from core.ai.builtin import BuiltinBackend

    return BuiltinBackend()


def _openai() -> AIBackend:
    from core.ai.openai_backend import OpenAIBackend

    return OpenAIBackend()


BACKENDS: dict[str, Callable[[], AIBackend]] = {"builtin": _builtin, "openai": _openai}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def get_backend(name: str | None = None) -> AIBackend:
    """The backend called `name` (default `settings.AI_BACKEND`); ImproperlyConfigured if unknown."""
    chosen = (name if name is not None else getattr(settings, "AI_BACKEND", "builtin")) or ""
    factory = BACKENDS.get(chosen.strip().lower())
    if factory is None:
        raise ImproperlyConfigured(
            f"Unknown AI backend {chosen!r} (setting AI_BACKEND); valid names are "
            f"{', '.join(backend_names())}."
        )
    return factory()


BUILTIN = "builtin"


def site_backend_name() -> str:
    """The backend the site is configured for (`settings.AI_BACKEND`), normalised."""
    return ((getattr(settings, "AI_BACKEND", BUILTIN) or "").strip().lower()) or BUILTIN


def builtin_only(user) -> bool:
    """Whether `user` asked that nothing of their work leaves the machine (`User.ai_builtin_only`).
    Read off the object: the kernel imports no app."""
    return bool(getattr(user, "ai_builtin_only", False))


def backend_name_for(*, user) -> str:
    """The name of the backend that runs for `user`'s work (None: work of no one, the site's)."""
    return BUILTIN if builtin_only(user) else site_backend_name()


def backend_for(*, user) -> AIBackend:
    """The text and vision backend for work done for `user`: the builtin one when they chose
    builtin only, the site's otherwise. Every AI call made for a person's work gets its backend here."""
    return get_backend(backend_name_for(user=user))
