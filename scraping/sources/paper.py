"""paper jobs: arXiv and CrossRef (`JobSettings.paper_sources`), each keyword in turn.

Each (paper source, keyword) pair gets an equal share of `max_items` (rounded up, at most
`MAX_ROWS` per request); one request per pair. A work already found (same URL) is not repeated.
Candidates carry the paper's metadata (scraping.sources.arxiv / .crossref) and `paper_source`.
A failing API (down, malformed answer) is reported at the end; the other one's papers still count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from django.conf import settings as django_settings

from scraping.sources.arxiv import ArxivMalformed, arxiv_entries, arxiv_query_url
from scraping.sources.base import (
    Budget,
    Candidate,
    Failures,
    SourceError,
    domain_allowed,
    fetch_text,
    host_of,
    in_date_range,
)
from scraping.sources.crossref import CrossrefMalformed, crossref_items, crossref_query_url

if TYPE_CHECKING:
    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings

MAX_ROWS = 100
DEFAULT_ARXIV_URL = "https://export.arxiv.org"
DEFAULT_CROSSREF_URL = "https://api.crossref.org"


class PaperSource:
    name = "paper"

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]:
        keywords = [keyword for keyword in keywords if keyword.strip()]
        if not keywords:
            raise SourceError("A paper search needs at least one keyword.", source=self.name)
        failures = Failures(self.name)
        budget = Budget(settings.max_items)
        sources = list(settings.paper_sources)
        share = min(MAX_ROWS, max(1, math.ceil(settings.max_items / (len(keywords) * len(sources)))))
        for keyword in keywords:
            for paper_source in sources:
                if budget.full:
                    break
                try:
                    works = self._search(
                        paper_source, fetcher, keyword=keyword, rows=share, settings=settings
                    )
                except SourceError as exc:
                    failures.add(exc)
                    continue
                for work in works:
                    if not (
                        domain_allowed(work["url"], settings.allowed_domains)
                        and in_date_range(work["published"], settings=settings)
                    ):
                        continue
                    if not budget.take(work["url"]):
                        if budget.full:
                            break
                        continue
                    metadata = {**work["metadata"], "paper_source": paper_source}
                    yield Candidate(url=work["url"], source=paper_source, keyword=keyword, metadata=metadata)
        failures.raise_if_any(yielded=budget.count)

    def _search(
        self, paper_source: str, fetcher, *, keyword: str, rows: int, settings: JobSettings
    ) -> list[dict]:
        if paper_source == "arxiv":
            base = getattr(django_settings, "ARXIV_API_URL", "") or DEFAULT_ARXIV_URL
            url = arxiv_query_url(
                base=base,
                keyword=keyword,
                max_results=rows,
                date_from=settings.date_from,
                date_to=settings.date_to,
            )
            parse, malformed, label = arxiv_entries, ArxivMalformed, "arXiv"
        else:
            base = getattr(django_settings, "CROSSREF_API_URL", "") or DEFAULT_CROSSREF_URL
            url = crossref_query_url(
                base=base,
                keyword=keyword,
                rows=rows,
                date_from=settings.date_from,
                date_to=settings.date_to,
                mailto=getattr(django_settings, "CROSSREF_MAILTO", "") or "",
            )
            parse, malformed, label = crossref_items, CrossrefMalformed, "CrossRef"
        what = f"{label} ({host_of(base)}) for {keyword!r}"
        page = fetch_text(fetcher, url, source=paper_source, what=what)
        try:
            return parse(page.content)
        except malformed as exc:
            raise SourceError(f"{what} sent an unreadable answer: {exc}.", source=paper_source) from None
