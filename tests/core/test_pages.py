"""page_main_text against a local HTTP server: extraction, limits, failures, SSRF refusal."""

import threading
import time

import pytest
from django.test import override_settings
from werkzeug import Response

from console.demo.instance import DemoInstance
from core.pages import MAX_REDIRECTS, PageFetchError, PageText, page_main_text
from core.retry import RetryPolicy

ARTICLE = """<!doctype html>
<html lang="de-AT"><head><meta charset="utf-8"><title>Site | Größe zählt</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/login">Log in</a></nav>
<article>
<h1>Größe zählt</h1>
<p>Die erste Zeile des Artikels erklärt, warum Größe bei Bildern zählt und wie man sie misst.</p>
<p>Der zweite Absatz beschreibt die Messung der Helligkeit und der Farben in einfachen Worten.</p>
<p>Der dritte Absatz fasst zusammen, was Redaktionen daraus lernen können, bevor sie posten.</p>
</article>
<footer>Copyright 2026 Example GmbH. All rights reserved. Impressum. Datenschutz.</footer>
</body></html>"""

NO_RETRY = RetryPolicy(attempts=1)


def fetch(url, **kwargs):
    kwargs.setdefault("policy", NO_RETRY)
    return page_main_text(url, **kwargs)


def test_html_article_main_text_title_and_language(httpserver):
    httpserver.expect_request("/article").respond_with_data(ARTICLE, content_type="text/html; charset=utf-8")
    page = fetch(httpserver.url_for("/article"))
    assert isinstance(page, PageText)
    assert page.url == httpserver.url_for("/article")
    assert "Die erste Zeile des Artikels" in page.text
    assert "Der dritte Absatz" in page.text
    assert "Log in" not in page.text and "Datenschutz" not in page.text
    assert "Größe zählt" in page.title
    assert page.language == "de-at"


def test_charset_from_the_header(httpserver):
    body = ARTICLE.replace('<meta charset="utf-8">', "").encode("iso-8859-1")
    httpserver.expect_request("/latin").respond_with_data(body, content_type="text/html; charset=iso-8859-1")
    assert "Größe" in fetch(httpserver.url_for("/latin")).title


def test_charset_from_a_meta_tag(httpserver):
    body = ARTICLE.replace('<meta charset="utf-8">', '<meta charset="windows-1252">').encode("cp1252")
    httpserver.expect_request("/meta").respond_with_data(body, content_type="text/html")
    assert "Die erste Zeile" in fetch(httpserver.url_for("/meta")).text
    assert "Größe" in fetch(httpserver.url_for("/meta")).title


def test_plain_text_passes_through(httpserver):
    httpserver.expect_request("/notes.txt").respond_with_data(
        "Line one.\r\nLine two.\n", content_type="text/plain; charset=utf-8"
    )
    page = fetch(httpserver.url_for("/notes.txt"))
    assert page.text == "Line one.\nLine two."
    assert page.title == "" and page.language is None


def test_redirect_is_followed(httpserver):
    httpserver.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": "/new"})
    )
    httpserver.expect_request("/new").respond_with_data("Moved here.", content_type="text/plain")
    page = fetch(httpserver.url_for("/old"))
    assert page.url == httpserver.url_for("/new") and page.text == "Moved here."


def test_redirect_loop_stops(httpserver):
    httpserver.expect_request("/loop").respond_with_response(
        Response(status=302, headers={"Location": "/loop"})
    )
    with pytest.raises(PageFetchError, match="Too many redirects"):
        fetch(httpserver.url_for("/loop"))
    assert len(httpserver.log) == MAX_REDIRECTS + 1


def test_404(httpserver):
    httpserver.expect_request("/missing").respond_with_data("nope", status=404)
    with pytest.raises(PageFetchError, match="not found") as caught:
        fetch(httpserver.url_for("/missing"))
    assert caught.value.status == 404 and caught.value.transient is False


def test_5xx_is_transient_and_retried(httpserver):
    sleeps = []
    httpserver.expect_ordered_request("/flaky").respond_with_data(
        "busy", status=503, headers={"Retry-After": "4"}
    )
    httpserver.expect_ordered_request("/flaky").respond_with_data("Back again.", content_type="text/plain")
    page = page_main_text(httpserver.url_for("/flaky"), sleep=sleeps.append)
    assert page.text == "Back again."
    assert sleeps == [4.0]


def test_5xx_after_retries_says_transient(httpserver):
    httpserver.expect_request("/down").respond_with_data("busy", status=502)
    with pytest.raises(PageFetchError) as caught:
        page_main_text(httpserver.url_for("/down"), sleep=lambda _: None)
    assert caught.value.transient is True and caught.value.status == 502
    assert len(httpserver.log) == 2


def test_too_large_by_content_length(httpserver):
    httpserver.expect_request("/big").respond_with_data("x" * 2000, content_type="text/plain")
    with pytest.raises(PageFetchError, match="larger than 1,000 bytes"):
        fetch(httpserver.url_for("/big"), max_bytes=1000)


def test_too_large_while_streaming_without_content_length(httpserver):
    def chunks():
        for _ in range(100):
            yield b"y" * 100

    httpserver.expect_request("/stream").respond_with_response(
        Response(chunks(), content_type="text/plain", direct_passthrough=True)
    )
    with pytest.raises(PageFetchError, match="larger than"):
        fetch(httpserver.url_for("/stream"), max_bytes=1000)


def test_not_html(httpserver):
    httpserver.expect_request("/doc.pdf").respond_with_data(b"%PDF-1.7", content_type="application/pdf")
    with pytest.raises(PageFetchError, match=r"not an HTML or text page.*application/pdf"):
        fetch(httpserver.url_for("/doc.pdf"))


def test_empty_page(httpserver):
    httpserver.expect_request("/empty").respond_with_data(
        "<html><body></body></html>", content_type="text/html"
    )
    with pytest.raises(PageFetchError, match="no readable text"):
        fetch(httpserver.url_for("/empty"))


def test_timeout(httpserver):
    release = threading.Event()

    def slow(_request):
        release.wait(5)
        return Response("late", content_type="text/plain")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(PageFetchError, match=r"did not answer within 0\.2 s") as caught:
        fetch(httpserver.url_for("/slow"), timeout=0.2)
    assert caught.value.transient is True
    # let the server finish the request now, so its log entry does not land in the next test
    release.set()
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/file", "file:///etc/passwd", "javascript:alert(1)", "", "http://"]
)
def test_only_http_urls(url):
    with pytest.raises(PageFetchError, match="Only http and https"):
        fetch(url)


@override_settings(OUTBOUND_ALLOW_PRIVATE_NETWORKS=False)
@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254", "192.168.0.1"]
)
def test_private_addresses_are_refused(httpserver, host):
    httpserver.expect_request("/secret").respond_with_data("secret", content_type="text/plain")
    url = httpserver.url_for("/secret").replace("localhost", host, 1)
    with pytest.raises(PageFetchError, match="does not connect to such addresses") as caught:
        fetch(url)
    assert caught.value.reason == "private_address"
    assert httpserver.log == []


@override_settings(OUTBOUND_ALLOW_PRIVATE_NETWORKS=False)
def test_unresolvable_host_is_a_clear_error():
    with pytest.raises(PageFetchError, match="could not be found"):
        fetch("http://no-such-host.invalid/page")


@pytest.fixture
def demo_instance():
    with DemoInstance(port=0) as instance:
        yield instance


def test_an_allowed_origin_is_reached_on_loopback_and_nothing_else(demo_instance, httpserver, settings):
    # Through the `settings` fixture only: mixed with override_settings its undo order leaks.
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    article = f"{demo_instance.base_url}/site/articles/why-alt-text-matters.html"
    httpserver.expect_request("/secret").respond_with_data("secret", content_type="text/plain")
    other_port = httpserver.url_for("/secret").replace("localhost", "127.0.0.1", 1)
    with pytest.raises(PageFetchError, match="is a loopback address"):
        fetch(article)

    settings.OUTBOUND_ALLOWED_ORIGINS = [demo_instance.base_url]
    page = fetch(article)
    assert page.title == "Why alt text matters on social media"
    assert "Screen readers read it aloud" in page.text

    refused = [
        other_port,  # another port of the same host
        article.replace("127.0.0.1", "localhost", 1),  # another name of the same host
        article.replace("http://", "https://", 1),  # another scheme
    ]
    for url in refused:
        with pytest.raises(PageFetchError, match="is a loopback address"):
            fetch(url)
    assert httpserver.log == []
