import pytest

from scraping.sources import SourceError, source_for
from tests.fakes.site import FakeSite
from tests.scraping.sources.conftest import job


@pytest.fixture
def site(httpserver):
    return FakeSite(httpserver, pages=4, duplicates=0)


def discover(fetcher, **values):
    return list(source_for("government_doc").discover(settings=job(**values), keywords=[], fetcher=fetcher))


def test_home_page_and_sitemap_named_in_robots_are_crawl_seeds(site, fetcher):
    found = discover(fetcher, domains=(site.base_url,))
    assert [c.url for c in found] == [site.url("/"), *site.sitemap_urls]
    assert all(c.source == "government" and c.follow_links and c.depth == 0 for c in found)
    assert found[0].metadata == {"domain": site.host, "seed": "home"}
    assert found[1].metadata == {
        "domain": site.host,
        "seed": "sitemap",
        "sitemap": site.sitemap_url,
        "lastmod": "2024-03-01",
    }
    assert site.count("/robots.txt") == 1


def test_guessed_sitemap_when_robots_names_none(site, fetcher):
    site.robots = "User-agent: *\nDisallow: /private/\n"
    found = discover(fetcher, domains=(site.base_url,), max_items=3)
    assert [c.url for c in found] == [site.url("/"), *site.sitemap_urls[:2]]


def test_a_missing_guessed_sitemap_is_not_an_error(site, fetcher):
    site.robots = None  # robots.txt 404: allowed, no sitemaps named
    site.fail_next("/sitemap.xml", status=404, times=3)
    assert [c.url for c in discover(fetcher, domains=(site.base_url,))] == [site.url("/")]


def test_robots_disallowing_the_guessed_sitemap_is_respected(site, fetcher):
    site.robots = "User-agent: *\nDisallow: /sitemap.xml\n"
    assert [c.url for c in discover(fetcher, domains=(site.base_url,))] == [site.url("/")]
    assert site.count("/sitemap.xml") == 0


def test_other_hosts_in_the_sitemap_are_dropped_and_sites_share_max_items(site, fetcher):
    other = site.on_other_host(site.base_url)
    found = discover(fetcher, domains=(site.base_url, other), max_items=4)
    assert [c.url for c in found] == [
        site.url("/"),
        site.sitemap_urls[0],
        other + "/",
        # The other host's robots.txt names the first host's sitemap: its URLs are not on this site.
    ]


def test_a_malformed_advertised_sitemap_is_reported_after_the_seeds(site, fetcher):
    site.robots = f"User-agent: *\nSitemap: {site.url('/broken.xml')}\n"
    site.set("/broken.xml", "<urlset><url>", content_type="application/xml")
    source = source_for("government_doc").discover(
        settings=job(domains=(site.base_url,)), keywords=[], fetcher=fetcher
    )
    assert next(source).url == site.url("/")
    with pytest.raises(SourceError, match=r"broken\.xml is not a valid sitemap") as caught:
        next(source)
    assert caught.value.partial is True
