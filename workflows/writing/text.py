"""Plain-text measurements shared by the builtin writer and scorer: sentences, words, syllables,
keywords, hashtags. English-centred heuristics, stated here so the scores can be explained."""

from __future__ import annotations

import re
from collections import Counter

WORD_RE = re.compile(r"[^\W\d_](?:[\w'\u2019\-]*\w)?")
HASHTAG_RE = re.compile(r"(?<![\w#])#(\w+)")
URL_RE = re.compile(r"https?://\S+")
MENTION_RE = re.compile(r"(?<!\w)@\w+(?:@[\w.\-]+)?")
HEADING_RE = re.compile(r"^(#{1,6})\s+\S", re.MULTILINE)
BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# Sentence ends: . ! ? … (with closing quotes/brackets) followed by space and a capital/digit/quote.
SENTENCE_END_RE = re.compile(r"(?<=[.!?…])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9À-Ý])")
EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f2ff\U0001f600-\U0001f64f\u2b50\u2b06\u2934\u2935]"
)
VOWEL_GROUPS_RE = re.compile(r"[aeiouy]+")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just let me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    new one two many much get got make made use used using via like per well even still yet
    every may might must shall upon within without across among others another people thing
    things way ways today year years time times day days say says said""".split()  # noqa: SIM905
)


def words(text: str) -> list[str]:
    """Words without URLs, mentions and hashtags."""
    cleaned = HASHTAG_RE.sub(" ", MENTION_RE.sub(" ", URL_RE.sub(" ", text)))
    return WORD_RE.findall(cleaned)


def content_words(text: str) -> list[str]:
    """Lower-case words of three letters or more that are not stop words."""
    return [w.lower() for w in words(text) if len(w) >= 3 and w.lower() not in STOPWORDS]


def keywords(text: str, *, limit: int = 8) -> list[str]:
    """The most frequent content words; ties go to the longer (more specific) word, then to the
    first to appear."""
    found = content_words(text)
    counts = Counter(found)
    order = {w: i for i, w in reversed(list(enumerate(found)))}
    ranked = sorted(counts, key=lambda w: (-counts[w], -len(w), order[w]))
    return ranked[:limit]


def paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines, whitespace inside them collapsed. A text without blank lines
    but with several lines is taken one paragraph per line."""
    text = (text or "").replace("\r\n", "\n").strip()
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    if len(blocks) == 1 and text.count("\n") >= 2:
        blocks = [line for line in text.split("\n") if line.strip()]
    return [" ".join(b.split()) for b in blocks]


def sentences(text: str) -> list[str]:
    """Sentences of a text; line breaks end sentences too (headings, bullets, hashtag lines)."""
    out: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        out.extend(s.strip() for s in SENTENCE_END_RE.split(line) if s.strip())
    return out


def syllables(word: str) -> int:
    """Vowel groups, minus a silent final e, at least one."""
    word = word.lower().strip("'\u2019-")
    if not word:
        return 0
    count = len(VOWEL_GROUPS_RE.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1
    return max(1, count)


def flesch_reading_ease(text: str) -> float | None:
    """206.835 - 1.015 (words per sentence) - 84.6 (syllables per word); None without words."""
    found = words(text)
    if not found:
        return None
    sentence_count = max(1, len([s for s in sentences(text) if words(s)]))
    syllable_count = sum(syllables(w) for w in found)
    return 206.835 - 1.015 * (len(found) / sentence_count) - 84.6 * (syllable_count / len(found))


def hashtags(text: str) -> list[str]:
    return HASHTAG_RE.findall(text or "")


def hashtag(phrase: str) -> str:
    """`#CamelCase` from a word or phrase ("open source" -> "#OpenSource"): screen readers read
    CamelCase hashtags word by word."""
    parts = re.findall(r"[^\W_]+", phrase.lstrip("#"))
    return "#" + "".join(p[:1].upper() + p[1:] for p in parts) if parts else ""


def trim_to(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters: at a sentence end if one is in the last half,
    else at a word boundary with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    window = text[: limit + 1]
    ends = [m.end() for m in re.finditer(r"[.!?…](?=\s|$)", window[:limit])]
    if ends and ends[-1] >= limit // 2:
        return window[: ends[-1]].strip()
    cut = window[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\u2013\u2014") + ellipsis
