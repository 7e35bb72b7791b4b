"""The scraping admins' list filters offer declared values (no SELECT DISTINCT over the table);
these tests keep the declared lists in step with the code that writes the values."""

import io

import pytest
from PIL import Image

from scraping.admin import CONFIG_KEYS, EXTRACTION_TYPES, ITEM_SOURCES, TAG_TYPES
from scraping.extraction import extract
from scraping.fetching import FetchedPage, sniff_artifact_type
from scraping.job_options import job_settings_parse, job_settings_serialise
from scraping.models import JobType, ScrapingJobItem
from scraping.services.runner import _JobRun
from tests.fakes.site import article_html, minimal_pdf


def _page(content: bytes, content_type: str, url: str = "https://news.example/a/1") -> FetchedPage:
    return FetchedPage(
        requested_url=url,
        url=url,
        status=200,
        content=content,
        content_type=content_type,
        charset="utf-8",
        headers={},
        artifact_type=sniff_artifact_type(content=content, content_type=content_type, url=url) or "web_page",
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "white").save(buffer, format="PNG")
    return buffer.getvalue()


PAGES = [
    (article_html(number=3, keyword="solar", base_url="https://news.example", pages=2).encode(), "text/html"),
    (minimal_pdf(), "application/pdf"),
    (b"Plain notes about solar power.", "text/plain"),
    (_png(), "image/png"),
    (b"", "text/html"),  # nothing to read: an error record
]


def test_every_extraction_type_the_extractors_write_is_offered():
    written = {
        record["extraction_type"]
        for content, kind in PAGES
        for record in extract(_page(content, kind)).extractions
    }
    assert written <= set(EXTRACTION_TYPES), written - set(EXTRACTION_TYPES)
    assert "unknown" in EXTRACTION_TYPES  # the runner's name for a record without a type


def test_every_tag_type_the_runner_writes_is_offered():
    content, kind = PAGES[0]
    page = _page(content, kind)
    item = ScrapingJobItem(url=page.url, source="search", keyword="solar")
    # _tags reads only its arguments; a full job run is covered by tests/scraping/services/test_runner.py.
    tags = list(
        _JobRun._tags(None, item, page, extract(page), ["solar"], {"doi": "10.1/x", "authors": ["A"]})
    )
    assert {tag_type for tag_type, _, _ in tags} == set(TAG_TYPES)


@pytest.mark.parametrize("job_type", JobType.values)
def test_every_configuration_key_a_job_stores_is_offered(job_type):
    required = {
        JobType.URL_LIST: {"urls": ["https://example.org/"]},
        JobType.SITEMAP: {"sitemap_urls": ["https://example.org/sitemap.xml"]},
        JobType.FEED: {"feed_urls": ["https://example.org/feed"]},
        JobType.GOVERNMENT_DOC: {"domains": ["example.gov"]},
        JobType.PAPER: {"paper_sources": ["arxiv"], "max_items": 5, "languages": ["en"]},
    }.get(job_type, {})
    stored = job_settings_serialise(job_settings_parse(job_type=job_type, values=required))
    assert set(stored) <= set(CONFIG_KEYS)


def test_item_sources_name_what_each_source_writes():
    assert set(ITEM_SOURCES) == {"search", "url_list", "sitemap", "feed", "arxiv", "crossref", "government"}
