"""The contract types of `workflows.writing` and the platform rules both writers and scorers use."""

from __future__ import annotations

from dataclasses import dataclass, field

from platforms.kinds.registry import writing_rules

CRITERIA = ("platform_appropriateness", "style_consistency", "clarity", "engagement", "grammar")

LENGTHS = ("short", "medium", "long")


@dataclass(frozen=True, kw_only=True)
class SourceMaterial:
    text: str
    title: str = ""
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class WritingBrief:
    platform: str  # workflows.models.Platform value
    source: SourceMaterial
    # manual_options: tone, length (short|medium|long), hashtags (bool|list[str]), call_to_action, audience
    options: dict = field(default_factory=dict)
    style_samples: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    previous_drafts: tuple[str, ...] = ()  # earlier drafts of this platform, oldest first
    feedback: str | None = None  # the evaluator's or reviewer's feedback for this regeneration
    char_limit: int | None = None  # Mastodon instance limit; None = platform default


@dataclass(frozen=True, kw_only=True)
class WrittenDraft:
    content: str
    model: str
    backend: str
    metadata: dict


@dataclass(frozen=True, kw_only=True)
class DraftEvaluation:
    score: int
    feedback: str
    criteria_scores: dict[str, int]
    evaluator: str
    metadata: dict


def platform_char_limit(platform: str, *, char_limit: int | None = None) -> int | None:
    """The platform's character limit; None where posts are measured in words (the blog).

    `char_limit` is an instance's own limit and applies only where instances set one (Mastodon; X
    and LinkedIn have one limit for everybody). ValueError for an unknown platform.
    """
    return writing_rules(platform).char_limit(char_limit)
