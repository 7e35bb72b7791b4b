from datetime import date

import pytest

from core.models import ConfigType
from core.services import config_set
from scraping.sources import SourceError, source_for
from scraping.sources.search import search_base_url
from tests.fakes.searxng import FakeSearxng
from tests.scraping.sources.conftest import job

pytestmark = pytest.mark.django_db


@pytest.fixture
def searx(httpserver, settings):
    fake = FakeSearxng(httpserver, page_size=10)
    settings.SCRAPING_SEARCH_URL = fake.base_url
    return fake


def discover(fetcher, keywords, **values):
    return list(source_for("web_page").discover(settings=job(**values), keywords=keywords, fetcher=fetcher))


def test_pages_through_results_until_an_empty_page(searx, fetcher):
    searx.add_results("solar", [f"https://s{n}.example/page" for n in range(25)])
    found = discover(fetcher, ["solar"])
    assert [c.url for c in found] == [f"https://s{n}.example/page" for n in range(25)]
    assert {(c.source, c.keyword, c.follow_links, c.depth) for c in found} == {("search", "solar", False, 0)}
    assert found[0].metadata == {
        "title": "Result 1 for solar",
        "snippet": "A page about solar.",
        "engine": "duckduckgo",
    }
    assert [(r.path, r.arg("q"), r.arg("format"), r.arg("pageno")) for r in searx.requests] == [
        ("/search", "solar", "json", str(n)) for n in (1, 2, 3, 4)
    ]


def test_max_items_is_shared_between_keywords_and_urls_are_not_repeated(searx, fetcher):
    searx.add_results("solar", ["https://a.example/1", "https://a.example/2", "https://a.example/3"])
    searx.add_results("wind", ["https://a.example/1", "https://b.example/1", "https://b.example/2"])
    found = discover(fetcher, ["solar", "wind"], max_items=4)
    assert [(c.url, c.keyword) for c in found] == [
        ("https://a.example/1", "solar"),
        ("https://a.example/2", "solar"),
        ("https://b.example/1", "wind"),
        ("https://b.example/2", "wind"),
    ]
    assert len(searx.requests) == 2  # each share filled from the first page


def test_allowed_domains_date_range_and_language(searx, fetcher):
    searx.add_results(
        "solar",
        [
            {"url": "https://news.gov.example/a", "publishedDate": "2024-03-01T10:00:00"},
            {"url": "https://gov.example/b"},
            {"url": "https://elsewhere.example/c"},
            {"url": "https://gov.example/old", "publishedDate": "2020-01-01T00:00:00"},
            {"url": "ftp://gov.example/file"},
        ],
    )
    found = discover(
        fetcher,
        ["solar"],
        allowed_domains=("gov.example",),
        languages=("de",),
        date_from=date(2024, 1, 1),
    )
    assert [c.url for c in found] == ["https://news.gov.example/a", "https://gov.example/b"]
    assert found[0].metadata["published"] == "2024-03-01"
    assert searx.requests[0].arg("language") == "de"


def test_no_search_server_is_a_clear_error_before_any_request(settings, fetcher):
    settings.SCRAPING_SEARCH_URL = ""
    with pytest.raises(SourceError, match="No search server is configured") as caught:
        discover(fetcher, ["solar"])
    assert caught.value.partial is False


def test_system_config_overrides_the_setting(searx, settings, fetcher):
    settings.SCRAPING_SEARCH_URL = "http://unused.invalid"
    config_set(key="scraping_search_url", value=searx.base_url + "/search/", value_type=ConfigType.STRING)
    assert search_base_url() == searx.base_url + "/search"
    searx.add_results("solar", ["https://a.example/1"])
    assert [c.url for c in discover(fetcher, ["solar"])] == ["https://a.example/1"]


def test_keywords_are_required(searx, fetcher):
    with pytest.raises(SourceError, match="at least one keyword"):
        discover(fetcher, [" "])


def test_json_output_disabled_says_how_to_fix_it(searx, fetcher):
    searx.json_enabled = False
    with pytest.raises(SourceError, match=r"refused JSON output \(HTTP 403\); enable `json`") as caught:
        discover(fetcher, ["solar"])
    assert caught.value.status == 403 and not caught.value.transient


def test_malformed_answer_is_a_clear_error_and_other_keywords_still_count(searx, fetcher):
    searx.add_results("wind", ["https://b.example/1"])
    searx.malformed_next()
    source = source_for("web_page").discover(settings=job(), keywords=["solar", "wind"], fetcher=fetcher)
    assert next(source).url == "https://b.example/1"
    with pytest.raises(
        SourceError, match="sent an unreadable answer for 'solar': the answer is not JSON"
    ) as caught:
        next(source)
    assert caught.value.partial is True and caught.value.transient is False


def test_answer_without_results_list_is_an_error(httpserver, settings, fetcher):
    settings.SCRAPING_SEARCH_URL = httpserver.url_for("/")
    httpserver.expect_request("/search").respond_with_json({"query": "solar", "error": "engines down"})
    with pytest.raises(SourceError, match="has no results list"):
        discover(fetcher, ["solar"])


def test_transient_failures_are_retried_by_the_fetcher(searx, fetcher, sleeps):
    searx.add_results("solar", ["https://a.example/1"])
    searx.rate_limit_next(retry_after="3")
    assert [c.url for c in discover(fetcher, ["solar"])] == ["https://a.example/1"]
    assert sleeps and sleeps[0] == 3.0


def test_persistent_server_errors_end_as_a_transient_source_error(searx, fetcher):
    searx.fail_next(503, times=5)
    with pytest.raises(SourceError, match="could not be fetched") as caught:
        discover(fetcher, ["solar"])
    assert caught.value.transient is True and caught.value.partial is False
    assert "q=" not in str(caught.value)  # no query string in messages
