from scraping.sources import Candidate, source_for
from tests.scraping.sources.conftest import job


def test_url_list_yields_the_listed_urls_as_crawl_seeds(fetcher):
    urls = ("https://a.example/1", "https://b.example/2", "https://c.example/3")
    found = list(source_for("url_list").discover(settings=job(urls=urls), keywords=[], fetcher=fetcher))
    assert found == [Candidate(url=url, source="url_list", follow_links=True) for url in urls]


def test_url_list_respects_max_items_and_depth_zero(fetcher):
    urls = ("https://a.example/1", "https://a.example/1", "https://b.example/2", "https://c.example/3")
    settings = job(urls=urls, max_items=2, crawl_depth=0)
    found = list(source_for("url_list").discover(settings=settings, keywords=[], fetcher=fetcher))
    assert [(c.url, c.follow_links) for c in found] == [
        ("https://a.example/1", False),
        ("https://b.example/2", False),
    ]


def test_source_for_every_job_type():
    from scraping.models import JobType

    names = {job_type: source_for(job_type).name for job_type in JobType.values}
    assert names == {
        "web_page": "search",
        "url_list": "url_list",
        "sitemap": "sitemap",
        "feed": "feed",
        "paper": "paper",
        "government_doc": "government",
    }
