"""url_list jobs: the URLs the user listed, in their order, as crawl seeds.

No request is made here: the runner fetches each URL (robots.txt, domains, size...) and, with
`crawl_depth` > 0, follows its links (`follow_links=True`). URLs outside `allowed_domains` are
still yielded, so the runner records them as blocked: the user named them and should see why
they were not stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from scraping.sources.base import Budget, Candidate

if TYPE_CHECKING:
    from scraping.fetching import Fetcher
    from scraping.job_options import JobSettings


class UrlListSource:
    name = "url_list"

    def discover(
        self, *, settings: JobSettings, keywords: Sequence[str], fetcher: Fetcher
    ) -> Iterator[Candidate]:
        budget = Budget(settings.max_items)
        for url in settings.urls:
            if budget.take(url):
                yield Candidate(url=url, source=self.name, follow_links=settings.crawl_depth > 0)
            elif budget.full:
                return
