"""Keyword expansion: the user's terms plus at most `MAX_EXTRA` related ones, for the job's searches.

`keywords_expand(keywords=..., backend=...)` returns the originals first (as given, case-insensitive
duplicates dropped), then the extras, never repeating a term in another case. Extras are taken
round-robin across the originals, so the first keyword cannot use up the whole budget.

With an AI backend other than the builtin one, `complete_text` is asked for related terms,
synonyms and variations as a JSON array of strings. The answer is read defensively: a JSON array
(bare, in a ```json fence or inside prose), an object holding one array, or else a bullet or
numbered list; non-strings, empty and over-long terms are dropped. An `AIError` (the server is
down, refuses, answers nonsense) or an unconfigured backend gives back the originals alone, logged
at info: a job is not failed because its keywords could not be expanded.

The builtin backend works offline, by these rules, applied to the last word of each keyword
(`climate policies` -> `climate policy`), on plain lower-case ASCII words of 4+ letters only:
1. Synonyms from the system setting `scraping_synonyms`, a JSON object `{"word": ["synonym", ...]}`,
   matched case-insensitively on the whole keyword or its singular; groups work both ways (a
   synonym also finds its head word and the other synonyms).
2. Number: plural <-> singular (`-ies` <-> `-y` after a consonant; `-es` after s, x, z, ch, sh;
   otherwise `-s`; words ending in `ss`, `us` or `is` are taken as singular; words ending in
   `-ing` or `-ed` get no plural).
3. Base form of a derived word: `-ation` -> `-ate` (regulation -> regulate), `-ion` after ct/ss
   -> dropped (protection -> protect); `-ing`, `-ed`, `-er` dropped, a doubled final consonant
   undoubled (programming -> program) or, when the stem ends consonant-vowel-consonant, an `e`
   added back (coding -> code, mined -> mine). Only words of at least 6 (-ing), 5 (-ed) or 8 (-er)
   letters whose stem ends in a consonant (water, paper, speed keep their form). The base form's
   plural or singular is added too.
These are heuristics for English search terms, not a stemmer; a wrong variant costs one search.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

MAX_EXTRA = 10
MAX_KEYWORD_CHARS = 100
SYNONYMS_CONFIG_KEY = "scraping_synonyms"
AI_MAX_TOKENS = 300

SYSTEM_PROMPT = (
    "You help a researcher search the web. For the search keywords you are given, propose related "
    "search terms: synonyms, common variations and closely related concepts, in the keywords' "
    "language. Answer with a JSON array of strings only, at most {limit} terms, no explanations."
)

VOWELS = set("aeiou")
WORD_RE = re.compile(r"^[a-z]+$")
FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
LIST_LINE_RE = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$")


def keywords_expand(*, keywords: Sequence[str], backend=None, user=None) -> list[str]:
    """The originals, then at most MAX_EXTRA related terms (see the module docstring). `backend`
    defaults to `user`'s (`core.ai.backend_for`: builtin when they chose builtin AI only)."""
    originals = _merge([], keywords)
    if not originals:
        return []
    if backend is None:
        try:
            from core.ai import backend_for

            backend = backend_for(user=user)
        except ImproperlyConfigured as exc:
            logger.info("Keyword expansion skipped: %s", exc)
            return originals
    if getattr(backend, "name", "") == "builtin":
        per_keyword = [builtin_variants(keyword, synonyms=_synonyms_config()) for keyword in originals]
        extras = _round_robin(per_keyword)
    else:
        extras = _ai_terms(backend=backend, keywords=originals)
    merged = _merge(originals, extras)
    return merged[: len(originals) + MAX_EXTRA]


# AI path ------------------------------------------------------------------------------------------


def _ai_terms(*, backend, keywords: list[str]) -> list[str]:
    from core.ai import AIError

    prompt = "Keywords:\n" + "\n".join(f"- {keyword}" for keyword in keywords)
    try:
        result = backend.complete_text(
            system=SYSTEM_PROMPT.format(limit=MAX_EXTRA), prompt=prompt, max_tokens=AI_MAX_TOKENS
        )
    except AIError as exc:
        logger.info("Keyword expansion fell back to the original keywords: %s", exc)
        return []
    # The OpenAI backend collapses whitespace in `text`; a bullet list needs the line breaks.
    terms = terms_from_answer(result.metadata.get("raw_text") or result.text or "")
    if not terms:
        logger.info("Keyword expansion fell back to the original keywords: no terms in the AI answer")
    return terms


def terms_from_answer(text: str) -> list[str]:
    """The terms an AI answer lists: JSON array (fenced, bare or in prose), else a bullet list."""
    for candidate in _json_values(text):
        terms = _strings_of(candidate)
        if terms is not None:
            return _clean_terms(terms)
    lines = [match.group(1) for line in text.splitlines() if (match := LIST_LINE_RE.match(line))]
    return _clean_terms(line.strip("\"'`") for line in lines)


def _json_values(text: str):
    decoder = json.JSONDecoder()
    for block in [*FENCE_RE.findall(text), text]:
        block = block.strip()
        try:
            yield json.loads(block)
            continue
        except ValueError:
            pass
        for start, char in enumerate(block):
            if char in "[{":
                try:
                    value, _ = decoder.raw_decode(block, start)
                except ValueError:
                    continue
                yield value
                break


def _strings_of(value) -> list | None:
    """A list of terms out of a JSON value: the array itself, or the one array inside an object."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        arrays = [v for v in value.values() if isinstance(v, list)]
        if len(arrays) == 1:
            return arrays[0]
    return None


def _clean_terms(terms: Iterable) -> list[str]:
    out = []
    for term in terms:
        if not isinstance(term, str):
            continue
        term = " ".join(term.split())
        if 0 < len(term) <= MAX_KEYWORD_CHARS:
            out.append(term)
    return out


# Builtin path -------------------------------------------------------------------------------------


def builtin_variants(keyword: str, *, synonyms: dict[str, list[str]] | None = None) -> list[str]:
    """Synonyms, then number and base-form variants of one keyword (rules in the module docstring)."""
    keyword = " ".join(keyword.split())
    head, _, last = keyword.lower().rpartition(" ")
    prefix = f"{head} " if head else ""
    out: list[str] = []

    singular = singular_of(last)
    for key in _dedupe_ci([keyword.lower(), prefix + singular] if singular else [keyword.lower()]):
        out.extend((synonyms or {}).get(key, []))

    if WORD_RE.match(last) and len(last) >= 4:
        # "codings", "mineds": verb forms get no plural.
        number = singular or (None if last.endswith(("ing", "ed")) else plural_of(last))
        if number:
            out.append(prefix + number)
        base = base_form(singular or last)
        if base:
            out.append(prefix + base)
            base_number = singular_of(base) or plural_of(base)
            if base_number:
                out.append(prefix + base_number)
    return [term for term in _dedupe_ci(out) if term.lower() != keyword.lower()]


def singular_of(word: str) -> str | None:
    """The singular of an English plural, or None when `word` does not look plural."""
    if not WORD_RE.match(word) or len(word) < 4 or word.endswith(("ss", "us", "is")):
        return None
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return None


def plural_of(word: str) -> str | None:
    if not WORD_RE.match(word) or len(word) < 3:
        return None
    if word.endswith("y") and word[-2] not in VOWELS:
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def base_form(word: str) -> str | None:
    """The base of a derived word (-ation, -ion, -ing, -ed, -er), or None when there is none."""
    if not WORD_RE.match(word):
        return None
    if word.endswith("ation") and len(word) >= 8:
        return word[:-5] + "ate"
    if word.endswith(("ction", "ssion")) and len(word) >= 7:
        return word[:-3]
    for suffix, min_length in (("ing", 6), ("ed", 5), ("er", 8)):
        if word.endswith(suffix) and len(word) >= min_length:
            stem = word[: -len(suffix)]
            return None if stem[-1] in VOWELS else _restore_stem(stem)
    return None


def _restore_stem(stem: str) -> str | None:
    if len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in VOWELS and stem[-1] not in "lsz":
        return stem[:-1]
    if (
        len(stem) >= 3
        and stem[-1] not in VOWELS
        and stem[-1] not in "wxy"
        and stem[-2] in VOWELS
        and stem[-3] not in VOWELS
    ):
        return stem + "e"
    return stem if len(stem) >= 3 else None


def _synonyms_config() -> dict[str, list[str]]:
    """`scraping_synonyms` as lower-case word -> terms, both ways; {} when unset or malformed."""
    from core.selectors import config_get

    try:
        raw = config_get(key=SYNONYMS_CONFIG_KEY, default={})
    except (ValueError, TypeError):
        logger.info("The system setting %s is not valid JSON; no synonyms used", SYNONYMS_CONFIG_KEY)
        return {}
    if not isinstance(raw, dict):
        return {}
    table: dict[str, list[str]] = {}
    for word, terms in raw.items():
        if not isinstance(word, str) or not isinstance(terms, list):
            continue
        group = _clean_terms([word, *terms])
        for member in group:
            others = [term for term in group if term.lower() != member.lower()]
            table.setdefault(member.lower(), [])
            table[member.lower()] = _dedupe_ci(table[member.lower()] + others)
    return table


# Helpers ------------------------------------------------------------------------------------------


def _round_robin(lists: list[list[str]]) -> list[str]:
    out = []
    for index in range(max((len(items) for items in lists), default=0)):
        out.extend(items[index] for items in lists if index < len(items))
    return out


def _dedupe_ci(items: Iterable[str]) -> list[str]:
    return _merge([], items)


def _merge(first: list[str], more: Iterable[str]) -> list[str]:
    seen = {item.casefold() for item in first}
    out = list(first)
    for item in more:
        if not isinstance(item, str):
            continue
        item = " ".join(item.split())
        if not item or len(item) > MAX_KEYWORD_CHARS or item.casefold() in seen:
            continue
        seen.add(item.casefold())
        out.append(item)
    return out
