"""A scraping job's settings: parsed, validated and typed (`JobSettings`), and stored back as text.

`job_settings_parse(job_type=..., values=...)` takes either the API's `configuration` object (JSON
types) or the job's stored `JobConfiguration` rows as `{config_key: config_value}` (JSON text).
Both go through the same path: a string value that parses as JSON is decoded first ("5" -> 5,
'"2024-01-01"' -> "2024-01-01", '["a"]' -> ["a"]); one that does not parse stays the string it is
("2024-01-01", "example.org"). A null value means "use the default".

Keys (every job type):
- `max_items` int 1..10 000 (default 100): candidate URLs the job processes at most;
- `allowed_domains` host names (default: any); a host also allows its subdomains;
- `crawl_depth` int 0..3 (default 1): links followed from a fetched page;
- `date_from` / `date_to` ISO dates (YYYY-MM-DD), date_from <= date_to;
- `languages` language codes such as "en" or "pt-BR" (default: any);
- `follow_robots` bool (default true).
Keys of one job type only (anywhere else they are refused, so a typo'd job type cannot silently
ignore what the user asked for):
- url_list: `urls` (required) 1..1000 http(s) URLs;
- sitemap: `sitemap_urls` (required) 1..100 http(s) URLs;
- feed: `feed_urls` (required) 1..100 http(s) URLs;
- government_doc: `domains` 1..100 sites, each a host name (crawled over https) or an http(s)
  origin with a port (`http://intranet.example:8080`); required unless the system setting
  `scraping_government_domains` (a JSON list of the same) gives a default;
- paper: `paper_sources` a non-empty subset of "arxiv", "crossref" (default both).
List values are JSON lists of strings; a plain string is split on commas, whitespace and new lines
(what an operator types into a configuration row). Lists are deduplicated, order kept.

Errors are one `ValidationError({"configuration.<key>": message, ...})` listing every bad key.
`job_settings_serialise` writes the common keys always and a type's own keys when they differ
from their defaults, so `job_settings_parse(job_type, job_settings_serialise(s)) == s`, and a
government job keeps the domains it was created with even if the system default changes later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from core import urlguard
from scraping.models import JobType

GOVERNMENT_DOMAINS_CONFIG_KEY = "scraping_government_domains"
PAPER_SOURCES = ("arxiv", "crossref")

MAX_ITEMS_RANGE = (1, 10_000)
CRAWL_DEPTH_RANGE = (0, 3)
MAX_URLS = 1000
MAX_FEED_URLS = 100
MAX_DOMAINS = 100
MAX_LANGUAGES = 20
MAX_URL_LENGTH = 2048

COMMON_KEYS = frozenset(
    {"max_items", "allowed_domains", "crawl_depth", "date_from", "date_to", "languages", "follow_robots"}
)
TYPE_KEYS = {
    JobType.WEB_PAGE: frozenset(),
    JobType.URL_LIST: frozenset({"urls"}),
    JobType.SITEMAP: frozenset({"sitemap_urls"}),
    JobType.FEED: frozenset({"feed_urls"}),
    JobType.GOVERNMENT_DOC: frozenset({"domains"}),
    JobType.PAPER: frozenset({"paper_sources"}),
}
REQUIRED_KEYS = {
    JobType.URL_LIST: "urls",
    JobType.SITEMAP: "sitemap_urls",
    JobType.FEED: "feed_urls",
}

HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
LIST_SPLIT_RE = re.compile(r"[\s,]+")


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    max_items: int = 100
    allowed_domains: tuple[str, ...] = ()
    crawl_depth: int = 1
    date_from: date | None = None
    date_to: date | None = None
    languages: tuple[str, ...] = ()
    follow_robots: bool = True
    urls: tuple[str, ...] = ()
    sitemap_urls: tuple[str, ...] = ()
    feed_urls: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    paper_sources: tuple[str, ...] = PAPER_SOURCES


DEFAULTS = JobSettings()


class _Invalid(Exception):
    """One key's problem; collected into the ValidationError."""


def job_settings_parse(*, job_type: str, values: dict | None) -> JobSettings:
    """Validate a job's configuration for `job_type` (see the module docstring for the rules)."""
    if job_type not in TYPE_KEYS:
        choices = ", ".join(TYPE_KEYS)
        raise ValidationError({"job_type": f"Unknown job type {job_type!r}; use one of {choices}."})
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError({"configuration": "The configuration must be an object of key/value settings."})

    allowed = COMMON_KEYS | TYPE_KEYS[job_type]
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for raw_key, raw_value in values.items():
        key = str(raw_key)
        if key not in allowed:
            errors[f"configuration.{key}"] = _unknown_key_message(key, job_type)
            continue
        value = _decode(raw_value)
        if value is None:
            continue
        try:
            parsed[key] = PARSERS[key](value)
        except _Invalid as exc:
            errors[f"configuration.{key}"] = str(exc)

    required = REQUIRED_KEYS.get(job_type)
    if required and required not in parsed and f"configuration.{required}" not in errors:
        errors[f"configuration.{required}"] = f"A {job_type} job needs {required}."
    government = job_type == JobType.GOVERNMENT_DOC
    if government and "domains" not in parsed and "configuration.domains" not in errors:
        try:
            parsed["domains"] = _government_domains_default()
        except _Invalid as exc:
            errors["configuration.domains"] = str(exc)

    date_from, date_to = parsed.get("date_from"), parsed.get("date_to")
    if date_from and date_to and date_from > date_to:
        errors["configuration.date_from"] = "date_from must not be after date_to."

    if errors:
        raise ValidationError(errors)
    return JobSettings(**parsed)


def job_settings_serialise(settings: JobSettings) -> dict[str, str]:
    """key -> JSON text, one `JobConfiguration` row each; parses back to the same settings."""
    out: dict[str, str] = {}
    for f in fields(JobSettings):
        value = getattr(settings, f.name)
        if f.name not in COMMON_KEYS and value == getattr(DEFAULTS, f.name):
            continue
        if value is None:
            continue
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = json.dumps(value)
    return out


# Decoding and per-key parsers ---------------------------------------------------------------------


def _decode(value: Any) -> Any:
    """JSON text -> its value; anything else (API JSON types, undecodable text) as it is."""
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        try:
            return json.loads(stripped)
        except ValueError:
            return stripped
    return value


def _unknown_key_message(key: str, job_type: str) -> str:
    for other_type, keys in TYPE_KEYS.items():
        if key in keys:
            return f"{key} applies to {other_type} jobs, not to {job_type} jobs."
    known = ", ".join(sorted(COMMON_KEYS | TYPE_KEYS[job_type]))
    return f"Unknown setting {key!r}; a {job_type} job accepts: {known}."


def _int_in(value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"Must be a whole number from {low} to {high}.")
    if isinstance(value, float):
        if not value.is_integer():
            raise _Invalid(f"Must be a whole number from {low} to {high}.")
        value = int(value)
    if not low <= value <= high:
        raise _Invalid(f"Must be from {low} to {high}.")
    return value


def _max_items(value: Any) -> int:
    return _int_in(value, low=MAX_ITEMS_RANGE[0], high=MAX_ITEMS_RANGE[1])


def _crawl_depth(value: Any) -> int:
    return _int_in(value, low=CRAWL_DEPTH_RANGE[0], high=CRAWL_DEPTH_RANGE[1])


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("Must be true or false.")
    return value


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise _Invalid("Must be a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"{value[:40]!r} is not a date as YYYY-MM-DD.") from None


def _string_list(value: Any, *, max_len: int) -> list[str]:
    if isinstance(value, str):
        value = [part for part in LIST_SPLIT_RE.split(value) if part]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid("Must be a list of strings.")
    items = _dedupe(item.strip() for item in value if item.strip())
    if len(items) > max_len:
        raise _Invalid(f"At most {max_len} entries.")
    return items


def _dedupe(items) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def host_normalise(value: str) -> str | None:
    """A bare host name, lower case, IDNA-encoded; None if it is not one.

    Accepts "Example.org", "example.org." and a URL ("https://example.org/path" -> "example.org"),
    which is what people paste; single-label intranet names ("intranet", "localhost") too.
    """
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    text = text.rstrip(".")
    if not text or len(text) > 253:
        return None
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = text.split(".")
    if not all(HOST_LABEL_RE.match(label) for label in labels):
        return None
    return text


def _allowed_domains(value: Any) -> tuple[str, ...]:
    hosts = []
    for item in _string_list(value, max_len=MAX_DOMAINS):
        host = host_normalise(item)
        if host is None:
            raise _Invalid(f"{item[:100]!r} is not a host name such as example.org.")
        hosts.append(host)
    return tuple(_dedupe(hosts))


def site_normalise(value: str) -> str | None:
    """A government site: a bare host ("example.gov", crawled over https) or an origin
    ("http://example.gov:8080", path dropped) for a site on another scheme or port; None if neither."""
    text = value.strip()
    if "://" not in text:
        return host_normalise(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = host_normalise(parts.hostname or "")
    if parts.scheme.lower() not in ("http", "https") or host is None:
        return None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


def _domains(value: Any) -> tuple[str, ...]:
    items = _string_list(value, max_len=MAX_DOMAINS)
    sites = []
    for item in items:
        site = site_normalise(item)
        if site is None:
            raise _Invalid(f"{item[:100]!r} is not a host name such as example.gov or an http(s) origin.")
        _check_outbound(site if "://" in site else f"https://{site}")
        sites.append(site)
    if not sites:
        raise _Invalid("Give at least one host name.")
    return tuple(_dedupe(sites))


def _check_outbound(url: str) -> None:
    # Literal addresses only: names are looked up when the fetcher connects, and checked again then.
    try:
        urlguard.check_url(url, resolve=False)
    except urlguard.OutboundRefused as exc:
        raise _Invalid(str(exc)) from None


def _urls_parser(max_len: int):
    def parse(value: Any) -> tuple[str, ...]:
        items = _string_list(value, max_len=max_len)
        if not items:
            raise _Invalid(f"Give 1 to {max_len} http(s) URLs.")
        for item in items:
            if len(item) > MAX_URL_LENGTH:
                raise _Invalid(f"A URL may have at most {MAX_URL_LENGTH} characters.")
            try:
                parts = urlsplit(item)
                valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:
                valid = False
            if not valid:
                raise _Invalid(f"{item[:100]!r} is not an http(s) URL with a host.")
            _check_outbound(item)
        return tuple(items)

    return parse


def _languages(value: Any) -> tuple[str, ...]:
    items = _string_list(value, max_len=MAX_LANGUAGES)
    out = []
    for item in items:
        code = item.lower().replace("_", "-")
        if not LANGUAGE_RE.match(code):
            raise _Invalid(f"{item[:20]!r} is not a language code such as en or pt-BR.")
        out.append(code)
    return tuple(_dedupe(out))


def _paper_sources(value: Any) -> tuple[str, ...]:
    items = [item.lower() for item in _string_list(value, max_len=len(PAPER_SOURCES))]
    unknown = [item for item in items if item not in PAPER_SOURCES]
    if unknown:
        raise _Invalid(f"Unknown paper source {unknown[0][:40]!r}; use {', '.join(PAPER_SOURCES)}.")
    if not items:
        raise _Invalid(f"Give at least one of {', '.join(PAPER_SOURCES)}.")
    return tuple(_dedupe(items))


def _government_domains_default() -> tuple[str, ...]:
    from core.selectors import config_get

    try:
        value = config_get(key=GOVERNMENT_DOMAINS_CONFIG_KEY)
    except (ValueError, TypeError):
        value = None
    if not value:
        raise _Invalid(
            "A government_doc job needs domains (no default: the system setting "
            f"{GOVERNMENT_DOMAINS_CONFIG_KEY} is not set)."
        )
    try:
        return _domains(value)
    except _Invalid as exc:
        raise _Invalid(f"The system setting {GOVERNMENT_DOMAINS_CONFIG_KEY} is invalid: {exc}") from None


PARSERS = {
    "max_items": _max_items,
    "allowed_domains": _allowed_domains,
    "crawl_depth": _crawl_depth,
    "date_from": _date,
    "date_to": _date,
    "languages": _languages,
    "follow_robots": _bool,
    "urls": _urls_parser(MAX_URLS),
    "sitemap_urls": _urls_parser(MAX_FEED_URLS),
    "feed_urls": _urls_parser(MAX_FEED_URLS),
    "domains": _domains,
    "paper_sources": _paper_sources,
}
