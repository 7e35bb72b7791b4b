"""The contract types of `workflows.writing` and the platform rules both writers and scorers use."""

from __future__ import annotations

from dataclasses import dataclass, field

CRITERIA = ("platform_appropriateness", "style_consistency", "clarity", "engagement", "grammar")

# Hard limits in characters (None: the blog is measured in words).
CHAR_LIMITS: dict[str, int | None] = {"x": 280, "linkedin": 3000, "mastodon": 500, "blog": None}
BLOG_WORDS = (800, 2000)
BLOG_MIN_HEADINGS = 2
# Hashtags a post should carry, (fewest, most).
HASHTAG_RANGE: dict[str, tuple[int, int]] = {
    "x": (2, 3),
    "linkedin": (3, 5),
    "mastodon": (1, 3),
    "blog": (0, 0),
}
PLATFORM_NAMES = {"x": "X", "linkedin": "LinkedIn", "mastodon": "Mastodon", "blog": "blog"}
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
    """The platform's character limit; None for the blog (word-based).

    `char_limit` is an instance's own limit and applies to Mastodon only (X and LinkedIn have one
    limit for everybody). ValueError for an unknown platform.
    """
    if platform not in CHAR_LIMITS:
        raise ValueError(f"Unknown platform {platform!r}; expected one of {', '.join(CHAR_LIMITS)}.")
    if platform == "mastodon" and char_limit:
        return int(char_limit)
    return CHAR_LIMITS[platform]
