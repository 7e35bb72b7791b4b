import gzip
from datetime import date

import pytest

from scraping.sources import SourceError, source_for
from scraping.sources.sitemap import MAX_NESTING, SitemapMalformed, sitemap_parse, w3c_date
from tests.fakes.site import FakeSite
from tests.scraping.sources.conftest import job

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
XML = "application/xml; charset=utf-8"


def urlset(entries) -> str:
    body = "".join(
        f"<url><loc>{loc}</loc>{f'<lastmod>{lastmod}</lastmod>' if lastmod else ''}</url>"
        for loc, lastmod in entries
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{body}</urlset>'


def index(entries) -> str:
    body = "".join(
        f"<sitemap><loc>{loc}</loc>{f'<lastmod>{lastmod}</lastmod>' if lastmod else ''}</sitemap>"
        for loc, lastmod in entries
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {NS}>{body}</sitemapindex>'


@pytest.fixture
def site(httpserver):
    return FakeSite(httpserver, pages=3, duplicates=0)


def discover(fetcher, **values):
    return list(source_for("sitemap").discover(settings=job(**values), keywords=[], fetcher=fetcher))


def test_nested_index_gzip_and_lastmod_date_range(site, fetcher):
    u = site.url
    site.set(
        "/sitemap_index.xml",
        index(
            [
                (u("/sitemaps/news.xml"), "2024-03-01"),
                (u("/sitemaps/archive.xml"), "2019-05-01"),  # changed before date_from: never fetched
                (u("/sitemaps/more-index.xml"), None),
            ]
        ),
        content_type=XML,
    )
    site.set(
        "/sitemaps/news.xml",
        urlset(
            [
                (u("/news/1"), "2024-02-10T08:00:00+01:00"),
                (u("/news/2"), "2023-12-31"),  # before the range
                (u("/news/3"), None),  # undated: kept
                (u("/news/4"), "2025-01-01"),  # after the range
                (u("/news/5"), "2024-06"),  # month precision: 2024-06-01
            ]
        ),
        content_type=XML,
    )
    site.set("/sitemaps/archive.xml", urlset([(u("/old/1"), "2019-01-01")]), content_type=XML)
    site.set("/sitemaps/more-index.xml", index([(u("/sitemaps/pages.xml.gz"), None)]), content_type=XML)
    site.set(
        "/sitemaps/pages.xml.gz",
        gzip.compress(urlset([(u("/p/1"), "2024-05-05"), (u("/p/2"), "not a date")]).encode()),
        content_type="application/x-gzip",
    )
    found = discover(
        fetcher,
        sitemap_urls=(u("/sitemap_index.xml"),),
        date_from=date(2024, 1, 1),
        date_to=date(2024, 12, 31),
    )
    assert [c.url for c in found] == [u("/news/1"), u("/news/3"), u("/news/5"), u("/p/1"), u("/p/2")]
    assert found[0].source == "sitemap" and found[0].follow_links is False
    assert found[0].metadata == {"sitemap": u("/sitemaps/news.xml"), "lastmod": "2024-02-10T08:00:00+01:00"}
    assert site.count("/sitemaps/archive.xml") == 0


def test_max_items_stops_before_fetching_more_sitemaps(site, fetcher):
    u = site.url
    site.set("/a.xml", urlset([(u("/a/1"), None), (u("/a/2"), None)]), content_type=XML)
    site.set("/b.xml", urlset([(u("/b/1"), None)]), content_type=XML)
    found = discover(fetcher, sitemap_urls=(u("/a.xml"), u("/b.xml")), max_items=2)
    assert [c.url for c in found] == [u("/a/1"), u("/a/2")]
    assert site.count("/b.xml") == 0


def test_allowed_domains_filter_entries(site, fetcher):
    u = site.url
    site.set("/mixed.xml", urlset([(u("/mine"), None), ("https://other.example/x", None)]), content_type=XML)
    found = discover(fetcher, sitemap_urls=(u("/mixed.xml"),), allowed_domains=(site.host,))
    assert [c.url for c in found] == [u("/mine")]


def test_nesting_is_bounded_and_loops_end(site, fetcher):
    u = site.url
    for level in range(MAX_NESTING + 2):
        site.set(f"/deep/{level}.xml", index([(u(f"/deep/{level + 1}.xml"), None)]), content_type=XML)
    site.set("/loop.xml", index([(u("/loop.xml"), None), (u("/leaf.xml"), None)]), content_type=XML)
    site.set("/leaf.xml", urlset([(u("/leaf"), None)]), content_type=XML)
    source = source_for("sitemap").discover(
        settings=job(sitemap_urls=(u("/loop.xml"), u("/deep/0.xml"))), keywords=[], fetcher=fetcher
    )
    assert next(source).url == u("/leaf")
    with pytest.raises(SourceError, match=f"nests more than {MAX_NESTING} levels deep") as caught:
        next(source)
    assert caught.value.partial is True
    assert site.count("/loop.xml") == 1
    assert site.count(f"/deep/{MAX_NESTING + 1}.xml") == 0


def test_malformed_xml_is_a_clear_error_and_other_sitemaps_still_count(site, fetcher):
    u = site.url
    site.set("/broken.xml", f"<urlset {NS}><url><loc>{u('/x')}</loc>", content_type=XML)
    site.set("/good.xml", urlset([(u("/good"), None)]), content_type=XML)
    source = source_for("sitemap").discover(
        settings=job(sitemap_urls=(u("/broken.xml"), u("/good.xml"))), keywords=[], fetcher=fetcher
    )
    assert next(source).url == u("/good")
    with pytest.raises(
        SourceError, match=r"/broken.xml is not a valid sitemap: it is not well-formed XML \(line 1"
    ):
        next(source)


def test_unreachable_sitemap_alone_is_a_non_partial_error(site, fetcher):
    with pytest.raises(SourceError, match="could not be fetched") as caught:
        discover(fetcher, sitemap_urls=(site.url("/nope.xml"),))
    assert caught.value.partial is False and caught.value.status == 404


def test_sitemap_parse_formats():
    plain = sitemap_parse(b"https://a.example/1\n\nhttps://a.example/2\n")
    assert [e.url for e in plain.entries] == ["https://a.example/1", "https://a.example/2"]
    no_namespace = sitemap_parse(
        b"<urlset><url><loc> https://a.example/1 </loc></url><url><loc></loc></url></urlset>"
    )
    assert [e.url for e in no_namespace.entries] == ["https://a.example/1"]
    assert sitemap_parse(index([("https://a.example/s.xml", "2024")]).encode()).is_index


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<html><body>Not here</body></html>", "root element is <html>"),
        (b"<urlset><url>", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<urlset><url><loc>&lol2;</loc></url></urlset>",
            "entities or DTDs",
        ),
        (b"just some words", "neither XML nor a text list"),
        (b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
    ],
)
def test_sitemap_parse_refuses_what_is_not_a_sitemap(body, message):
    with pytest.raises(SitemapMalformed, match=message):
        sitemap_parse(body)


def test_w3c_dates():
    assert w3c_date("2024") == date(2024, 1, 1)
    assert w3c_date("2024-02") == date(2024, 2, 1)
    assert w3c_date("2024-02-29") == date(2024, 2, 29)
    assert w3c_date("2024-02-29T23:30:00Z") == date(2024, 2, 29)
    assert w3c_date("2024-02-29T23:30+02:00") == date(2024, 2, 29)
    assert w3c_date("yesterday") is None
    assert w3c_date("2023-02-30") is None
    assert w3c_date(None) is None
