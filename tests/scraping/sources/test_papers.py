from datetime import date

import pytest

from scraping.sources import SourceError, source_for
from scraping.sources.arxiv import ArxivMalformed, arxiv_entries, arxiv_query_url
from scraping.sources.crossref import CrossrefMalformed, crossref_items
from tests.fakes.arxiv import FakeArxiv
from tests.fakes.crossref import FakeCrossref
from tests.scraping.sources.conftest import job


@pytest.fixture
def arxiv(httpserver, settings):
    fake = FakeArxiv(httpserver)
    settings.ARXIV_API_URL = fake.base_url
    fake.add_paper(
        "2401.01234",
        title="Solar cells at scale: a survey of deployment",
        abstract="We survey solar deployment across regions.",
        authors=["Ada Example", "Grace Example"],
        published="2024-01-05",
        categories=["physics.app-ph", "cs.CY"],
        doi="10.1000/solar.survey",
        journal_ref="J. Examples 7 (2024) 1-12",
    )
    fake.add_paper("2302.00001", title="Wind only", abstract="Nothing about the sun.", published="2023-02-01")
    fake.add_paper("2212.99999", title="Old solar notes", published="2022-12-24", pdf=False)
    return fake


@pytest.fixture
def crossref(httpserver, settings):
    fake = FakeCrossref(httpserver)
    settings.CROSSREF_API_URL = fake.base_url
    settings.CROSSREF_MAILTO = "ops@example.org"
    fake.add_work(
        "10.1000/solar.1",
        title="Solar policy in practice",
        authors=[("Ada", "Example"), ("Alan", "Sample")],
        published=[2023, 5, 2],
        abstract="<jats:p>Solar <jats:italic>policy</jats:italic> works.</jats:p>",
        journal="Journal of Energy",
    )
    fake.add_work("10.1000/solar.2", title="Solar yearbook", published=[2021], pdf=False, work_type="book")
    return fake


def discover(fetcher, keywords, **values):
    return list(source_for("paper").discover(settings=job(**values), keywords=keywords, fetcher=fetcher))


def test_arxiv_fixture_parsed_into_candidates_with_metadata(arxiv, fetcher):
    found = discover(fetcher, ["solar"], paper_sources=("arxiv",))
    assert [c.url for c in found] == [arxiv.pdf_url("2401.01234"), arxiv.abs_url("2212.99999")]
    paper = found[0]
    assert (paper.source, paper.keyword, paper.follow_links) == ("arxiv", "solar", False)
    assert paper.metadata == {
        "title": "Solar cells at scale: a survey of deployment",
        "authors": ["Ada Example", "Grace Example"],
        "published": "2024-01-05",
        "updated": "2024-01-05",
        "doi": "10.1000/solar.survey",
        "abstract": "We survey solar deployment across regions.",
        "arxiv_id": "2401.01234v1",
        "categories": ["physics.app-ph", "cs.CY"],
        "primary_category": "physics.app-ph",
        "journal_ref": "J. Examples 7 (2024) 1-12",
        "abs_url": arxiv.abs_url("2401.01234"),
        "pdf_url": arxiv.pdf_url("2401.01234"),
        "paper_source": "arxiv",
    }
    assert found[1].metadata["pdf_url"] is None
    request = arxiv.requests[0]
    assert (request.path, request.arg("search_query"), request.arg("start")) == (
        "/api/query",
        "all:solar",
        "0",
    )


def test_arxiv_phrase_and_date_range_query(arxiv, fetcher):
    found = discover(
        fetcher, ["solar deployment"], paper_sources=("arxiv",), date_from=date(2024, 1, 1), max_items=5
    )
    assert [c.metadata["arxiv_id"] for c in found] == ["2401.01234v1"]
    query = arxiv.requests[0].arg("search_query")
    assert query == 'all:"solar deployment" AND submittedDate:[202401010000 TO 999912312359]'
    assert arxiv.requests[0].arg("max_results") == "5"


def test_dates_are_checked_on_our_side_too(httpserver, settings, fetcher, arxiv):
    # A server that ignores submittedDate cannot widen the range.
    assert [
        c.url for c in discover(fetcher, ["solar"], paper_sources=("arxiv",), date_to=date(2022, 12, 31))
    ] == [arxiv.abs_url("2212.99999")]


def test_crossref_fixture_parsed_into_candidates_with_metadata(crossref, fetcher):
    found = discover(fetcher, ["solar"], paper_sources=("crossref",), max_items=10)
    assert [c.url for c in found] == [
        crossref.pdf_url("10.1000/solar.1"),
        "http://dx.doi.org/10.1000/solar.2",
    ]
    work = found[0]
    assert (work.source, work.keyword) == ("crossref", "solar")
    assert work.metadata == {
        "title": "Solar policy in practice",
        "authors": ["Ada Example", "Alan Sample"],
        "doi": "10.1000/solar.1",
        "published": "2023-05-02",
        "publisher": "Example Press",
        "container_title": "Journal of Energy",
        "type": "journal-article",
        "abstract": "Solar policy works.",
        "subject": ["Energy"],
        "link_url": crossref.pdf_url("10.1000/solar.1"),
        "paper_source": "crossref",
    }
    assert found[1].metadata["published"] == "2021"
    request = crossref.requests[0]
    assert (request.arg("query"), request.arg("rows"), request.arg("mailto")) == (
        "solar",
        "10",
        "ops@example.org",
    )
    assert request.arg("filter") is None


def test_crossref_date_filter_and_no_mailto(crossref, settings, fetcher):
    settings.CROSSREF_MAILTO = ""
    found = discover(
        fetcher,
        ["solar"],
        paper_sources=("crossref",),
        date_from=date(2022, 1, 1),
        date_to=date(2023, 12, 31),
    )
    assert [c.metadata["doi"] for c in found] == ["10.1000/solar.1"]
    assert crossref.requests[0].arg("filter") == "from-pub-date:2022-01-01,until-pub-date:2023-12-31"
    assert crossref.mailtos == [None]


def test_both_sources_share_max_items_per_keyword(arxiv, crossref, fetcher):
    found = discover(fetcher, ["solar", "wind"], max_items=4)
    assert [(c.source, c.keyword) for c in found] == [
        ("arxiv", "solar"),
        ("crossref", "solar"),
        ("arxiv", "wind"),
    ]
    assert [r.arg("max_results") for r in arxiv.requests] == ["1", "1"]
    assert [r.arg("rows") for r in crossref.requests] == ["1", "1"]


def test_malformed_arxiv_answer_is_a_clear_error_and_crossref_still_counts(arxiv, crossref, fetcher):
    arxiv.malformed_next()
    source = source_for("paper").discover(settings=job(), keywords=["solar"], fetcher=fetcher)
    assert [next(source).source, next(source).source] == ["crossref", "crossref"]
    with pytest.raises(
        SourceError,
        match=r"arXiv \(localhost\) for 'solar' sent an unreadable answer: the answer is "
        r"not well-formed XML",
    ) as caught:
        next(source)
    assert caught.value.partial is True and caught.value.transient is False


def test_malformed_crossref_answer_is_a_clear_error(crossref, fetcher):
    crossref.malformed_next()
    with pytest.raises(
        SourceError, match=r"CrossRef .* sent an unreadable answer: the answer is not JSON"
    ) as caught:
        discover(fetcher, ["solar"], paper_sources=("crossref",))
    assert caught.value.partial is False


def test_crossref_validation_failure_and_unavailable(crossref, fetcher):
    crossref.fail_next(400, body={"status": "failed", "message-type": "validation-failure", "message": []})
    with pytest.raises(SourceError, match="HTTP 400"):
        discover(fetcher, ["solar"], paper_sources=("crossref",))
    crossref.fail_next(503, times=2)
    with pytest.raises(SourceError, match="unavailable") as caught:
        discover(fetcher, ["solar"], paper_sources=("crossref",))
    assert caught.value.transient is True


def test_keywords_are_required(fetcher):
    with pytest.raises(SourceError, match="needs at least one keyword"):
        discover(fetcher, [], paper_sources=("arxiv",))


def test_arxiv_error_feed_and_other_bad_bodies():
    error_feed = FakeArxiv._error_feed(None, None).encode()
    with pytest.raises(ArxivMalformed, match="arXiv refused the query: incorrect id format for"):
        arxiv_entries(error_feed)
    with pytest.raises(ArxivMalformed, match="not an Atom feed"):
        arxiv_entries(b'<rss version="2.0"/>')
    with pytest.raises(ArxivMalformed, match="not well-formed XML"):
        arxiv_entries(b"<feed")
    assert arxiv_query_url(base="https://export.arxiv.org/", keyword="x", max_results=3) == (
        "https://export.arxiv.org/api/query?search_query=all%3Ax&start=0&max_results=3"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"status": "failed", "message": [{"message": "Bad rows"}]}', "status is 'failed': Bad rows"),
        (b'{"status": "ok", "message": {"total-results": 0}}', "no message.items list"),
    ],
)
def test_crossref_bad_bodies(body, message):
    with pytest.raises(CrossrefMalformed, match=message):
        crossref_items(body)


def test_crossref_items_tolerate_odd_works():
    body = (
        b'{"status": "ok", "message": {"items": ["junk", {"title": ["No way to reach it"]},'
        b'{"DOI": "10.1/x", "author": [{"name": "The Consortium"}, {"family": "Solo"}],'
        b' "issued": {"date-parts": [[null]]}, "published-online": {"date-parts": [[2020, 2]]}}]}}'
    )
    [work] = crossref_items(body)
    assert work["url"] == "https://doi.org/10.1/x"
    assert work["metadata"]["authors"] == ["The Consortium", "Solo"]
    assert (work["metadata"]["published"], work["published"]) == ("2020-02", date(2020, 2, 1))
