"""The builtin scorer: five criteria, each 0-100, by the stated rules below. Offline, deterministic.

platform_appropriateness (starts at 100):
  - over the hard limit (X 280 characters, LinkedIn 3000, Mastodon the instance limit or 500): -50,
    and -1 more per 2 % over, down to 0. Empty draft: 0.
  - blog: under 800 words -1 per 20 missing words (at most -40); over 2000 words -20; fewer than two
    H2/H3 headings -25; no `# title` -5.
  - hashtags outside the platform's range (X 2-3, LinkedIn 3-5, Mastodon 1-3, blog 0): -15
    (not counted when the user turned hashtags off).
  - LinkedIn: no hook (a first line of at most 150 characters standing on its own) -10; no call to
    action (a question, a link, or a call-to-action phrase) -10.
clarity: 50 + Flesch reading ease / 2 (Flesch clamped to 0-100; syllables by vowel groups), then
  -10 when sentences average over 20 words, -20 over 25, and -10 for any sentence over 40 words.
engagement (starts at 40): +20 a question or call to action; +15 a hook (first line at most 120
  characters); +15 hashtags in range (blog: headings instead); +10 not a wall of text (drafts over
  400 characters need paragraphs averaging at most 80 words, and at least one line break).
grammar (starts at 100): -10 per sentence starting lower-case, -10 per line without end punctuation
  (exempt: headings, bullets, hashtag or URL lines, a first line of at most 100 characters - a
  title or hook - and the final line), -15 per doubled word ("the the"), -10 per repeated
  punctuation ("!!", ",,"; "..." allowed), -15 for unbalanced brackets; each rule at most -30.
style_consistency: with no style samples, a neutral 70 (stated in metadata). With samples:
  100 x (0.35 sentence-length similarity + 0.35 vocabulary overlap + 0.15 hashtag habit +
  0.15 emoji habit), where similarity of two averages a, b is 1 - |a - b| / max(a, b), vocabulary
  overlap is the share of the draft's content words found in the samples (1.0 from 50 % up), and a
  habit matches when both use it or both do not (else 1 - the smaller rate / the larger).

Overall score, integer 0-100: weighted mean, platform_appropriateness 30, clarity 20, engagement 20,
grammar 15, style_consistency 15. ORIGINALS weighed relevance 30, quality 25, platform fit 25,
engagement 20; the scorer sees only the draft (the builtin writer only selects source sentences, so
it cannot drift from the source), so relevance's weight went to platform fit (+5), style (15) and
clarity, and quality became clarity and grammar.

Feedback: one finding per line, each starting with a phrase the builtin writer acts on ("too long",
"missing hashtags", "no call to action", "no headings", ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from platforms.kinds.base import Form
from platforms.kinds.registry import writing_rules
from workflows.writing import text as t
from workflows.writing.types import CRITERIA, DraftEvaluation, platform_char_limit

EVALUATOR = "builtin-rules-1"
WEIGHTS = {
    "platform_appropriateness": 30,
    "clarity": 20,
    "engagement": 20,
    "grammar": 15,
    "style_consistency": 15,
}
NEUTRAL_STYLE = 70

# Feedback phrases; the builtin writer recognises them (workflows.writing.builtin_writer).
TOO_LONG = "too long"
TOO_SHORT = "too short"
MISSING_HASHTAGS = "missing hashtags"
TOO_MANY_HASHTAGS = "too many hashtags"
NO_CTA = "no call to action"
NO_HOOK = "no hook"
NO_HEADINGS = "no headings"
NO_TITLE = "no title"
WALL_OF_TEXT = "wall of text"
LONG_SENTENCES = "long sentences"
LOWERCASE_START = "sentence starts lower-case"
NO_END_PUNCTUATION = "missing end punctuation"
DOUBLED_WORD = "doubled word"
REPEATED_PUNCTUATION = "repeated punctuation"
UNBALANCED = "unbalanced brackets"
STYLE = "style"

CTA_RE = re.compile(
    r"\b(read more|learn more|find out|sign up|register|join us|join the|apply|subscribe|follow|"
    r"share your|let me know|let us know|tell us|comment|try it|get started|check out|download|"
    r"contact us|visit|book|reply)\b",
    re.IGNORECASE,
)


class _Findings:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, criterion: str, message: str, penalty: int = 0) -> int:
        self.items.append({"criterion": criterion, "message": message, "penalty": penalty})
        return penalty


def _lines(content: str) -> list[str]:
    return [line.strip() for line in content.splitlines() if line.strip()]


def has_call_to_action(content: str) -> bool:
    return "?" in content or bool(t.URL_RE.search(content)) or bool(CTA_RE.search(content))


def _hashtags_off(options: dict) -> bool:
    return options.get("hashtags") is False


def _platform(platform: str, content: str, *, char_limit: int | None, options: dict, f: _Findings) -> int:
    if not content.strip():
        f.add("platform_appropriateness", f"{TOO_SHORT}: the draft is empty.", 100)
        return 0
    score = 100
    rules = writing_rules(platform)
    name = rules.name
    limit = platform_char_limit(platform, char_limit=char_limit)
    length = rules.length(content)  # as the network counts: Bluesky counts graphemes
    size = len(content.encode("utf-8", "surrogatepass"))
    if limit is not None and length > limit:
        over = (length - limit) / limit * 100
        score -= f.add(
            "platform_appropriateness",
            f"{TOO_LONG}: {length} {rules.unit}; the {name} limit is {limit}.",
            50 + int(over / 2),
        )
    elif rules.byte_limit is not None and size > rules.byte_limit:
        over = (size - rules.byte_limit) / rules.byte_limit * 100
        score -= f.add(
            "platform_appropriateness",
            f"{TOO_LONG}: {size} bytes in UTF-8; the {name} limit is {rules.byte_limit}.",
            50 + int(over / 2),
        )
    if rules.form == Form.ARTICLE:
        count = len(t.words(content))
        low, high = rules.words
        if count < low:
            score -= f.add(
                "platform_appropriateness",
                f"{TOO_SHORT}: {count} words; blog posts need {low}-{high} words (add material to the "
                "source rather than padding).",
                min(40, (low - count) // 20),
            )
        elif count > high:
            score -= f.add(
                "platform_appropriateness", f"{TOO_LONG}: {count} words; blog posts need {low}-{high}.", 20
            )
        headings = [m.group(1) for m in t.HEADING_RE.finditer(content) if m.group(1) in ("##", "###")]
        if len(headings) < rules.min_headings:
            score -= f.add(
                "platform_appropriateness",
                f"{NO_HEADINGS}: {len(headings)} H2/H3 headings; a blog post needs at least "
                f"{rules.min_headings}.",
                25,
            )
        if not re.match(r"#\s+\S", content.lstrip()):
            score -= f.add("platform_appropriateness", f"{NO_TITLE}: start with a `# ` title line.", 5)
    low, high = rules.hashtags
    count = len(t.hashtags(content))
    if rules.form == Form.ARTICLE and count:
        score -= f.add(
            "platform_appropriateness", f"{TOO_MANY_HASHTAGS}: blog posts carry none ({count}).", 15
        )
    elif count < low and not _hashtags_off(options):
        score -= f.add(
            "platform_appropriateness", f"{MISSING_HASHTAGS}: {count}; {name} posts need {low}-{high}.", 15
        )
    elif count > high:
        score -= f.add(
            "platform_appropriateness", f"{TOO_MANY_HASHTAGS}: {count}; {name} posts need {low}-{high}.", 15
        )
    if rules.form == Form.LONG_POST:
        lines = content.strip().splitlines()
        if not lines or len(lines[0]) > 150 or len(lines) < 2:
            score -= f.add(
                "platform_appropriateness",
                f"{NO_HOOK}: open with a short first line (at most 150 characters) on its own.",
                10,
            )
        if not has_call_to_action(content):
            score -= f.add(
                "platform_appropriateness", f"{NO_CTA}: end with a question, link or invitation.", 10
            )
    return max(0, min(100, score))


def _clarity(content: str, f: _Findings) -> int:
    prose = "\n".join(line for line in content.splitlines() if not t.HEADING_RE.match(line))
    ease = t.flesch_reading_ease(prose)
    if ease is None:
        return 0
    score = 50 + max(0.0, min(100.0, ease)) / 2
    lengths = [len(t.words(s)) for s in t.sentences(prose) if t.words(s)]
    average = sum(lengths) / len(lengths)
    if average > 25:
        score -= f.add(
            "clarity", f"{LONG_SENTENCES}: sentences average {average:.0f} words; aim for under 20.", 20
        )
    elif average > 20:
        score -= f.add(
            "clarity", f"{LONG_SENTENCES}: sentences average {average:.0f} words; aim for under 20.", 10
        )
    longest = max(lengths)
    if longest > 40:
        score -= f.add("clarity", f"{LONG_SENTENCES}: one sentence has {longest} words; split it.", 10)
    if ease < 30:
        f.add("clarity", f"hard to read: Flesch reading ease {ease:.0f}; use shorter words and sentences.")
    return max(0, min(100, round(score)))


def _engagement(platform: str, content: str, options: dict, f: _Findings) -> int:
    if not content.strip():
        return 0
    score = 40
    rules = writing_rules(platform)
    if has_call_to_action(content):
        score += 20
    elif rules.form != Form.LONG_POST:  # a long post's missing call to action is already a platform finding
        f.add("engagement", f"{NO_CTA}: ask a question or invite the reader to act.")
    first = content.strip().splitlines()[0]
    if len(first) <= 120:
        score += 15
    elif rules.form != Form.LONG_POST:
        f.add("engagement", f"{NO_HOOK}: the first line has {len(first)} characters; open with a short hook.")
    if rules.form == Form.ARTICLE:
        if len(t.HEADING_RE.findall(content)) >= rules.min_headings:
            score += 15
    else:
        low, high = rules.hashtags
        if low <= len(t.hashtags(content)) <= high or _hashtags_off(options):
            score += 15
    blocks = t.paragraphs(content) if "\n" in content else [content]
    average_words = sum(len(t.words(b)) for b in blocks) / max(1, len(blocks))
    if len(content) <= 400 or ("\n" in content and average_words <= 80):
        score += 10
    else:
        f.add(
            "engagement",
            f"{WALL_OF_TEXT}: break the text into short paragraphs (now ~{average_words:.0f} words each).",
        )
    return max(0, min(100, score))


def _grammar(content: str, f: _Findings) -> int:
    penalties = {key: 0 for key in ("lower", "end", "double", "repeat", "brackets")}
    lines = _lines(content)
    for index, line in enumerate(lines):
        exempt_end = (
            t.HEADING_RE.match(line)
            or t.BULLET_RE.match(line)
            or not t.words(line)
            or t.HASHTAG_RE.sub("", line).strip() == ""
            or line.rstrip().endswith(":")
            or index == len(lines) - 1
            or (index == 0 and len(line) <= 100)  # a title or hook line
            or t.URL_RE.search(line.split()[-1])
        )
        body = t.BULLET_RE.sub("", re.sub(r"^#+\s*", "", line))
        for sentence in t.sentences(body):
            first = next((c for c in t.URL_RE.sub(" ", sentence) if c.isalpha()), "")
            if first and first.islower() and not sentence.startswith(("#", "@")):
                penalties["lower"] += 10
        if not exempt_end and not re.search(r"[.!?…:;\"'\u201d\u2019)]$", line):
            penalties["end"] += 10
    for match in re.finditer(r"\b(\w+)\s+\1\b", t.URL_RE.sub(" ", content), re.IGNORECASE):
        if not match.group(1).isdigit():
            penalties["double"] += 15
    penalties["repeat"] = 10 * len(re.findall(r"([!?,;:])\1+|(?<!\.)\.\.(?!\.)", t.URL_RE.sub(" ", content)))
    if any(content.count(a) != content.count(b) for a, b in ("()", "[]", "{}")):
        penalties["brackets"] = 15
    messages = {
        "lower": f"{LOWERCASE_START}: start every sentence with a capital letter.",
        "end": f"{NO_END_PUNCTUATION}: end sentences with a full stop, question or exclamation mark.",
        "double": f"{DOUBLED_WORD}: a word is repeated (e.g. 'the the').",
        "repeat": f"{REPEATED_PUNCTUATION}: use one punctuation mark ('!!' or ',,' found).",
        "brackets": f"{UNBALANCED}: an opening bracket has no closing one, or the other way round.",
    }
    score = 100
    for key, penalty in penalties.items():
        if penalty:
            score -= f.add("grammar", messages[key], min(30, penalty))
    return max(0, min(100, score))


def _similarity(a: float, b: float) -> float:
    if a == b:
        return 1.0
    return max(0.0, 1 - abs(a - b) / max(a, b))


def _habit(a: float, b: float) -> float:
    if (a > 0) == (b > 0):
        return 1.0 if a == b == 0 else _similarity(a, b) * 0.5 + 0.5
    return 0.0


def _profile(text: str) -> dict[str, float]:
    found = t.words(text)
    count = max(1, len(found))
    lengths = [len(t.words(s)) for s in t.sentences(text) if t.words(s)]
    return {
        "sentence_words": sum(lengths) / len(lengths) if lengths else 0.0,
        "hashtags_per_100": 100 * len(t.hashtags(text)) / count,
        "emoji_per_100": 100 * len(t.EMOJI_RE.findall(text)) / count,
    }


def _style(content: str, samples: Sequence[str], f: _Findings, meta: dict) -> int:
    samples = [s for s in samples if s and s.strip()]
    if not samples:
        meta["style_note"] = f"No style samples: style_consistency is a neutral {NEUTRAL_STYLE}."
        return NEUTRAL_STYLE
    joined = "\n\n".join(samples)
    draft, mine = _profile(content), _profile(joined)
    vocabulary = set(t.content_words(joined))
    draft_words = t.content_words(content)
    overlap = sum(1 for w in draft_words if w in vocabulary) / len(draft_words) if draft_words else 0.0
    parts = {
        "sentence_length": _similarity(draft["sentence_words"], mine["sentence_words"]),
        "vocabulary": min(1.0, overlap / 0.5),
        "hashtags": _habit(draft["hashtags_per_100"], mine["hashtags_per_100"]),
        "emoji": _habit(draft["emoji_per_100"], mine["emoji_per_100"]),
    }
    meta["style_parts"] = {k: round(v, 2) for k, v in parts.items()}
    if parts["sentence_length"] < 0.7:
        f.add(
            "style_consistency",
            f"{STYLE}: sentences average {draft['sentence_words']:.0f} words; your samples average "
            f"{mine['sentence_words']:.0f}.",
        )
    if parts["vocabulary"] < 0.5:
        f.add("style_consistency", f"{STYLE}: few words in common with your style samples ({overlap:.0%}).")
    if parts["emoji"] == 0.0:
        uses = "use emoji" if mine["emoji_per_100"] else "use no emoji"
        f.add("style_consistency", f"{STYLE}: your samples {uses}; the draft does not match.")
    if parts["hashtags"] == 0.0:
        uses = "use hashtags" if mine["hashtags_per_100"] else "use no hashtags"
        f.add("style_consistency", f"{STYLE}: your samples {uses}; the draft does not match.")
    score = 100 * (
        0.35 * parts["sentence_length"]
        + 0.35 * parts["vocabulary"]
        + 0.15 * parts["hashtags"]
        + 0.15 * parts["emoji"]
    )
    return max(0, min(100, round(score)))


def criteria_scores_builtin(
    *, platform: str, content: str, style_samples: Sequence[str], char_limit: int | None, options: dict
) -> tuple[dict[str, int], list[dict], dict]:
    """(criteria scores, findings, extra metadata) by the module's rules."""
    platform_char_limit(platform)  # ValueError for an unknown platform
    f = _Findings()
    meta: dict = {}
    scores = {
        "platform_appropriateness": _platform(platform, content, char_limit=char_limit, options=options, f=f),
        "clarity": _clarity(content, f),
        "engagement": _engagement(platform, content, options, f),
        "grammar": _grammar(content, f) if content.strip() else 0,
        "style_consistency": _style(content, style_samples, f, meta),
    }
    return {c: scores[c] for c in CRITERIA}, f.items, meta


def weighted_score(criteria: dict[str, int]) -> int:
    total = sum(WEIGHTS[c] * criteria[c] for c in CRITERIA)
    return max(0, min(100, round(total / sum(WEIGHTS.values()))))


def score_builtin(
    *,
    platform: str,
    content: str,
    style_samples: Sequence[str] = (),
    char_limit: int | None = None,
    options: dict | None = None,
) -> DraftEvaluation:
    criteria, findings, meta = criteria_scores_builtin(
        platform=platform,
        content=content,
        style_samples=style_samples,
        char_limit=char_limit,
        options=options or {},
    )
    messages = list(dict.fromkeys(item["message"] for item in findings))
    return DraftEvaluation(
        score=weighted_score(criteria),
        feedback="\n".join(messages),
        criteria_scores=criteria,
        evaluator=EVALUATOR,
        metadata={
            "backend": "builtin",
            "rule_based": True,
            "findings": findings,
            "weights": dict(WEIGHTS),
            "platform": platform,
            "char_limit": platform_char_limit(platform, char_limit=char_limit),
            **meta,
        },
    )
