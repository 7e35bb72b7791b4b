"""Persona data writers: who writes a batch of personas for a task's data step.

Two writers keep one small contract (`PersonaWriter.write(...) -> PersonaBatch`):
- `LLMPersonaWriter`: one chat completion per batch (at most `MAX_BATCH` personas, as the
  original did) through `core.ai`'s text backend, with the four `bio_prompt_*` system settings and
  the task's language. The answer is parsed defensively: JSON in a fence, after prose, a bare list
  or `{"personas": [...]}`; unusable entries are dropped, fields are cut to the columns' lengths,
  an age outside 13-120 becomes unknown. A batch may return fewer personas than asked; the caller
  asks again for the rest.
- `BuiltinPersonaWriter`: offline, with Faker in the language's locale (names, cities, jobs,
  companies), bios assembled from those fields by fixed templates. Honestly synthetic: each
  persona's metadata says so, and which locale was used (en_US when the language has none).

Writers return plain dicts (`PERSONA_FIELDS` keys); the service writes the rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.ai import AIBackend, AIUnavailable, backend_for
from generation.models import GeneratedPersona

MAX_BATCH = 10
MIN_AGE, MAX_AGE = 13, 120
# Tokens a persona's JSON takes (four bios, about, traits), plus the answer's framing.
TOKENS_PER_PERSONA = 450
TOKENS_OVERHEAD = 200
# Names of earlier personas of the task given to the model, so a batch does not repeat them.
AVOID_NAMES_MAX = 60

TEXT_FIELDS = (
    "first_name",
    "last_name",
    "gender",
    "ethnicity",
    "job_title",
    "workplace",
    "education",
    "current_city",
    "current_state",
    "previous_city",
    "previous_state",
    "about",
    "bio_facebook",
    "bio_instagram",
    "bio_x",
    "bio_tiktok",
)
PERSONA_FIELDS = (*TEXT_FIELDS, "age")
# The platform limits the default bio prompts state; a longer bio is cut at a word boundary.
BIO_LIMITS = {"bio_facebook": 101, "bio_instagram": 150, "bio_x": 160, "bio_tiktok": 80}
BIO_PROMPT_KEYS = {
    "bio_facebook": "bio_prompt_facebook",
    "bio_instagram": "bio_prompt_instagram",
    "bio_x": "bio_prompt_x",
    "bio_tiktok": "bio_prompt_tiktok",
}
PLATFORM_NAMES = {
    "bio_facebook": "Facebook",
    "bio_instagram": "Instagram",
    "bio_x": "X",
    "bio_tiktok": "TikTok",
}
# Used only when an operator deleted a bio_prompt_* setting.
FALLBACK_BIO_PROMPT = "Write a short {platform} bio in {language} for the persona, in their own voice."

# Other spellings models use for our fields.
ALIASES = {
    "firstname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "sex": "gender",
    "job": "job_title",
    "occupation": "job_title",
    "title": "job_title",
    "company": "workplace",
    "employer": "workplace",
    "city": "current_city",
    "state": "current_state",
    "hometown": "previous_city",
    "bio": "about",
    "description": "about",
    "facebook_bio": "bio_facebook",
    "instagram_bio": "bio_instagram",
    "x_bio": "bio_x",
    "twitter_bio": "bio_x",
    "bio_twitter": "bio_x",
    "tiktok_bio": "bio_tiktok",
}
BIO_GROUP_KEYS = {"facebook": "bio_facebook", "instagram": "bio_instagram", "x": "bio_x", "twitter": "bio_x"}
BIO_GROUP_KEYS["tiktok"] = "bio_tiktok"


@dataclass
class PersonaBatch:
    personas: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


class PersonaWriter(Protocol):
    name: str

    def write(
        self, *, description: str, language: str, count: int, start: int, avoid_names: Sequence[str] = ()
    ) -> PersonaBatch:
        """`count` (1..MAX_BATCH) personas; `start` is the position of the first (seeds, wording)."""
        ...


def persona_writer_for(*, backend: AIBackend | None = None, seed: str = "", user=None) -> PersonaWriter:
    """The writer for `user`'s AI backend (`core.ai.backend_for`: the site's, or the builtin one when
    they chose builtin only): Faker for `builtin` (deterministic per `seed`, e.g. the task id), the
    LLM for the others."""
    backend = backend or backend_for(user=user)
    if backend.name == "builtin":
        return BuiltinPersonaWriter(seed=seed)
    return LLMPersonaWriter(backend=backend, bio_prompts=bio_prompts())


def bio_prompts() -> dict[str, str]:
    """The four bio prompts (SystemConfig `bio_prompt_*`, editable in the admin), by persona field."""
    from core.selectors import config_get

    prompts = {}
    for column, key in BIO_PROMPT_KEYS.items():
        value = config_get(key=key)
        prompts[column] = value.strip() if isinstance(value, str) and value.strip() else FALLBACK_BIO_PROMPT
    return prompts


# --- cleaning what a writer produced ------------------------------------------------------------


def _max_length(name: str) -> int | None:
    return GeneratedPersona._meta.get_field(name).max_length


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-")


def _age(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        found = re.search(r"\d{1,3}", value)
        value = int(found.group()) if found else None
    if isinstance(value, float) and value == value:
        value = round(value)
    if isinstance(value, int) and MIN_AGE <= value <= MAX_AGE:
        return value
    return None


def clean_persona(raw: Any) -> dict[str, Any] | None:
    """A persona dict with exactly PERSONA_FIELDS, or None when `raw` has no usable name."""
    if not isinstance(raw, dict):
        return None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
        if name in ("bios", "social_bios", "bio") and isinstance(value, dict):
            for platform, bio in value.items():
                column = BIO_GROUP_KEYS.get(str(platform).strip().lower())
                if column:
                    values.setdefault(column, bio)
            continue
        name = ALIASES.get(name, name)
        if name in PERSONA_FIELDS:
            values.setdefault(name, value)
    full_name = _text(raw.get("name") or raw.get("full_name"))
    if full_name and not _text(values.get("first_name")):
        first, _, last = full_name.partition(" ")
        values["first_name"] = first
        if not _text(values.get("last_name")):
            values["last_name"] = last
    persona: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        limit = BIO_LIMITS.get(name) or _max_length(name)
        persona[name] = _cut(_text(values.get(name)), limit)
    persona["age"] = _age(values.get("age"))
    if not persona["first_name"]:
        return None
    return persona


def _json_values(text: str):
    """Candidate JSON values in a model's answer: fenced blocks, the whole text, then from each
    `[` or `{` onwards (prose before or after the JSON)."""
    decoder = json.JSONDecoder()
    for block in [*re.findall(r"```(?:json|JSON)?\s*(.*?)```", text, re.DOTALL), text]:
        try:
            value = json.loads(block.strip())
        except ValueError:
            continue
        yield value
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        yield value


def _persona_list(value: Any) -> list | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("personas", "profiles", "people", "data", "results"):
            if isinstance(value.get(key), list):
                return value[key]
        if any(key in value for key in ("first_name", "name", "firstName")):
            return [value]
    return None


def parse_personas(text: str) -> list[dict[str, Any]]:
    """The usable personas in a model's answer (possibly none), cleaned. The first JSON value that
    holds a list of personas wins; entries without a name are dropped."""
    for value in _json_values(text or ""):
        entries = _persona_list(value)
        if entries is None:
            continue
        personas = [p for p in (clean_persona(entry) for entry in entries) if p is not None]
        if personas:
            return personas
    return []


# --- the LLM writer -----------------------------------------------------------------------------

SYSTEM_PROMPT = """You invent realistic, fictional people for social media test datasets.
Answer with JSON only: an object {{"personas": [...]}} holding exactly the number of personas asked
for. Each persona is an object with these string fields: first_name, last_name, gender, ethnicity,
job_title, workplace, education, current_city, current_state, previous_city, previous_state, about,
bio_facebook, bio_instagram, bio_x, bio_tiktok; and age, an integer between 18 and 80.
Write every text (about and the four bios) in {language}. Names, places and workplaces should be
plausible for the persona description, varied, and must not be real public figures.

How to write each bio:
{bio_rules}"""

USER_PROMPT = """Persona description: {description}

Write {count} different personas (numbers {first} to {last} of this dataset).{avoid}"""


def _fill(template: str, **values: str) -> str:
    """Replace only the known {placeholders}: operators' prompts may contain other braces."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


class LLMPersonaWriter:
    name = "llm"

    def __init__(self, *, backend: AIBackend, bio_prompts: dict[str, str]):
        self.backend = backend
        self.bio_prompts = bio_prompts

    def system_prompt(self, *, language: str) -> str:
        rules = []
        for column, platform in PLATFORM_NAMES.items():
            prompt = _fill(
                self.bio_prompts.get(column) or FALLBACK_BIO_PROMPT,
                language=language,
                persona="the persona's own fields (name, age, job, cities, about)",
                platform=platform,
            )
            rules.append(f"- {column} ({platform}, at most {BIO_LIMITS[column]} characters): {prompt}")
        return SYSTEM_PROMPT.format(language=language, bio_rules="\n".join(rules))

    def write(
        self, *, description: str, language: str, count: int, start: int, avoid_names: Sequence[str] = ()
    ) -> PersonaBatch:
        count = max(1, min(MAX_BATCH, count))
        names = [n for n in avoid_names if n][-AVOID_NAMES_MAX:]
        avoid = f"\nDo not reuse these names: {', '.join(names)}." if names else ""
        prompt = USER_PROMPT.format(
            description=description, count=count, first=start + 1, last=start + count, avoid=avoid
        )
        result = self.backend.complete_text(
            system=self.system_prompt(language=language),
            prompt=prompt,
            max_tokens=TOKENS_OVERHEAD + TOKENS_PER_PERSONA * count,
        )
        raw = result.metadata.get("raw_text") if isinstance(result.metadata, dict) else None
        personas = parse_personas(raw if isinstance(raw, str) and raw.strip() else result.text)
        if not personas:
            raise AIUnavailable(
                "The AI backend's answer held no usable personas (no JSON list of named personas).",
                retry_reason="malformed",
            )
        return PersonaBatch(
            personas=personas[:count],
            metadata={
                "backend": result.backend,
                "model": result.model,
                "synthetic": True,
                "language": language,
                "asked": count,
                "usable": len(personas),
            },
        )


# --- the builtin writer (Faker) -----------------------------------------------------------------

# Language names (English and native) and codes -> a Faker locale.
LANGUAGE_LOCALES = {
    "english": "en_US",
    "german": "de_DE",
    "deutsch": "de_DE",
    "french": "fr_FR",
    "français": "fr_FR",
    "francais": "fr_FR",
    "spanish": "es_ES",
    "español": "es_ES",
    "espanol": "es_ES",
    "italian": "it_IT",
    "italiano": "it_IT",
    "portuguese": "pt_BR",
    "português": "pt_BR",
    "dutch": "nl_NL",
    "nederlands": "nl_NL",
    "polish": "pl_PL",
    "polski": "pl_PL",
    "swedish": "sv_SE",
    "danish": "da_DK",
    "norwegian": "no_NO",
    "finnish": "fi_FI",
    "czech": "cs_CZ",
    "slovak": "sk_SK",
    "hungarian": "hu_HU",
    "romanian": "ro_RO",
    "bulgarian": "bg_BG",
    "greek": "el_GR",
    "turkish": "tr_TR",
    "russian": "ru_RU",
    "ukrainian": "uk_UA",
    "croatian": "hr_HR",
    "slovenian": "sl_SI",
    "lithuanian": "lt_LT",
    "latvian": "lv_LV",
    "estonian": "et_EE",
    "hebrew": "he_IL",
    "arabic": "ar_SA",
    "persian": "fa_IR",
    "farsi": "fa_IR",
    "hindi": "hi_IN",
    "bengali": "bn_BD",
    "japanese": "ja_JP",
    "日本語": "ja_JP",
    "chinese": "zh_CN",
    "中文": "zh_CN",
    "korean": "ko_KR",
    "한국어": "ko_KR",
    "thai": "th_TH",
    "vietnamese": "vi_VN",
    "indonesian": "id_ID",
    "filipino": "fil_PH",
    "tagalog": "tl_PH",
    "armenian": "hy_AM",
    "georgian": "ka_GE",
    "irish": "ga_IE",
}
DEFAULT_LOCALE = "en_US"
# Two-letter codes whose plain form is not a Faker locale.
CODE_LOCALES = {"en": "en_US", "pt": "pt_BR", "zh": "zh_CN", "ar": "ar_SA", "ja": "ja_JP", "ko": "ko_KR"}
GENDERS = ("female", "male")
BUILTIN_NOTE = (
    "Synthetic persona from the builtin backend: names, places and jobs drawn by Faker in the "
    "locale shown; bios are fixed templates filled with those fields, not written text."
)


def faker_locale_for(language: str) -> tuple[str, bool]:
    """(Faker locale, found): the language's locale by name, code (`de`, `pt-BR`, `de_DE`), or
    en_US with found=False."""
    from faker.config import AVAILABLE_LOCALES

    text = " ".join((language or "").split()).lower()
    if text in LANGUAGE_LOCALES:
        return LANGUAGE_LOCALES[text], True
    first_word = re.split(r"[\s(,/]", text, maxsplit=1)[0] if text else ""
    if first_word in LANGUAGE_LOCALES:  # "Portuguese (Brazil)", "English / US"
        return LANGUAGE_LOCALES[first_word], True
    match = re.fullmatch(r"([a-z]{2,3})(?:[-_]([a-z]{2}))?", text)
    if match:
        code, region = match.groups()
        candidates = [f"{code}_{region.upper()}"] if region else []
        candidates += [CODE_LOCALES.get(code, ""), f"{code}_{code.upper()}", code]
        for candidate in candidates:
            if candidate in AVAILABLE_LOCALES:
                return candidate, True
        for available in sorted(AVAILABLE_LOCALES):
            if available.split("_")[0] == code:
                return available, True
    return DEFAULT_LOCALE, False


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _try(fake, *providers: str) -> str:
    """The first provider the locale has (not every locale has states, regions or prefectures)."""
    for provider in providers:
        method = getattr(fake, provider, None)
        if method is None:
            continue
        try:
            return str(method())
        except (AttributeError, ValueError, TypeError):
            continue
    return ""


class BuiltinPersonaWriter:
    """Deterministic: the same task seed, description and position give the same persona."""

    name = "builtin"

    def __init__(self, *, seed: str = ""):
        self.seed = seed

    def write(
        self, *, description: str, language: str, count: int, start: int, avoid_names: Sequence[str] = ()
    ) -> PersonaBatch:
        from faker import Faker

        locale, found = faker_locale_for(language)
        fake = Faker(locale)
        personas = []
        for position in range(start, start + max(1, min(MAX_BATCH, count))):
            fake.seed_instance(_seed(self.seed, description, language, position))
            personas.append(self._persona(fake, position=position))
        metadata = {
            "backend": "builtin",
            "synthetic": True,
            "locale": locale,
            "locale_fallback": not found,
            "language": language,
            "note": BUILTIN_NOTE
            + ("" if found else f" No Faker locale for {language!r}: {DEFAULT_LOCALE} was used."),
        }
        return PersonaBatch(personas=personas, metadata=metadata)

    def _persona(self, fake, *, position: int) -> dict[str, Any]:
        gender = GENDERS[fake.random_int(0, 1)]
        first = _try(fake, f"first_name_{gender}", "first_name")
        last = _try(fake, "last_name")
        age = fake.random_int(19, 68)
        job = _try(fake, "job")
        workplace = _try(fake, "company")
        city = _try(fake, "city")
        state = _try(fake, "state", "region", "prefecture", "province", "administrative_unit")
        previous_city = _try(fake, "city")
        previous_state = _try(fake, "state", "region", "prefecture", "province", "administrative_unit")
        education = _try(fake, "university") or f"{_try(fake, 'city')} school"
        phrase = _try(fake, "catch_phrase", "sentence")
        raw = {
            "first_name": first,
            "last_name": last,
            "gender": gender,
            "age": age,
            "ethnicity": "",
            "job_title": job,
            "workplace": workplace,
            "education": education,
            "current_city": city,
            "current_state": state,
            "previous_city": previous_city,
            "previous_state": previous_state,
            "about": f"{first} {last}, {age}. {job} at {workplace}. Lives in {city}, grew up in "
            f"{previous_city}. {phrase}",
            "bio_facebook": f"{job} at {workplace} · {city} · from {previous_city}",
            "bio_instagram": f"{first} · {age} · {city} · {job} · {phrase}",
            "bio_x": f"{job} at {workplace}. {city}. {phrase}",
            "bio_tiktok": f"{first} from {city} · {job}",
        }
        return clean_persona(raw) or {**dict.fromkeys(TEXT_FIELDS, ""), "age": age, "first_name": "?"}
