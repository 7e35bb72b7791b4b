"""How drafts are written and scored (issue 5): the engine's only door to AI text work.

`draft_write(brief)` writes one platform draft; `draft_score(...)` scores one draft on the five
CRITERIA. Both use the AI backend chosen in settings (or the one passed):

- `builtin` (offline default): rule-based and honest about it. The writer selects and formats the
  source's own sentences (`builtin_writer`); the scorer applies stated rules (`builtin_scoring`,
  whose docstring lists every rule and weight). Their metadata says `rule_based: True`.
- anything else (the OpenAI-compatible backend): prompts from `workflows.stored_settings` through
  `backend.complete_text` (`llm`), which retries transient failures itself.

Errors are core.ai.base's: AIUnavailable (transient, incl. a malformed evaluation), AIRefused,
AIError (configuration or input, e.g. an unknown platform).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.ai.base import AIBackend, AIError
from workflows.writing.types import (
    CRITERIA,
    DraftEvaluation,
    SourceMaterial,
    WritingBrief,
    WrittenDraft,
    platform_char_limit,
)

__all__ = [
    "CRITERIA",
    "DraftEvaluation",
    "SourceMaterial",
    "WritingBrief",
    "WrittenDraft",
    "draft_score",
    "draft_write",
    "platform_char_limit",
]


def _backend(backend: AIBackend | None) -> AIBackend:
    if backend is not None:
        return backend
    from core.ai.registry import get_backend

    return get_backend()


def _check_platform(platform: str, char_limit: int | None) -> None:
    try:
        platform_char_limit(platform, char_limit=char_limit)
    except ValueError as exc:
        raise AIError(str(exc)) from None
    if char_limit is not None and char_limit < 1:
        raise AIError("A character limit must be positive.")


def draft_write(brief: WritingBrief, *, backend: AIBackend | None = None) -> WrittenDraft:
    """One draft for `brief.platform` (see the module docstring for how)."""
    _check_platform(brief.platform, brief.char_limit)
    if not (brief.source.text or "").strip() and not (brief.source.title or "").strip():
        raise AIError("The source material is empty.")
    chosen = _backend(backend)
    if getattr(chosen, "name", "") == "builtin":
        from workflows.writing.builtin_writer import write_builtin

        return write_builtin(brief)
    from workflows.writing.llm import write_llm

    return write_llm(brief, backend=chosen)


def draft_score(
    *,
    platform: str,
    content: str,
    style_samples: Sequence[str] = (),
    char_limit: int | None = None,
    options: dict | None = None,
    backend: AIBackend | None = None,
    config=None,
) -> DraftEvaluation:
    """Score `content` for `platform`: overall 0-100, feedback, the five criteria, evaluator label.
    `config`: the workflow settings already read for this step (an LLM scorer reads them else)."""
    _check_platform(platform, char_limit)
    chosen = _backend(backend)
    if getattr(chosen, "name", "") == "builtin":
        from workflows.writing.builtin_scoring import score_builtin

        return score_builtin(
            platform=platform,
            content=content,
            style_samples=style_samples,
            char_limit=char_limit,
            options=options,
        )
    from workflows.writing.llm import score_llm

    return score_llm(
        platform=platform,
        content=content,
        style_samples=tuple(style_samples),
        char_limit=char_limit,
        options=options or {},
        backend=chosen,
        config=config,
    )
