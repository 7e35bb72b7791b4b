from datetime import date

import pytest

from scraping.sources import SourceError, source_for
from scraping.sources.feed import FeedMalformed, feed_entries
from tests.fakes.site import FakeSite
from tests.scraping.sources.conftest import job

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Energy news</title>
    <link>{base}/</link>
    <description>News</description>
    <item>
      <title>Solar tariffs cut</title>
      <link>{base}/news/solar-tariffs</link>
      <description>&lt;p&gt;The solar tariff falls.&lt;/p&gt;</description>
      <pubDate>Tue, 05 Mar 2024 09:30:00 +0000</pubDate>
      <guid isPermaLink="true">{base}/news/solar-tariffs</guid>
      <dc:creator>Ada Example</dc:creator>
    </item>
    <item>
      <title>Old wind story</title>
      <link>/news/old-wind</link>
      <pubDate>Sun, 01 Jan 2023 00:00:00 +0000</pubDate>
    </item>
    <item>
      <title>Relative link, undated</title>
      <link>/news/undated</link>
    </item>
    <item>
      <title>Only a guid</title>
      <guid>{base}/news/guid-only</guid>
      <pubDate>Wed, 06 Mar 2024 10:00:00 GMT</pubDate>
    </item>
    <item><title>No link at all</title></item>
  </channel>
</rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}/blog/">
  <title>Grid blog</title>
  <id>urn:uuid:60a76c80-d399-11d9-b91C-0003939e0af6</id>
  <updated>2024-04-02T18:30:02Z</updated>
  <entry>
    <title>Storage doubles</title>
    <link rel="alternate" type="text/html" href="posts/storage"/>
    <link rel="edit" href="{base}/edit/storage"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2024-04-02T18:30:02Z</updated>
    <summary>Battery storage doubled this year.</summary>
    <author><name>Grace Example</name></author>
  </entry>
  <entry>
    <title>Published earlier, updated later</title>
    <link href="{base}/blog/posts/early"/>
    <id>urn:uuid:2</id>
    <published>2023-11-01T00:00:00Z</published>
    <updated>2024-04-01T00:00:00Z</updated>
  </entry>
</feed>"""


@pytest.fixture
def site(httpserver):
    site = FakeSite(httpserver, pages=2, duplicates=0)
    site.set("/rss.xml", RSS.format(base=site.base_url), content_type="application/rss+xml; charset=utf-8")
    site.set("/atom.xml", ATOM.format(base=site.base_url), content_type="application/atom+xml")
    return site


def discover(fetcher, keywords=(), **values):
    return list(source_for("feed").discover(settings=job(**values), keywords=list(keywords), fetcher=fetcher))


def test_rss_and_atom_entries_with_date_range(site, fetcher):
    u = site.url
    found = discover(
        fetcher,
        keywords=["wind", "Solar"],
        feed_urls=(u("/rss.xml"), u("/atom.xml")),
        date_from=date(2024, 1, 1),
        date_to=date(2024, 12, 31),
    )
    assert [c.url for c in found] == [
        u("/news/solar-tariffs"),
        u("/news/undated"),
        u("/news/guid-only"),
        u("/blog/posts/storage"),
    ]
    first = found[0]
    assert (first.source, first.keyword, first.follow_links) == ("feed", "Solar", False)
    assert first.metadata == {
        "feed": u("/rss.xml"),
        "title": "Solar tariffs cut",
        "summary": "<p>The solar tariff falls.</p>",
        "author": "Ada Example",
        "id": u("/news/solar-tariffs"),
        "published": "2024-03-05",
    }
    atom = found[3]
    assert atom.keyword is None
    assert atom.metadata["published"] == "2024-04-02" and atom.metadata["author"] == "Grace Example"


def test_published_wins_over_updated(site, fetcher):
    found = discover(fetcher, feed_urls=(site.url("/atom.xml"),), date_to=date(2023, 12, 31))
    assert [c.url for c in found] == [site.url("/blog/posts/early")]


def test_max_items_and_allowed_domains(site, fetcher):
    found = discover(fetcher, feed_urls=(site.url("/rss.xml"),), max_items=2)
    assert len(found) == 2
    assert discover(fetcher, feed_urls=(site.url("/rss.xml"),), allowed_domains=("other.example",)) == []


def test_a_malformed_feed_is_a_clear_error_after_the_good_ones(site, fetcher):
    site.set(
        "/broken.xml", '<rss version="2.0"><channel><item><title>A</ti', content_type="application/rss+xml"
    )
    source = source_for("feed").discover(
        settings=job(feed_urls=(site.url("/broken.xml"), site.url("/atom.xml"))), keywords=[], fetcher=fetcher
    )
    assert len(list(_take(source, 2))) == 2
    with pytest.raises(
        SourceError,
        match=r"/broken.xml could not be read: it is not well-formed XML \(line \d+, column \d+\)",
    ) as caught:
        next(source)
    assert caught.value.partial is True


def test_an_html_page_is_not_a_feed(site, fetcher):
    with pytest.raises(SourceError, match="not a valid RSS or Atom feed") as caught:
        discover(fetcher, feed_urls=(site.url("/"),))
    assert caught.value.partial is False


def test_feed_server_errors(site, fetcher):
    with pytest.raises(SourceError, match="HTTP 404"):
        discover(fetcher, feed_urls=(site.url("/missing-feed.xml"),))


def test_feed_entries_without_a_network():
    entries = feed_entries(
        RSS.format(base="https://n.example").encode(), base_url="https://n.example/rss.xml"
    )
    assert [e["url"] for e in entries][:2] == [
        "https://n.example/news/solar-tariffs",
        "https://n.example/news/old-wind",
    ]
    assert entries[1]["published"] == date(2023, 1, 1)
    with pytest.raises(FeedMalformed):
        feed_entries(b"{}", base_url="https://n.example/feed.json")
    # A valid, empty feed is no error.
    assert (
        feed_entries(
            b'<rss version="2.0"><channel><title>t</title></channel></rss>', base_url="https://n.example"
        )
        == []
    )


def _take(iterator, n):
    for _ in range(n):
        yield next(iterator)
