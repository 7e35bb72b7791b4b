"""Sitemaps (sitemaps.org): `<urlset>` pages and `<sitemapindex>` indexes, nested and bounded.

- XML is parsed with defusedxml (no entity expansion, no external entities: a sitemap is input
  from the internet). Elements are matched by local name, so sitemaps without the namespace (or
  with a wrong one, common in the wild) still read. A gzip body (`.xml.gz`) is decompressed up to
  `MAX_SITEMAP_BYTES`; a plain-text sitemap (one URL a line, allowed by the protocol) is read too.
- An index is followed depth first, at most `MAX_NESTING` levels below the sitemap the job names
  and `MAX_DOCUMENTS` sitemap documents per named sitemap; a sitemap seen before is not fetched
  again (loops).
- `lastmod` and the job's date range: a URL whose lastmod is before `date_from` or after
  `date_to` is skipped; a URL without (or with an unreadable) lastmod is kept, since nothing
  says it is out of range. A child sitemap whose own lastmod is before `date_from` is not
  fetched: none of its URLs can have changed since.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from scraping.sources.base import (
    Budget,
    Candidate,
    Failures,
    SourceError,
    domain_allowed,
    fetch_text,
    in_date_range,
    is_http_url,
)

if TYPE_CHECKING:
    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings

logger = logging.getLogger(__name__)

MAX_NESTING = 3
MAX_DOCUMENTS = 50
MAX_SITEMAP_BYTES = 50_000_000  # the protocol's limit for one (uncompressed) sitemap
W3C_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class SitemapMalformed(ValueError):
    """The body is not a sitemap; the message says why (line and column for XML)."""


@dataclass(frozen=True, kw_only=True)
class SitemapEntry:
    url: str
    lastmod: date | None = None
    lastmod_text: str | None = None


@dataclass(frozen=True, kw_only=True)
class ParsedSitemap:
    is_index: bool
    entries: tuple[SitemapEntry, ...]


def w3c_date(text: str | None) -> date | None:
    """The date of a W3C Datetime (YYYY, YYYY-MM, YYYY-MM-DD, or a full timestamp); None if unreadable.

    A timestamp's own calendar date is used, without converting time zones: a day's precision is
    what the date range asks for.
    """
    if not text:
        return None
    text = text.strip()
    match = W3C_DATE_RE.match(text)
    try:
        if match:
            year, month, day = match.groups()
            return date(int(year), int(month or 1), int(day or 1))
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child_text(element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None


def sitemap_parse(content: bytes) -> ParsedSitemap:
    """A sitemap or sitemap index from its bytes (gzip, XML or plain text); SitemapMalformed if not one."""
    if content[:2] == b"\x1f\x8b":
        content = _gunzip(content)
    stripped = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SitemapMalformed("it is empty")
    if not stripped.startswith(b"<"):
        return _text_sitemap(stripped)
    try:
        root = fromstring(stripped)
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        where = f" (line {line}, column {column})" if line else ""
        raise SitemapMalformed(f"it is not well-formed XML{where}") from None
    except DefusedXmlException:
        raise SitemapMalformed("it uses XML entities or DTDs, which are refused") from None
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapMalformed(f"its root element is <{kind}>, not <urlset> or <sitemapindex>")
    child_name = "url" if kind == "urlset" else "sitemap"
    entries = []
    for element in root:
        if _local(element.tag) != child_name:
            continue
        loc = _child_text(element, "loc")
        if not loc:
            continue
        lastmod_text = _child_text(element, "lastmod")
        entries.append(SitemapEntry(url=loc, lastmod=w3c_date(lastmod_text), lastmod_text=lastmod_text))
    return ParsedSitemap(is_index=kind == "sitemapindex", entries=tuple(entries))


def _gunzip(content: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(content, MAX_SITEMAP_BYTES)
    except zlib.error:
        raise SitemapMalformed("it is not a valid gzip file") from None
    if decompressor.unconsumed_tail:
        raise SitemapMalformed(f"it is larger than {MAX_SITEMAP_BYTES:,} bytes uncompressed")
    if not decompressor.eof:
        raise SitemapMalformed("it is not a valid gzip file (truncated)")
    return out


def _text_sitemap(content: bytes) -> ParsedSitemap:
    lines = [line.strip() for line in content.decode("utf-8", errors="replace").splitlines()]
    urls = [line for line in lines if line]
    bad = next((line for line in urls if not is_http_url(line)), None)
    if bad is not None:
        raise SitemapMalformed("it is neither XML nor a text list of URLs")
    return ParsedSitemap(is_index=False, entries=tuple(SitemapEntry(url=url) for url in urls))


def sitemap_walk(
    *,
    fetcher: Fetcher,
    url: str,
    settings: JobSettings,
    source: str,
    failures: Failures,
    seen: set[str] | None = None,
) -> Iterator[tuple[SitemapEntry, str]]:
    """(entry, the sitemap it came from) for every URL entry under `url`, indexes followed.

    Failures (a sitemap unreachable or malformed, nesting too deep) are added to `failures`; the
    walk goes on with the rest.
    """
    seen = set() if seen is None else seen
    stack: list[tuple[str, int]] = [(url, 0)]
    documents = 0
    while stack:
        current, level = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if documents >= MAX_DOCUMENTS:
            logger.info("Sitemap walk from %s stopped after %d documents", url, MAX_DOCUMENTS)
            return
        documents += 1
        try:
            page = fetch_text(
                fetcher, current, source=source, what=f"The sitemap {current}", max_bytes=MAX_SITEMAP_BYTES
            )
            parsed = sitemap_parse(page.content)
        except SourceError as exc:
            failures.add(exc)
            continue
        except SitemapMalformed as exc:
            failures.add(SourceError(f"The sitemap {current} is not a valid sitemap: {exc}.", source=source))
            continue
        if not parsed.is_index:
            for entry in parsed.entries:
                yield entry, current
            continue
        if level >= MAX_NESTING:
            failures.add(
                SourceError(
                    f"The sitemap index {current} nests more than {MAX_NESTING} levels deep; "
                    "its sitemaps were not read.",
                    source=source,
                )
            )
            continue
        children = [
            entry.url
            for entry in parsed.entries
            if is_http_url(entry.url)
            and not (settings.date_from and entry.lastmod and entry.lastmod < settings.date_from)
        ]
        # Depth first, in document order: push the children reversed.
        stack.extend((child, level + 1) for child in reversed(children))


class SitemapSource:
    """sitemap jobs: every URL of the job's `sitemap_urls`, in the date range and allowed domains."""

    name = "sitemap"

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]:
        failures = Failures(self.name)
        budget = Budget(settings.max_items)
        seen: set[str] = set()
        for sitemap_url in settings.sitemap_urls:
            if budget.full:
                break
            walk = sitemap_walk(
                fetcher=fetcher,
                url=sitemap_url,
                settings=settings,
                source=self.name,
                failures=failures,
                seen=seen,
            )
            for entry, found_in in walk:
                if not (
                    is_http_url(entry.url)
                    and domain_allowed(entry.url, settings.allowed_domains)
                    and in_date_range(entry.lastmod, settings=settings)
                ):
                    continue
                if not budget.take(entry.url):
                    if budget.full:
                        break
                    continue
                metadata = {"sitemap": found_in}
                if entry.lastmod_text:
                    metadata["lastmod"] = entry.lastmod_text
                yield Candidate(url=entry.url, source=self.name, metadata=metadata)
        failures.raise_if_any(yielded=budget.count)
