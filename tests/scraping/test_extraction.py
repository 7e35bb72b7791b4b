"""scraping.extraction: HTML through trafilatura, PDF through pypdf, text, media, and bad content."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import trafilatura
from PIL import Image

from scraping import extraction
from scraping.extraction import Extracted, extract
from scraping.fetching import FetchedPage, Fetcher, FetchPolicy, sniff_artifact_type
from scraping.models import ContentExtraction
from tests.factories.scraping import ArtifactFactory
from tests.fakes.base import make_httpserver  # noqa: F401
from tests.fakes.site import FakeSite, article_html, minimal_pdf


def make_page(
    content: bytes | str,
    content_type: str = "text/html",
    *,
    url: str = "https://news.example/a/1",
    charset=None,
) -> FetchedPage:
    if isinstance(content, str):
        content = content.encode("utf-8")
        charset = charset or "utf-8"
    return FetchedPage(
        requested_url=url,
        url=url,
        status=200,
        content=content,
        content_type=content_type,
        charset=charset,
        headers={},
        artifact_type=sniff_artifact_type(content=content, content_type=content_type, url=url) or "web_page",
    )


def records(result: Extracted) -> dict[str, dict]:
    return {r["extraction_type"]: r for r in result.extractions}


def png_bytes(width: int = 12, height: int = 7) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


# -- HTML --------------------------------------------------------------------------------------


def test_html_article_from_a_real_server(httpserver):
    site = FakeSite(httpserver, pages=4, duplicates=0)
    with Fetcher(policy=FetchPolicy()) as fetcher:
        page = fetcher.fetch(site.page_urls[1])

    result = extract(page)

    assert result.title == "Solar report 2"
    assert result.author == "Author 2"
    assert result.published == "2024-03-03"
    assert result.language == "en"
    assert result.description == "Report 2 about solar."
    assert result.canonical_url == site.page_urls[1]
    assert "Article 2, part 3: the solar market report" in result.text
    assert "Fake site footer" not in result.text  # boilerplate dropped
    assert result.links == (site.url("/"), site.page_urls[2])
    found = records(result)
    assert found["main_text"]["confidence_score"] == Decimal("0.80")
    assert found["main_text"]["extracted_data"]["extractor"] == "trafilatura"
    assert found["main_text"]["extracted_data"]["characters"] == len(result.text)
    assert found["metadata"]["confidence_score"] == Decimal("0.90")
    assert found["metadata"]["extracted_data"]["author"] == "Author 2"


def test_short_html_gets_a_lower_confidence_and_language_subtag():
    html = (
        "<html lang='de-AT'><head><title>Kurz</title></head><body><article>"
        "<p>Ein kurzer Text über Solarenergie, der nur wenig sagt.</p></article></body></html>"
    )
    result = extract(make_page(html))

    assert result.language == "de"
    assert result.title == "Kurz"
    found = records(result)
    assert found["main_text"]["confidence_score"] == Decimal("0.40")
    # title and language found, author and date not: 0.5 + 2 * 0.1
    assert found["metadata"]["confidence_score"] == Decimal("0.70")


def test_language_from_content_language_meta_and_links_resolved_against_base():
    html = (
        "<html><head><meta http-equiv='Content-Language' content='fr-FR, en'>"
        "<base href='https://cdn.example/docs/'></head><body>"
        "<a href='page.html#s2'>a</a> <a href='mailto:x@y.z'>m</a> <a href='javascript:void(0)'>j</a>"
        "<a href='//other.example/x'>o</a> <a href='page.html'>dup</a>"
        "<p>Du texte en français sur l'énergie solaire, assez long pour être un paragraphe.</p></body></html>"
    )
    result = extract(make_page(html))

    assert result.language == "fr"
    assert result.links == ("https://cdn.example/docs/page.html", "https://other.example/x")


def test_html_charset_from_the_header_is_used():
    html = "<html><head><title>Énergie</title></head><body><p>Café solaire à Zürich.</p></body></html>"
    result = extract(make_page(html.encode("latin-1"), charset="iso-8859-1"))
    assert result.title == "Énergie"
    assert "Café solaire à Zürich." in result.text


def test_page_without_main_text_falls_back_to_visible_text(monkeypatch):
    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *args, **kwargs: None)
    result = extract(make_page("<html><body><ul><li>One</li><li>Two</li></ul></body></html>"))

    assert result.text == "One Two"
    found = records(result)
    assert found["main_text"]["confidence_score"] == Decimal("0.20")
    assert found["main_text"]["extracted_data"]["extractor"] == "trafilatura-html2txt"
    assert found["metadata"]["confidence_score"] == Decimal("0.00")


def test_long_text_is_capped(monkeypatch):
    monkeypatch.setattr(extraction, "MAX_TEXT_CHARS", 50)
    result = extract(make_page("word " * 100, "text/plain"))
    assert len(result.text) == 50
    assert records(result)["main_text"]["extracted_data"]["truncated"] is True


# -- PDF ---------------------------------------------------------------------------------------


def test_pdf_text_and_metadata_from_a_real_server(httpserver):
    site = FakeSite(httpserver, pages=2, duplicates=0)
    with Fetcher(policy=FetchPolicy()) as fetcher:
        page = fetcher.fetch(site.pdf_url)

    result = extract(page)

    assert result.text == site.pdf_text
    assert result.title == "Solar Report 2024"
    assert result.author == "Ada Example"
    assert result.published == "2024-01-15"
    assert result.language == "en"
    found = records(result)
    assert found["main_text"]["extracted_data"]["extractor"] == "pypdf"
    assert found["main_text"]["confidence_score"] == Decimal("0.70")  # 100..999 characters
    assert found["metadata"]["extracted_data"]["pages"] == 1
    assert found["metadata"]["confidence_score"] == Decimal("0.90")


def test_pdf_confidence_follows_text_length_and_title_falls_back_to_first_line():
    long_lines = [f"Line {i} of a long solar energy report with plenty of words in it." for i in range(30)]
    long_pdf = extract(
        make_page(minimal_pdf(long_lines, title=None, author=None, lang=None), "application/pdf")
    )
    assert records(long_pdf)["main_text"]["confidence_score"] == Decimal("0.90")
    assert long_pdf.title == "Line 0 of a long solar energy report with plenty of words in it."
    assert long_pdf.author is None and long_pdf.language is None

    empty = extract(
        make_page(minimal_pdf([], title=None), "application/pdf", url="https://x.example/scan.pdf")
    )
    assert empty.text == ""
    assert empty.title == "scan.pdf"
    assert records(empty)["main_text"]["confidence_score"] == Decimal("0.10")


def test_pdf_is_detected_by_its_bytes_even_as_html():
    result = extract(make_page(minimal_pdf(), "text/html"))
    assert result.author == "Ada Example"


# -- text and media ----------------------------------------------------------------------------


def test_plain_text_is_kept_as_is():
    text = "Solar notes\r\n\r\nSee https://energy.example/report.pdf, and http://x.example/a?b=1.\n"
    result = extract(make_page(text, "text/plain"))

    assert result.text == "Solar notes\n\nSee https://energy.example/report.pdf, and http://x.example/a?b=1."
    assert result.title == "Solar notes"
    assert result.links == ("https://energy.example/report.pdf", "http://x.example/a?b=1")
    assert records(result)["main_text"]["confidence_score"] == Decimal("0.90")


def test_image_metadata_only():
    result = extract(make_page(png_bytes(12, 7), "image/png", url="https://img.example/photos/sun.png"))

    assert result.text == "" and result.links == ()
    assert result.title == "sun.png"
    (record,) = result.extractions
    assert record["extraction_type"] == "media_info"
    assert record["extracted_data"] | {} == {
        "extractor": "pillow",
        "artifact_type": "image",
        "mime_type": "image/png",
        "bytes": len(png_bytes(12, 7)),
        "width": 12,
        "height": 7,
        "format": "PNG",
    }
    assert record["confidence_score"] == Decimal("1.00")


@pytest.mark.parametrize(
    ("content", "content_type", "kind"),
    [
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "video/mp4", "video"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg", "audio"),
    ],
)
def test_video_and_audio_metadata_only(content, content_type, kind):
    result = extract(make_page(content, content_type, url=f"https://m.example/clip.{kind}"))
    (record,) = result.extractions
    assert record["extraction_type"] == "media_info"
    assert record["extracted_data"]["artifact_type"] == kind
    assert record["extracted_data"]["bytes"] == len(content)


# -- bad content never raises ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "expected_type"),
    [
        (b"%PDF-1.4 truncated garbage", "application/pdf", "error"),
        (minimal_pdf()[:200], "application/pdf", "error"),
        (b"", "text/html", "error"),
        (b"   \n  ", "text/html", "error"),
        (b"\x00\xff\xfe\x00<<<>>>\x00", "text/html", "main_text"),
        (b"<html><body><p>unclosed <b>tags <i>everywhere", "text/html", "main_text"),
        (b"\x89PNG\r\n\x1a\nnot really", "image/png", "media_info"),
        (b"\xff\xfe\x00\x00", "text/plain", "main_text"),
    ],
)
def test_bad_content_never_raises(content, content_type, expected_type):
    result = extract(make_page(content, content_type))
    assert isinstance(result, Extracted)
    assert expected_type in records(result)
    if expected_type == "error":
        assert result.text == ""
        assert records(result)["error"]["confidence_score"] == Decimal("0.00")
        assert records(result)["error"]["extracted_data"]["error"]


def test_an_extractor_crash_becomes_an_error_record(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(trafilatura, "bare_extraction", explode)
    result = extract(
        make_page(article_html(number=1, keyword="solar", base_url="https://x.example", pages=1))
    )

    (record,) = result.extractions
    assert record["extraction_type"] == "error"
    assert record["extracted_data"] == {
        "extractor": "trafilatura",
        "error": "RuntimeError",
        "message": "parser exploded",
    }


@pytest.mark.django_db
def test_records_fit_content_extraction_rows():
    page = make_page(article_html(number=5, keyword="solar", base_url="https://x.example", pages=9))
    artifact = ArtifactFactory()
    for record in extract(page).extractions:
        row = ContentExtraction(artifact=artifact, **record)
        row.full_clean()
        row.save()
    stored = ContentExtraction.objects.filter(artifact=artifact).order_by("extraction_type")
    assert [(r.extraction_type, r.confidence_score) for r in stored] == [
        ("main_text", Decimal("0.80")),
        ("metadata", Decimal("0.90")),
    ]
    assert stored[1].extracted_data["published"] == "2024-03-06"
