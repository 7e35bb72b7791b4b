"""RSS 2.0 / Atom (and RSS 1.0) feeds through feedparser: each entry's link, title and date.

feedparser is handed the fetched bytes, never a URL (it would fetch by itself, past the Fetcher's
guards), with the final URL as base for relative links. It is lenient by design: a feed with a
small defect (a wrong declared encoding, an undefined entity) still gives its entries, and only a
body in which it finds no feed at all is an error ("not a valid RSS or Atom feed").

Entry date: `published`, else `updated`. The job's date range is applied to it; an undated entry
is kept. An entry's link is its `link` (Atom rel=alternate / RSS <link>), else an RSS <guid> that
is a URL. A candidate's `keyword` is the first job keyword found in the entry's title or summary
(informational: entries are not filtered by keyword, the feed is what the user chose).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from xml.sax import SAXException, SAXParseException

import feedparser

from scraping.sources.base import (
    Budget,
    Candidate,
    Failures,
    SourceError,
    domain_allowed,
    fetch_text,
    in_date_range,
    is_http_url,
    keyword_matching,
)

if TYPE_CHECKING:
    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings

SUMMARY_CHARS = 1000


class FeedMalformed(ValueError):
    pass


def feed_entries(content: bytes, *, base_url: str, content_type: str = "") -> list[dict]:
    """The entries of a feed as plain dicts: url, title, published (date|None), summary, author, id.

    FeedMalformed when the body holds no RSS or Atom feed, or is broken XML with no usable entry.
    """
    headers = {"content-location": base_url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(
        content, response_headers=headers, sanitize_html=False, resolve_relative_uris=True
    )
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version") and not parsed.entries:
        raise FeedMalformed("it is not a valid RSS or Atom feed" + _where(problem))
    entries = []
    for entry in parsed.entries:
        url = (entry.get("link") or "").strip()
        guid = (entry.get("id") or "").strip()
        if not url and is_http_url(guid):
            url = guid
        if not url:
            continue
        url = urljoin(base_url, url)
        struct = entry.get("published_parsed") or entry.get("updated_parsed")
        published = date(struct.tm_year, struct.tm_mon, struct.tm_mday) if struct else None
        entries.append(
            {
                "url": url,
                "title": (entry.get("title") or "").strip() or None,
                "published": published,
                "summary": (entry.get("summary") or "").strip()[:SUMMARY_CHARS] or None,
                "author": (entry.get("author") or "").strip() or None,
                "id": guid or None,
            }
        )
    if not entries and isinstance(problem, SAXException):
        raise FeedMalformed("it is not well-formed XML" + _where(problem))
    return entries


def _where(problem) -> str:
    if isinstance(problem, SAXParseException):
        return f" (line {problem.getLineNumber()}, column {problem.getColumnNumber()})"
    return ""


class FeedSource:
    """feed jobs: the entries of every feed in `feed_urls`, in the date range and allowed domains."""

    name = "feed"

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]:
        failures = Failures(self.name)
        budget = Budget(settings.max_items)
        for feed_url in settings.feed_urls:
            if budget.full:
                break
            try:
                page = fetch_text(fetcher, feed_url, source=self.name, what=f"The feed {feed_url}")
                content_type = page.content_type + (f"; charset={page.charset}" if page.charset else "")
                entries = feed_entries(page.content, base_url=page.url, content_type=content_type)
            except SourceError as exc:
                failures.add(exc)
                continue
            except FeedMalformed as exc:
                failures.add(SourceError(f"The feed {feed_url} could not be read: {exc}.", source=self.name))
                continue
            for entry in entries:
                if not (
                    is_http_url(entry["url"])
                    and domain_allowed(entry["url"], settings.allowed_domains)
                    and in_date_range(entry["published"], settings=settings)
                ):
                    continue
                if not budget.take(entry["url"]):
                    if budget.full:
                        break
                    continue
                metadata = {"feed": feed_url}
                for key in ("title", "summary", "author", "id"):
                    if entry[key]:
                        metadata[key] = entry[key]
                if entry["published"]:
                    metadata["published"] = entry["published"].isoformat()
                text = " ".join(filter(None, (entry["title"], entry["summary"])))
                yield Candidate(
                    url=entry["url"],
                    source=self.name,
                    keyword=keyword_matching(text, keywords),
                    metadata=metadata,
                )
        failures.raise_if_any(yielded=budget.count)
