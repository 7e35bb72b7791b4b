"""WordPressPublisher with media: uploads with alt text, the post's figures, and media failures,
against the fake WordPress REST API (tests/fakes/wordpress.py)."""

import io
import json
from html.parser import HTMLParser

import pytest
from PIL import Image

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, publisher_for
from platforms.kinds.wordpress.publisher import (
    WordPressUpload,
    alt_attribute,
    content_with_media,
    media_figure,
    upload_filename,
)
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.wordpress import FakeWordPress, sanitize_text_field

POSTS = "/wp-json/wp/v2/posts"
MEDIA = "/wp-json/wp/v2/media"
KEY = "F1E2D3C4-5555-4000-8000-000000000006"
DRAFT = "# Kaffee in Tokio\n\nEin Morgen am Fluss.\n\n## Die Röstereien\n\nDrei Orte.\n"
ALT_CHART = 'Chart: "Sales" rise 5 < 7 & more.\nSecond line, 東京 ☕'
ALT_PORTRAIT = "Portrait of Ada, smiling"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


def picture(fmt: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, fmt)
    return out.getvalue()


PNG = picture("PNG", (30, 20))
JPEG = picture("JPEG", (40, 10))


def item(key, data, media_type, alt_text, filename=None, width=None, height=None):
    return MediaItem(
        key=key,
        media_type=media_type,
        filename=filename or f"{key}.{media_type.split('/')[1]}",
        size=len(data),
        read=lambda: data,
        alt_text=alt_text,
        width=width,
        height=height,
    )


def chart():
    return item("att-7", PNG, "image/png", ALT_CHART, filename="Umsatz Grafik.png")


def portrait():
    return item("att-3", JPEG, "image/jpeg", ALT_PORTRAIT, filename="ada.jpeg")


def publication(*media, text=DRAFT):
    return Publication(text=text, idempotency_key=KEY, media=tuple(media))


@pytest.fixture
def fake(httpserver):
    return FakeWordPress(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, **overrides):
    fields = {
        "name": "blog",
        "platform_type": PlatformType.WORDPRESS,
        "instance_url": fake.base_url,
        "username": fake.username,
        "access_token": fake.password,
        "extra": {},
    }
    fields.update(overrides)
    return publisher_for(
        PlatformConnection(**fields),
        timeout=timeout,
        policy=RetryPolicy(attempts=3),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("img", "video", "figure", "h2", "p"):
            self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags_of(html: str):
    parser = _Tags()
    parser.feed(html)
    return parser.found


def alt_updates(fake, media_id):
    return [request.json for request in fake.requests_to(f"{MEDIA}/{media_id}", "POST")]


# Uploads and the post ---------------------------------------------------------------------------


def test_media_are_uploaded_with_their_alt_text_and_shown_in_the_post_in_order(fake, sleeper):
    published = publisher(fake, sleeper).publish(publication(chart(), portrait()))
    first, second = fake.media
    (post,) = fake.posts

    # The uploads: raw bytes, the type, a safe file name with the type's extension.
    upload_1, upload_2 = fake.requests_to(MEDIA, "POST")
    assert upload_1.body == PNG
    assert upload_1.headers["Content-Type"] == "image/png"
    assert upload_1.headers["Content-Disposition"] == 'attachment; filename="Umsatz-Grafik.png"'
    assert upload_2.headers["Content-Disposition"] == 'attachment; filename="ada.jpg"'
    assert (first["mime_type"], second["mime_type"]) == ("image/png", "image/jpeg")
    assert first["source_url"] == f"{fake.base_url}/wp-content/uploads/2026/01/Umsatz-Grafik.png"

    # The alt text goes to WordPress exactly as approved; WordPress stores it sanitized.
    assert alt_updates(fake, first["id"]) == [{"alt_text": ALT_CHART}]
    assert alt_updates(fake, second["id"]) == [{"alt_text": ALT_PORTRAIT}]
    # (sanitize_text_field: the lone "<" and what follows it are HTML-escaped, the line break a space)
    assert first["alt_text"] == 'Chart: "Sales" rise 5 &lt; 7 &amp; more. Second line, 東京 ☕'
    assert second["alt_text"] == ALT_PORTRAIT

    # The post shows them, in order, after the introduction, each with its alt text.
    content = post["content"]["raw"]
    assert [(tag, attrs) for tag, attrs in tags_of(content) if tag in ("img", "h2", "p")] == [
        ("p", {}),
        (
            "img",
            {
                "src": first["source_url"],
                "alt": 'Chart: "Sales" rise 5 < 7 & more. Second line, 東京 ☕',
                "class": f"wp-image-{first['id']}",
                "width": "30",
                "height": "20",
            },
        ),
        (
            "img",
            {
                "src": second["source_url"],
                "alt": ALT_PORTRAIT,
                "class": f"wp-image-{second['id']}",
                "width": "40",
                "height": "10",
            },
        ),
        ("h2", {}),
        ("p", {}),
    ]
    assert 'alt="Chart: &quot;Sales&quot; rise 5 &lt; 7 &amp; more. Second line, 東京 ☕"' in content
    assert content.count('<figure class="wp-block-image size-full">') == 2
    assert "featured_media" not in fake.requests_to(POSTS, "POST")[0].json
    assert published.details["media_ids"] == [first["id"], second["id"]]
    assert published.details["attempts"] == 1


def test_a_text_only_post_makes_no_media_request(fake, sleeper):
    published = publisher(fake, sleeper).publish(publication())
    assert fake.count("POST", MEDIA) == 0
    assert "<figure" not in fake.posts[0]["content"]["raw"]
    assert "media_ids" not in published.details


def test_a_video_is_a_video_figure_with_its_description(fake, sleeper):
    clip = item("att-9", MP4, "video/mp4", 'Der "Fluss"\nim Nebel', filename="fluss.mp4")
    publisher(fake, sleeper).publish(publication(clip))
    (video,) = fake.media
    assert video["mime_type"] == "video/mp4"
    assert video["media_type"] == "file"
    content = fake.posts[0]["content"]["raw"]
    assert (
        f'<figure class="wp-block-video"><video controls preload="metadata" src="{video["source_url"]}" '
        'aria-label="Der &quot;Fluss&quot; im Nebel"></video></figure>'
    ) in content


def test_a_picture_of_another_type_than_its_name_says_is_taken_as_what_it_is(fake, sleeper):
    # WordPress checks the content and corrects a picture's extension; the figure uses its URL.
    publisher(fake, sleeper).publish(publication(item("att-1", PNG, "image/png", "x", filename="wrong.gif")))
    (upload,) = fake.requests_to(MEDIA, "POST")
    assert upload.headers["Content-Disposition"] == 'attachment; filename="wrong.png"'
    assert fake.media[0]["source_url"].endswith("/wrong.png")


# Retries reuse uploads; a lost answer never posts twice -----------------------------------------


def test_a_retried_post_reuses_the_uploads(fake, sleeper):
    fake.fail_next(503)  # the post
    publisher(fake, sleeper).publish(publication(chart(), portrait()))
    assert fake.count("POST", MEDIA) == 2
    assert [len(alt_updates(fake, m["id"])) for m in fake.media] == [1, 1]
    assert fake.count("POST", POSTS) == 2
    (post,) = fake.posts
    assert post["content"]["raw"].count("<img ") == 2


def test_a_rate_limited_alt_text_is_set_again_without_uploading_again(fake, sleeper):
    fake.rate_limit_next(retry_after="3", path=f"{MEDIA}/102")  # the second item's alt text
    publisher(fake, sleeper).publish(publication(chart(), portrait()))
    assert [m["id"] for m in fake.media] == [101, 102]
    assert sleeper.waits == [3.0]
    assert fake.count("POST", MEDIA) == 2
    assert len(alt_updates(fake, 101)) == 1
    assert alt_updates(fake, 102) == [{"alt_text": ALT_PORTRAIT}, {"alt_text": ALT_PORTRAIT}]
    assert fake.media[1]["alt_text"] == ALT_PORTRAIT
    assert len(fake.posts) == 1
    assert fake.count("GET", POSTS) == 0  # an upload's failure is not "the post may exist"


def test_a_lost_answer_to_the_post_is_found_and_nothing_is_posted_or_uploaded_twice(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication(chart(), portrait()))
    assert published.details["recovered"] is True
    assert fake.count("POST", POSTS) == 1
    assert fake.count("POST", MEDIA) == 2
    (post,) = fake.posts
    assert published.post_id == str(post["id"])


def test_an_upload_server_error_is_retried_and_never_makes_the_post_ambiguous(fake, sleeper):
    fake.fail_next(502, path=MEDIA)
    published = publisher(fake, sleeper).publish(publication(chart()))
    assert published.details["attempts"] == 2
    assert fake.count("POST", MEDIA) == 2
    assert len(fake.media) == 1
    assert fake.count("GET", POSTS) == 0


# Failures that end the job clearly --------------------------------------------------------------


def test_a_429_that_outlasts_the_retries_is_unavailable_with_its_wait_and_nothing_posted(fake, sleeper):
    fake.rate_limit_next(retry_after="7", path=MEDIA, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication(chart()))
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert caught.value.ambiguous is False
    assert "rate-limiting" in str(caught.value)
    assert sleeper.waits == [7.0, 7.0]
    assert fake.posts == []
    assert fake.count("POST", POSTS) == 0


def test_a_429_with_ratelimit_reset_waits_that_long(fake, sleeper):
    fake.fail_next(429, headers={"RateLimit-Reset": "12"}, path=MEDIA)
    publisher(fake, sleeper).publish(publication(chart()))
    assert sleeper.waits == [12.0]
    assert len(fake.posts) == 1


def test_a_wrong_application_password_stops_at_the_first_upload(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong pass word never shown").publish(publication(chart()))
    assert caught.value.status == 401
    assert "wrong pass word" not in str(caught.value)
    assert fake.count("POST", MEDIA) == 1
    assert fake.media == [] and fake.posts == []
    assert sleeper.waits == []


def test_a_user_who_may_not_upload_files_gets_a_403_with_the_wordpress_code(fake, sleeper):
    fake.can_upload = False
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(chart()))
    assert caught.value.status == 403
    assert "rest_cannot_create: Sorry, you are not allowed to upload media on this site." in str(caught.value)
    assert fake.posts == []
    assert fake.count("POST", MEDIA) == 1


def test_a_file_wordpress_does_not_take_is_refused_and_not_retried(fake, sleeper):
    # WordPress checks the content, not the Content-Type: a 500 rest_upload_sideload_error.
    fake_png = item("att-5", b"this is no picture at all", "image/png", "x", filename="b.png")
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(chart(), fake_png))
    message = str(caught.value)
    assert caught.value.status == 500
    assert message == (
        f"{fake.base_url.split('//')[1]} refused the upload of media item 2 (b.png) (HTTP 500): "
        "rest_upload_sideload_error: Sorry, you are not allowed to upload this file type."
    )
    assert caught.value.ambiguous is False
    assert sleeper.waits == []
    assert fake.count("POST", MEDIA) == 2  # the first item, then the refused one once
    assert len(fake.media) == 1
    assert fake.posts == [] and fake.count("GET", POSTS) == 0


def test_a_file_too_large_for_the_web_server_is_a_413_refusal(fake, sleeper):
    fake.max_body_bytes = len(PNG) - 1
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(chart()))
    assert caught.value.status == 413
    assert "as too large (HTTP 413)" in str(caught.value)
    assert "client_max_body_size" in str(caught.value)
    assert fake.count("POST", MEDIA) == 1
    assert fake.posts == []


def test_a_body_php_dropped_says_so(fake, sleeper):
    fake.fail_next(400, body={"code": "rest_upload_no_data", "message": "No data supplied."}, path=MEDIA)
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(chart()))
    assert "rest_upload_no_data: No data supplied (PHP drops a request body" in str(caught.value)
    assert "post_max_size" in str(caught.value)
    assert fake.posts == []


def test_a_file_missing_from_storage_sends_nothing(fake, sleeper):
    def gone():
        raise FileNotFoundError("workflows/attachments/x.png")

    lost = MediaItem(key="att-0", media_type="image/png", filename="x.png", size=1, read=gone, alt_text="x")
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication(lost))
    assert "could not be read from storage; nothing was sent" in str(caught.value)
    assert fake.requests == []


# The pieces -------------------------------------------------------------------------------------


def test_the_alt_attribute_escapes_and_turns_line_breaks_into_spaces():
    assert (
        alt_attribute("a\r\n\r\n  b \"c\" <d> & 'e'\u2028f\n")
        == "a b &quot;c&quot; &lt;d&gt; &amp; &#x27;e&#x27; f"
    )
    assert alt_attribute("Zeile eins\nZeile zwei") == "Zeile eins Zeile zwei"


@pytest.mark.parametrize(
    ("filename", "media_type", "expected"),
    [
        ('Kaffee am Fluß; "x".jpeg', "image/jpeg", "Kaffee-am-Flu-x.jpg"),
        ("東京.webp", "image/webp", "media-3.webp"),
        ("clip.MOV", "video/mp4", "clip.mp4"),
        ("noextension", "image/png", "noextension.png"),
    ],
)
def test_upload_names_are_ascii_with_the_extension_of_the_type(filename, media_type, expected):
    media = MediaItem(key="k", media_type=media_type, filename=filename, size=1, read=bytes, alt_text="x")
    assert upload_filename(media, position=3) == expected


def test_figures_go_before_the_first_heading_or_at_the_end():
    figure = media_figure(chart(), WordPressUpload(media_id=9, source_url="https://b.example/a.png"))
    assert 'class="wp-image-9" />' in figure  # no width or height when WordPress gave none
    assert content_with_media("<p>a</p>\n<h2>b</h2>", [figure]) == f"<p>a</p>\n{figure}\n<h2>b</h2>"
    assert content_with_media("<p>a</p>", [figure, figure]) == f"<p>a</p>\n{figure}\n{figure}"
    assert content_with_media("<h3>x</h3>", [figure]) == f"{figure}\n<h3>x</h3>"
    assert content_with_media("<p>a</p>", []) == "<p>a</p>"


def test_the_fake_sanitizes_alt_text_as_wordpress_does():
    # Pinned from sanitize_text_field()'s documented steps, so the test above checks something real.
    assert sanitize_text_field("a <b>bold</b>\n\tline  %41end") == "a bold line end"
    assert sanitize_text_field("5 < 7") == "5 &lt; 7"
    assert json.dumps(sanitize_text_field("東京 ☕"), ensure_ascii=False) == '"東京 ☕"'
