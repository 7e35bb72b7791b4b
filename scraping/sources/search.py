"""web_page jobs: keyword searches through a SearXNG-compatible JSON search API.

`GET {base}/search?q=<keyword>&format=json&pageno=<n>` answers `{"results": [{"url", "title",
"content", "publishedDate", "engine", ...}], ...}`. The base URL is the system setting
`scraping_search_url`, else `settings.SCRAPING_SEARCH_URL`; a base that already ends in
`/search` is used as it is. None configured: SourceError before any request.

Each keyword gets an equal share of `max_items` (rounded up), fetched page by page until the share
is filled, a page brings nothing new, or `MAX_PAGES` pages were read. Results outside
`allowed_domains` are dropped here (cheaper than a blocked job item each). With exactly one job
language it is passed as SearXNG's `language`; with several, the search is not narrowed (the
runner has the extracted language). The date range is not sent (SearXNG only knows day, month and
year ranges): a result's `publishedDate`, when there is one, is checked against it.

A server that answers 403 to `format=json` has JSON output disabled (SearXNG's default):
the error says to enable `json` in its `search.formats`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings as django_settings

from scraping.sources.base import (
    Budget,
    Candidate,
    Failures,
    SourceError,
    domain_allowed,
    fetch_text,
    host_of,
    in_date_range,
    is_http_url,
)
from scraping.sources.sitemap import w3c_date

if TYPE_CHECKING:
    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings

SEARCH_URL_CONFIG_KEY = "scraping_search_url"
MAX_PAGES = 5
SNIPPET_CHARS = 1000


def search_base_url() -> str:
    """The search endpoint (…/search) configured, or "" when there is none."""
    from core.selectors import config_get

    try:
        base = config_get(key=SEARCH_URL_CONFIG_KEY, default=None)
    except (ValueError, TypeError):
        base = None
    base = str(base or getattr(django_settings, "SCRAPING_SEARCH_URL", "") or "").strip()
    if not base:
        return ""
    base = base.split("?", 1)[0].rstrip("/")
    return base if base.endswith("/search") else base + "/search"


def search_results(content: bytes) -> list[dict]:
    """The `results` of a SearXNG JSON answer; ValueError with a reason when it is not one."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError("the answer has no results list")
    return [item for item in data["results"] if isinstance(item, dict)]


class SearchSource:
    name = "search"

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]:
        endpoint = search_base_url()
        if not endpoint:
            raise SourceError(
                "No search server is configured for web page jobs: set SCRAPING_SEARCH_URL or the system "
                f"setting {SEARCH_URL_CONFIG_KEY} to a SearXNG-compatible server.",
                source=self.name,
            )
        if not is_http_url(endpoint):
            raise SourceError(f"The search server URL {endpoint!r} is not an http(s) URL.", source=self.name)
        keywords = [keyword for keyword in keywords if keyword.strip()]
        if not keywords:
            raise SourceError("A web page search needs at least one keyword.", source=self.name)

        failures = Failures(self.name)
        budget = Budget(settings.max_items)
        share = max(1, math.ceil(settings.max_items / len(keywords)))
        for keyword in keywords:
            taken = 0
            for pageno in range(1, MAX_PAGES + 1):
                if budget.full or taken >= share:
                    break
                try:
                    results = self._page(fetcher, endpoint, keyword=keyword, pageno=pageno, settings=settings)
                except SourceError as exc:
                    failures.add(exc)
                    break
                new = 0
                for result in results:
                    url = str(result.get("url") or "").strip()
                    if not is_http_url(url) or url in budget.seen:
                        continue
                    new += 1
                    published = (
                        w3c_date(str(result.get("publishedDate") or ""))
                        if result.get("publishedDate")
                        else None
                    )
                    if not domain_allowed(url, settings.allowed_domains):
                        continue
                    if not in_date_range(published, settings=settings):
                        continue
                    if taken >= share or not budget.take(url):
                        break
                    taken += 1
                    yield Candidate(
                        url=url, source=self.name, keyword=keyword, metadata=_metadata(result, published)
                    )
                if new == 0:
                    break
        failures.raise_if_any(yielded=budget.count)

    def _page(
        self, fetcher, endpoint: str, *, keyword: str, pageno: int, settings: JobSettings
    ) -> list[dict]:
        query = {"q": keyword, "format": "json", "pageno": pageno}
        if len(settings.languages) == 1:
            query["language"] = settings.languages[0]
        host = host_of(endpoint)
        try:
            page = fetch_text(
                fetcher, f"{endpoint}?{urlencode(query)}", source=self.name, what=f"The search server {host}"
            )
        except SourceError as exc:
            if exc.status == 403:
                raise SourceError(
                    f"The search server {host} refused JSON output (HTTP 403); enable `json` in its "
                    "search.formats setting.",
                    source=self.name,
                    status=403,
                ) from None
            raise
        try:
            return search_results(page.content)
        except ValueError as exc:
            raise SourceError(
                f"The search server {host} sent an unreadable answer for {keyword!r}: {exc}.",
                source=self.name,
            ) from None


def _metadata(result: dict, published) -> dict:
    metadata = {}
    for key, name in (("title", "title"), ("content", "snippet"), ("engine", "engine")):
        value = result.get(key)
        if isinstance(value, str) and value.strip():
            metadata[name] = value.strip()[:SNIPPET_CHARS]
    if published:
        metadata["published"] = published.isoformat()
    return metadata
