"""Where a workflow's attachments may come from besides an upload: named sources that apps above
the kernel register (generation registers `generated` and `persona` in its AppConfig.ready()), so
that workflows can take a generated image without importing the generation app (the layers keep
workflows, generation and scraping independent; see pyproject's import-linter contracts).

A source is `fetch(*, user, ref) -> SourcedMedia`; it answers only with media `user` owns and
raises LookupError (with a sentence for the person) for anything else, existing or not. A source
may also register a lister, `choices(*, user, limit) -> [(ref, label)]`: the newest of `user`'s own
media, for the admin's "Add media" form to offer as a select.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class SourcedMedia:
    data: bytes = field(repr=False)
    filename: str
    label: str  # how the person knows it ("Generated image 12", "Ada Lovelace, image 2")


MediaSource = Callable[..., SourcedMedia]
MediaSourceLister = Callable[..., list[tuple[str, str]]]
_sources: dict[str, MediaSource] = {}
_listers: dict[str, MediaSourceLister] = {}


def media_source_register(name: str, fetch: MediaSource) -> None:
    _sources[name] = fetch


def media_source_names() -> tuple[str, ...]:
    return tuple(sorted(_sources))


def media_source_fetch(*, name: str, user, ref: str) -> SourcedMedia:
    """The media `ref` of source `name` if `user` owns it; LookupError otherwise."""
    fetch = _sources.get(name)
    if fetch is None:
        raise LookupError(f"Unknown media source {name!r}; use one of: {', '.join(media_source_names())}.")
    return fetch(user=user, ref=ref)


def media_source_choices_register(name: str, choices: MediaSourceLister) -> None:
    _listers[name] = choices


def media_source_choices(*, name: str, user, limit: int = 20) -> list[tuple[str, str]]:
    """The newest `limit` of `user`'s own media from source `name`, as (ref, label); none when the
    source lists nothing (or is not installed)."""
    choices = _listers.get(name)
    if choices is None:
        return []
    return list(choices(user=user, limit=limit))
