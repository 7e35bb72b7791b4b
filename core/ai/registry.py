"""Which AI backend runs: `settings.AI_BACKEND`, or a name the caller passes.

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
