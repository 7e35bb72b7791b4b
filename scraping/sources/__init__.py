"""Where a scraping job's URLs come from: one `Source` per job type.

    source = source_for(job.job_type)
    for candidate in source.discover(settings=job_settings, keywords=expanded, fetcher=fetcher):
        ...  # one ScrapingJobItem per candidate

| job type       | source (module)                   | Candidate.source | follow_links   |
|----------------|-----------------------------------|------------------|----------------|
| web_page       | SearXNG JSON search (search)      | search           | False          |
| url_list       | the listed URLs (url_list)        | url_list         | crawl_depth > 0|
| sitemap        | sitemaps + indexes (sitemap)      | sitemap          | False          |
| feed           | RSS / Atom (feed)                 | feed             | False          |
| paper          | arXiv, CrossRef (paper)           | arxiv / crossref | False          |
| government_doc | home page + sitemaps (government) | government       | True           |

`follow_links` marks crawl seeds: the runner follows their same-domain links up to
`crawl_depth`. Search results, sitemap and feed entries and papers are the items themselves.
Every source yields at most `max_items` distinct URLs, never the same URL twice, and makes its
requests through `fetcher.get_text` (API and XML calls; robots.txt and allowed domains are the
runner's business when it fetches the pages). Errors: see `scraping.sources.base` (a
`SourceError`, raised last, with `partial` when candidates came before it).
"""

from __future__ import annotations

from scraping.sources.base import Candidate, Source, SourceError
from scraping.sources.feed import FeedSource
from scraping.sources.government import GovernmentSource
from scraping.sources.paper import PaperSource
from scraping.sources.search import SearchSource
from scraping.sources.sitemap import SitemapSource
from scraping.sources.url_list import UrlListSource

__all__ = ["Candidate", "Source", "SourceError", "source_for"]

SOURCES: dict[str, type] = {
    "web_page": SearchSource,
    "url_list": UrlListSource,
    "sitemap": SitemapSource,
    "feed": FeedSource,
    "paper": PaperSource,
    "government_doc": GovernmentSource,
}


def source_for(job_type: str) -> Source:
    """The source of a job type; ValueError for a type that has none."""
    try:
        return SOURCES[job_type]()
    except KeyError:
        raise ValueError(f"No source for job type {job_type!r}.") from None
