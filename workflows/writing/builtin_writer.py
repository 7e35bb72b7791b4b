"""The builtin writer: rule-based repurposing that selects and formats the source's own sentences.

It cannot invent, so it never adds claims: it picks sentences (the lead sentence first, then those
sharing the most of the source's most frequent content words), arranges them for the platform and
adds hashtags made from the source's keywords (or the user's list), the user's call to action or a
link to the source, and only when asked for one and there is none, a stock question (recorded in
metadata as `stock_phrases`).

Per platform:
- X: one post of at most 280 characters; 2 hashtags (3 for `long`), the call to action if it fits.
- Mastodon: the same shape within the instance limit (default 500); 1-3 CamelCase hashtags.
- LinkedIn: a hook line (the title or the first sentence), short paragraphs, a "Key points" list
  for medium and long posts, a call to action, 3-5 hashtags; at most 3000 characters.
- Blog: markdown with a `# title`, the first paragraph as intro, `## ` sections of the remaining
  paragraphs (headings from each section's keywords, `### ` for a long section's second part),
  "## In short" with the key sentences, and "## Sources" with the source URLs. A short source
  makes a short post: it does not pad, and the scorer says it is under 800 words.

`length` (short/medium/long) sets how many sentences are used; tone and audience are recorded in
metadata, not acted on (rules cannot rewrite tone).

Regeneration: each line of `feedback` is matched against the phrases the builtin scorer writes
("too long", "missing hashtags", "no call to action", "no headings", "wall of text", ...), and a
reviewer's words that say the same; recognised lines change the plan (fewer sentences, more or
fewer hashtags, a call to action, grammar clean-up, one sentence per paragraph...). Lines it cannot
act on (style, tone, new facts) are listed under `not_applied`. When the result would equal the
previous draft although there was something to fix, it tries other sentence choices; if the text
still cannot change, metadata says `unchanged: true`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from platforms.kinds.base import Form
from platforms.kinds.registry import writing_rules
from workflows.writing import text as t
from workflows.writing.types import LENGTHS, WritingBrief, WrittenDraft, platform_char_limit

MODEL = "builtin-rules-1"
NOTE = "Rule-based: selected and formatted from the source; no new wording."
STOCK_CTA = "What do you think?"
HOOK_MAX = 150
BLOG_TITLE_MAX = 90

# Feedback line -> what to fix. First match wins, so the specific phrases come first.
FEEDBACK_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("style", ("style:",)),
    ("too_many_hashtags", ("too many hashtags", "fewer hashtags", "less hashtags")),
    (
        "missing_hashtags",
        ("missing hashtags", "too few hashtags", "more hashtags", "add hashtags", "no hashtags"),
    ),
    ("no_cta", ("no call to action", "call to action", "call-to-action", "ask a question", "add a question")),
    ("no_headings", ("no headings", "headings", "no title", "subheadings")),
    ("no_hook", ("no hook", "hook", "opening line", "first line")),
    ("wall_of_text", ("wall of text", "paragraph", "bullet", "break the text")),
    ("long_sentences", ("long sentences", "shorter sentences", "split it", "hard to read", "readability")),
    (
        "grammar",
        (
            "lower-case",
            "lowercase",
            "capital",
            "punctuation",
            "doubled word",
            "repeated",
            "unbalanced",
            "grammar",
        ),
    ),
    ("too_long", ("too long", "shorter", "shorten", "over the limit", "exceeds", "trim")),
    ("too_short", ("too short", "longer", "more detail", "expand", "elaborate")),
    ("style", ("style", "tone", "voice")),
)
CANNOT_APPLY = {"style": "the builtin writer keeps the source's wording; it cannot change style or tone"}


@dataclass(frozen=True)
class _Plan:
    length: int  # index into LENGTHS
    hashtags: int
    want_cta: bool = False
    short_paragraphs: bool = False
    prefer_short_sentences: bool = False
    fix_grammar: bool = False
    hook_line: bool = False  # the first sentence on a line of its own
    margin: float = 1.0  # share of the character limit to fill
    variant: int = 0


@dataclass(frozen=True)
class _Sentence:
    text: str
    index: int
    paragraph: int


def feedback_codes(feedback: str | None) -> tuple[list[str], list[str]]:
    """(recognised fix codes, lines not recognised) of a feedback text."""
    codes: list[str] = []
    unknown: list[str] = []
    for line in (feedback or "").splitlines():
        lowered = line.strip().lower()
        if not lowered:
            continue
        code = next((c for c, phrases in FEEDBACK_RULES if any(p in lowered for p in phrases)), None)
        if code is None:
            unknown.append(line.strip())
        elif code not in codes:
            codes.append(code)
    return codes, unknown


def _length_index(options: dict) -> int:
    value = str(options.get("length") or "medium").strip().lower()
    return LENGTHS.index(value) if value in LENGTHS else 1


def _plan(brief: WritingBrief, codes: list[str]) -> _Plan:
    length = _length_index(brief.options)
    rules = writing_rules(brief.platform)
    low, high = rules.hashtags
    tags = rules.hashtags_by_length[length]
    plan = _Plan(length=length, hashtags=tags)
    if "too_long" in codes:
        plan = replace(plan, length=max(0, length - 1), margin=0.9)
    if "too_short" in codes:
        plan = replace(plan, length=min(2, length + 1))
    if "missing_hashtags" in codes:
        plan = replace(plan, hashtags=high)
    if "too_many_hashtags" in codes:
        plan = replace(plan, hashtags=low)
    return replace(
        plan,
        want_cta="no_cta" in codes,
        short_paragraphs="wall_of_text" in codes,
        prefer_short_sentences="long_sentences" in codes,
        fix_grammar="grammar" in codes,
        hook_line="no_hook" in codes,
    )


def _clean(sentence: str) -> str:
    """Grammar clean-up of a source sentence: formatting only, the words stay."""
    s = re.sub(r"\b(\w+)(\s+\1\b)+", r"\1", sentence, flags=re.IGNORECASE)
    s = re.sub(r"([!?,;:])\1+", r"\1", s)
    s = re.sub(r"(?<!\.)\.\.(?!\.)", ".", s)
    s = re.sub(r"\s+([,.;:!?])", r"\1", s)
    for opening, closing in ("()", "[]"):
        if s.count(opening) > s.count(closing):
            s = s.rstrip(".!?") + closing * (s.count(opening) - s.count(closing)) + "."
        elif s.count(closing) > s.count(opening):
            s = s.replace(closing, "", s.count(closing) - s.count(opening))
    s = s.strip()
    if s and s[0].isalpha() and s[0].islower():
        s = s[0].upper() + s[1:]
    if s and not re.search(r"[.!?…:\"'\u201d\u2019)]$", s):
        s += "."
    return s


def _sentences(brief: WritingBrief, plan: _Plan) -> list[_Sentence]:
    out = []
    for p_index, paragraph in enumerate(t.paragraphs(brief.source.text)):
        for sentence in t.sentences(paragraph):
            if t.words(sentence):
                out.append(_Sentence(_clean(sentence) if plan.fix_grammar else sentence, len(out), p_index))
    return out


def _ranked(sentences: list[_Sentence], plan: _Plan, top: set[str]) -> list[_Sentence]:
    """The lead sentence, then by shared keywords (shorter first when asked), then source order;
    a variant moves the variant-th best sentence to the end, to try another selection."""
    if not sentences:
        return []

    def weight(s: _Sentence) -> tuple[float, int]:
        hits = len(set(t.content_words(s.text)) & top)
        if plan.prefer_short_sentences:
            hits -= 0.2 * max(0, len(t.words(s.text)) - 20)
        return (-hits, s.index)

    lead, rest = sentences[0], sorted(sentences[1:], key=weight)
    if plan.variant and rest:
        moved = rest.pop(min(plan.variant, len(rest)) - 1)
        rest.append(moved)
    return [lead, *rest]


def _hashtags(brief: WritingBrief, plan: _Plan, top: list[str], body: str) -> list[str]:
    option = brief.options.get("hashtags", True)
    if option is False or plan.hashtags <= 0:
        return []
    present = {h.lower() for h in t.hashtags(body)}
    wanted = max(0, plan.hashtags - len(present))
    candidates = [str(h) for h in option if str(h).strip()] if isinstance(option, list | tuple) else top
    tags: list[str] = []
    for candidate in candidates:
        tag = t.hashtag(candidate)
        if tag and tag[1:].lower() not in present and tag not in tags:
            tags.append(tag)
        if len(tags) >= wanted:
            break
    return tags


def _call_to_action(brief: WritingBrief, plan: _Plan, stock: list[str]) -> str:
    given = str(brief.options.get("call_to_action") or "").strip()
    if given:
        return given
    form = writing_rules(brief.platform).form
    if brief.source.urls and form != Form.ARTICLE:
        return f"Read more: {brief.source.urls[0]}"
    if plan.want_cta or form == Form.LONG_POST:
        stock.append(STOCK_CTA)
        return STOCK_CTA
    return ""


def _short_post(brief: WritingBrief, plan: _Plan, limit: int, ranked, top, stock) -> str:
    """X and Mastodon: sentences + call to action + hashtags, within `limit`."""
    most = writing_rules(brief.platform).sentences_by_length[plan.length]
    cta = _call_to_action(brief, plan, stock)
    budget = max(40, int(limit * plan.margin))

    def assemble(chosen: list[_Sentence], cta: str, tags: list[str]) -> str:
        ordered = [s.text for s in sorted(chosen, key=lambda s: s.index)]
        if plan.hook_line and len(ordered) > 1:
            body = ordered[0] + "\n\n" + " ".join(ordered[1:])
        else:
            body = " ".join(ordered)
        out = f"{body} {cta}".strip() if cta else body
        return f"{out}\n\n{' '.join(tags)}" if tags else out

    chosen: list[_Sentence] = []
    for sentence in ranked:
        if len(chosen) >= most:
            break
        trial = [*chosen, sentence]
        tags = _hashtags(brief, plan, top, " ".join(s.text for s in trial))
        if len(assemble(trial, cta, tags)) <= budget:
            chosen = trial
    body = " ".join(s.text for s in sorted(chosen, key=lambda s: s.index))
    tags = _hashtags(brief, plan, top, body)
    if not chosen and ranked:  # even the lead sentence is too long: trim it to what is left
        tail = len(assemble([_Sentence("", 0, 0)], cta, tags))
        if tail > budget // 2:
            cta = ""
            tail = len(assemble([_Sentence("", 0, 0)], "", tags))
        chosen = [_Sentence(t.trim_to(ranked[0].text, max(20, budget - tail)), 0, 0)]
    text = assemble(chosen, cta, tags)
    if len(text) > budget and cta:
        text = assemble(chosen, "", tags)
    # Trimming to `limit` code points keeps a text within `limit` graphemes too.
    return text if writing_rules(brief.platform).length(text) <= limit else t.trim_to(text, limit)


def _linkedin(brief: WritingBrief, plan: _Plan, limit: int, ranked, top, stock) -> str:
    most = (3, 6, 10)[plan.length]
    title = " ".join(brief.source.title.split())
    if title:
        hook, pool = t.trim_to(title, HOOK_MAX), ranked
    elif ranked:
        hook, pool = t.trim_to(ranked[0].text, HOOK_MAX), ranked[1:]
    else:
        hook, pool = "", []
    cta = _call_to_action(brief, plan, stock)
    budget = int(limit * plan.margin)
    count = min(most, len(pool))
    while True:
        chosen = sorted(pool[:count], key=lambda s: s.index)
        bullets: list[_Sentence] = []
        if (plan.length >= 1 or plan.short_paragraphs) and len(chosen) >= 4:
            bullets, chosen = chosen[-3:], chosen[:-3]
        per_paragraph = 1 if plan.short_paragraphs else 2
        blocks = [hook] if hook else []
        group: list[_Sentence] = []
        for sentence in chosen:
            if group and (len(group) >= per_paragraph or sentence.paragraph != group[-1].paragraph):
                blocks.append(" ".join(s.text for s in group))
                group = []
            group.append(sentence)
        if group:
            blocks.append(" ".join(s.text for s in group))
        if bullets:
            blocks.append("Key points:\n" + "\n".join(f"• {s.text}" for s in bullets))
        if cta:
            blocks.append(cta)
        tags = _hashtags(brief, plan, top, "\n".join(blocks))
        if tags:
            blocks.append(" ".join(tags))
        text = "\n\n".join(blocks)
        if len(text) <= budget or count == 0:
            return text if len(text) <= limit else t.trim_to(text, limit)
        count -= 1


def _heading(text: str, used: set[str]) -> str:
    words = [w for w in t.keywords(text, limit=6) if w not in used][:3] or t.keywords(text, limit=3)
    used.update(words)
    if not words:
        return "More"
    phrase = ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
    return phrase[:1].upper() + phrase[1:]


def _blog(brief: WritingBrief, plan: _Plan, ranked: list[_Sentence], top: list[str], stock) -> str:
    blocks_text = t.paragraphs(brief.source.text)
    if plan.fix_grammar:
        blocks_text = [" ".join(_clean(s) for s in t.sentences(p)) for p in blocks_text]
    if len(blocks_text) < 3:  # too few paragraphs to make sections: three sentences each
        flat = [s.text for s in sorted(ranked, key=lambda s: s.index)]
        blocks_text = [" ".join(flat[i : i + 3]) for i in range(0, len(flat), 3)]
    if plan.length == 0 and len(blocks_text) > 3:  # short: the intro and the best-scoring 60 %
        keep = max(2, round(len(blocks_text) * 0.6))
        scored = sorted(
            range(1, len(blocks_text)),
            key=lambda i: (-len(set(t.content_words(blocks_text[i])) & set(top)), i),
        )
        blocks_text = [blocks_text[0]] + [blocks_text[i] for i in sorted(scored[: keep - 1])]
    title = " ".join(brief.source.title.split()) or (
        t.trim_to(ranked[0].text, BLOG_TITLE_MAX).rstrip(".") if ranked else "Untitled"
    )
    out = [f"# {title}"]
    if blocks_text:
        out.append(blocks_text[0])
    rest = blocks_text[1:]
    per_section = 1 if plan.short_paragraphs else 2
    used: set[str] = set()
    groups = [rest[i : i + per_section] for i in range(0, len(rest), per_section)]
    if plan.variant:
        groups = groups[plan.variant % max(1, len(groups)) :] + groups[: plan.variant % max(1, len(groups))]
        groups.sort(key=lambda g: rest.index(g[0]))
    for group in groups:
        out.append(f"## {_heading(' '.join(group), used)}")
        out.append(group[0])
        for paragraph in group[1:]:
            if plan.length == 2:
                out.append(f"### {_heading(paragraph, used)}")
            out.append(paragraph)
    key = sorted(ranked[: (2, 3, 4)[plan.length]], key=lambda s: s.index)
    if key and (rest or len(key) > 1):
        out.append("## In short")
        out.append("\n".join(f"- {s.text}" for s in key))
    cta = _call_to_action(brief, plan, stock)
    if cta:
        out.append(cta)
    links = [u for u in brief.source.urls] + [
        r.strip() for r in brief.references if t.URL_RE.fullmatch(r.strip())
    ]
    links = list(dict.fromkeys(links))
    if links:
        out.append("## Sources")
        out.append("\n".join(f"- [{u}]({u})" for u in links))
    return "\n\n".join(out)


def _compose(brief: WritingBrief, plan: _Plan, stock: list[str]) -> str:
    sentences = _sentences(brief, plan)
    top = t.keywords(f"{brief.source.title}\n{brief.source.text}", limit=8)
    ranked = _ranked(sentences, plan, set(top))
    limit = platform_char_limit(brief.platform, char_limit=brief.char_limit)
    form = writing_rules(brief.platform).form
    if form == Form.ARTICLE:
        return _blog(brief, plan, ranked, top, stock)
    if form == Form.LONG_POST:
        return _linkedin(brief, plan, limit, ranked, top, stock)
    return _short_post(brief, plan, limit, ranked, top, stock)


def write_builtin(brief: WritingBrief) -> WrittenDraft:
    codes, unknown = feedback_codes(brief.feedback)
    plan = _plan(brief, codes)
    stock: list[str] = []
    content = _compose(brief, plan, stock)
    previous = brief.previous_drafts[-1].strip() if brief.previous_drafts else None
    unchanged = False
    if previous is not None and content.strip() == previous and (codes or unknown):
        for variant in (1, 2, 3):
            stock = []
            content = _compose(brief, replace(plan, variant=variant), stock)
            if content.strip() != previous:
                break
        else:
            unchanged = True
    applied = [c for c in codes if c not in CANNOT_APPLY]
    not_applied = [CANNOT_APPLY[c] for c in codes if c in CANNOT_APPLY] + unknown
    metadata = {
        "backend": "builtin",
        "rule_based": True,
        "note": NOTE,
        "platform": brief.platform,
        "char_limit": platform_char_limit(brief.platform, char_limit=brief.char_limit),
        "length": LENGTHS[plan.length],
        "tone": brief.options.get("tone"),
        "audience": brief.options.get("audience"),
        "used_style_samples": len(brief.style_samples),
        "style_note": "The builtin writer does not imitate style samples; the scorer compares against them.",
        "applied_feedback": applied,
        "not_applied": not_applied,
        "stock_phrases": stock,
        "unchanged": unchanged,
    }
    if unchanged:
        metadata["unchanged_note"] = (
            "The feedback asked for changes the rules could not make with this source; the draft is "
            "the same as the previous one."
        )
    if writing_rules(brief.platform).form == Form.ARTICLE:
        metadata["words"] = len(t.words(content))
    else:
        metadata["characters"] = writing_rules(brief.platform).length(content)
    return WrittenDraft(content=content, model=MODEL, backend="builtin", metadata=metadata)
