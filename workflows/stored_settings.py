"""Workflow settings: thresholds, models and prompts, from `SystemConfig` with defaults.

Operators change these without a deploy (admin or the system-config API). A stored value that is
missing, of the wrong type or out of range falls back to its default with a logged warning: a typo
in a setting must not stop every workflow. The default prompts are module constants below; a
stored prompt replaces the default whole.

Keys: workflow_score_threshold (0-100, default 70), workflow_max_iterations (1-10, default 3),
workflow_generation_model and workflow_evaluation_model (default settings.AI_TEXT_MODEL),
workflow_generation_prompt, workflow_evaluation_prompt (system prompts; `{platform_rules}` is
filled in per platform), workflow_step_max_attempts (1-10, default 3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

DEFAULT_SCORE_THRESHOLD = 70
DEFAULT_MAX_ITERATIONS = 3
DEFAULT_STEP_MAX_ATTEMPTS = 3

DEFAULT_GENERATION_PROMPT = (
    "You repurpose source material into a post for one platform. Write in the user's own voice "
    "(match the style samples when given), keep every fact from the source and add none, and "
    "follow the platform rules exactly:\n{platform_rules}\n"
    "When earlier drafts and feedback are given, write a new draft that fixes every point of the "
    "feedback. Reply with the post text only: no preamble, no explanation, no surrounding quotes."
)

DEFAULT_EVALUATION_PROMPT = (
    "You are a strict editor scoring a draft post for one platform. Platform rules:\n"
    "{platform_rules}\n"
    "Score each criterion from 0 to 100: platform_appropriateness (limits, format, hashtags), "
    "style_consistency (match with the user's style samples), clarity, engagement, grammar. "
    "Reply with JSON only, exactly this shape: "
    '{{"score": <0-100 overall>, "feedback": "<concrete changes that would raise the score, one '
    'per line>", "criteria_scores": {{"platform_appropriateness": <0-100>, "style_consistency": '
    '<0-100>, "clarity": <0-100>, "engagement": <0-100>, "grammar": <0-100>}}}}'
)


@dataclass(frozen=True)
class WorkflowSettings:
    score_threshold: int
    max_iterations: int
    generation_model: str
    evaluation_model: str
    generation_prompt: str
    evaluation_prompt: str
    step_max_attempts: int


def _int_setting(stored: dict[str, Any], key: str, default: int, *, low: int, high: int) -> int:
    value = _stored(stored, key)
    if value is None:
        return default
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        logger.warning("System setting %s=%r is not a whole number; using %s.", key, value, default)
        return default
    if not low <= number <= high:
        logger.warning("System setting %s=%s is outside %s-%s; using %s.", key, number, low, high, default)
        return default
    return number


def _text_setting(stored: dict[str, Any], key: str, default: str) -> str:
    value = _stored(stored, key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        logger.warning("System setting %s is not a non-empty text; using the default.", key)
        return default
    return value.strip()


def _prompt_setting(stored: dict[str, Any], key: str, default: str) -> str:
    prompt = _text_setting(stored, key, default)
    try:  # a prompt with stray braces would fail later, in the middle of a workflow
        prompt.format(platform_rules="")
    except (IndexError, KeyError, ValueError):
        logger.warning(
            "System setting %s is not a valid prompt template (only {platform_rules} may appear in "
            "braces; double other braces); using the default.",
            key,
        )
        return default
    return prompt


def _rows(keys: tuple[str, ...]) -> dict[str, Any]:
    """The stored SystemConfig rows of `keys`, by key, in one query (missing keys are absent).

    One query rather than `config_get` per key: every engine step reads these settings twice (the
    engine, then the writer or scorer), and seven round trips each time were a third of a step's
    queries."""
    from core.models import SystemConfig

    return {row.key: row for row in SystemConfig.objects.filter(key__in=keys)}


def _stored(stored: dict[str, Any], key: str) -> Any:
    """The typed value of `key` as `core.selectors.config_get` reads it; None when unset or unreadable."""
    row = stored.get(key)
    if row is None:
        return None
    try:
        return row.typed_value
    except (ValueError, TypeError) as exc:  # stored text that does not parse as its declared type
        logger.warning("System setting %s cannot be read (%s); using the default.", key, exc)
        return None


KEYS = (
    "workflow_score_threshold",
    "workflow_max_iterations",
    "workflow_generation_model",
    "workflow_evaluation_model",
    "workflow_generation_prompt",
    "workflow_evaluation_prompt",
    "workflow_step_max_attempts",
)


def workflow_settings() -> WorkflowSettings:
    """The current settings; read on each call (one query) so changes apply to the next step."""
    text_model = getattr(settings, "AI_TEXT_MODEL", "") or ""
    stored = _rows(KEYS)
    return WorkflowSettings(
        score_threshold=_int_setting(
            stored, "workflow_score_threshold", DEFAULT_SCORE_THRESHOLD, low=0, high=100
        ),
        max_iterations=_int_setting(
            stored, "workflow_max_iterations", DEFAULT_MAX_ITERATIONS, low=1, high=10
        ),
        generation_model=_text_setting(stored, "workflow_generation_model", text_model),
        evaluation_model=_text_setting(stored, "workflow_evaluation_model", text_model),
        generation_prompt=_prompt_setting(stored, "workflow_generation_prompt", DEFAULT_GENERATION_PROMPT),
        evaluation_prompt=_prompt_setting(stored, "workflow_evaluation_prompt", DEFAULT_EVALUATION_PROMPT),
        step_max_attempts=_int_setting(
            stored, "workflow_step_max_attempts", DEFAULT_STEP_MAX_ATTEMPTS, low=1, high=10
        ),
    )
