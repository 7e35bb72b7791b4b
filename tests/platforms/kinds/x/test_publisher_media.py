"""XPublisher with media against the fake X API v2: uploads (simple and chunked), alt text through
the metadata endpoint, the post naming the uploads in order, and every way it can fail."""

import io

import pytest
from PIL import Image

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, publisher_for
from platforms.kinds.x import publisher as x_publisher
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.x import FakeX

TWEETS = "/2/tweets"
UPLOAD = "/2/media/upload"
METADATA = "/2/media/metadata"
KEY = "0b5e2f4c-1111-4000-8000-000000000042"
TEXT = "Three pictures from the launch https://example.com/launch"
ALT_TEXTS = [
    "A rocket on the pad at dawn.\nSecond line: the crowd behind the fence.",
    "Дети машут флагами; 子供たちが旗を振っている。",
    "מבט מלמעלה — ‏ÆØÅ ñ 🚀\n\n(two line breaks above)",
]


@pytest.fixture
def fake(httpserver):
    return FakeX(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, access_token=None):
    connection = PlatformConnection(
        name="x",
        platform_type=PlatformType.X,
        instance_url=fake.base_url,
        username="socialdesk",
        access_token=access_token or fake.token,
        extra={},
    )
    return publisher_for(
        connection,
        timeout=timeout,
        policy=RetryPolicy(attempts=3),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


def image_bytes(image_format: str, shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (shade, 90, 200)).save(buffer, format=image_format)
    return buffer.getvalue()


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    frames = [Image.new("P", (16, 16), color) for color in (1, 2, 3)]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def mp4_bytes(size: int = 3000) -> bytes:
    header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return header + bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)


def item(key: str, content: bytes, media_type: str, alt_text: str, filename: str | None = None) -> MediaItem:
    return MediaItem(
        key=key,
        media_type=media_type,
        filename=filename or f"{key}.{media_type.split('/')[1]}",
        size=len(content),
        read=lambda: content,
        alt_text=alt_text,
    )


def three_images() -> tuple[MediaItem, ...]:
    return (
        item("att-1", image_bytes("PNG", 10), "image/png", ALT_TEXTS[0]),
        item("att-2", image_bytes("JPEG", 20), "image/jpeg", ALT_TEXTS[1]),
        item("att-3", image_bytes("WEBP", 30), "image/webp", ALT_TEXTS[2]),
    )


def publication(media, text=TEXT):
    return Publication(text=text, idempotency_key=KEY, media=tuple(media))


def test_images_go_up_with_their_exact_alt_text_and_the_post_names_them_in_order(fake, sleeper):
    media = three_images()
    published = publisher(fake, sleeper).publish(publication(media))

    (post,) = fake.posts
    assert published.post_id == post["id"]
    assert published.details["recovered"] is False
    uploads = [fake.media[media_id] for media_id in post["media_ids"]]
    assert [u["content"] for u in uploads] == [m.read() for m in media]
    assert [u["alt_text"] for u in uploads] == ALT_TEXTS
    assert published.details["media_ids"] == post["media_ids"]
    # Each image: one multipart upload as tweet_image, then its alt text; the post comes last.
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", UPLOAD),
        ("POST", METADATA),
        ("POST", UPLOAD),
        ("POST", METADATA),
        ("POST", UPLOAD),
        ("POST", METADATA),
        ("POST", TWEETS),
    ]
    first = fake.requests_to(UPLOAD, "POST")[0]
    assert first.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="media_category"\r\n\r\ntweet_image\r\n' in first.body
    assert first.headers["Authorization"] == f"Bearer {fake.token}"
    assert fake.requests_to(METADATA)[1].json == {
        "id": post["media_ids"][1],
        "metadata": {"alt_text": {"text": ALT_TEXTS[1]}},
    }
    assert fake.requests_to(TWEETS)[0].json == {"text": TEXT, "media": {"media_ids": post["media_ids"]}}


def test_a_gif_goes_up_in_chunks_as_tweet_gif(fake, sleeper, monkeypatch):
    monkeypatch.setattr(x_publisher, "CHUNK_BYTES", 32)
    content = gif_bytes()
    assert len(content) > 64  # three chunks at least
    gif = item("att-gif", content, "image/gif", "Ein Hund, der winkt.\nZweite Zeile.")
    publisher(fake, sleeper).publish(publication([gif]))

    (post,) = fake.posts
    (upload,) = [fake.media[media_id] for media_id in post["media_ids"]]
    assert upload["category"] == "tweet_gif"
    assert upload["content"] == content
    assert upload["alt_text"] == "Ein Hund, der winkt.\nZweite Zeile."
    (initialize,) = fake.requests_to(f"{UPLOAD}/initialize")
    assert initialize.json == {
        "media_type": "image/gif",
        "total_bytes": len(content),
        "media_category": "tweet_gif",
    }
    appends = fake.requests_to(f"{UPLOAD}/{upload['id']}/append")
    assert len(appends) == -(-len(content) // 32)
    for index, append in enumerate(appends):
        assert b'name="segment_index"\r\n\r\n%d\r\n' % index in append.body
    assert fake.count("POST", f"{UPLOAD}/{upload['id']}/finalize") == 1
    assert fake.count("GET", UPLOAD) == 0  # a GIF needs no processing here
    assert sleeper.waits == []


def test_a_video_is_polled_until_x_has_processed_it(fake, sleeper):
    fake.processing_polls = 2
    video = item("att-video", mp4_bytes(), "video/mp4", "Countdown, then lift-off.")
    publisher(fake, sleeper).publish(publication([video]))

    (post,) = fake.posts
    (upload,) = [fake.media[media_id] for media_id in post["media_ids"]]
    assert upload["category"] == "tweet_video"
    assert upload["state"] == "succeeded"
    assert upload["alt_text"] == "Countdown, then lift-off."
    statuses = fake.requests_to(UPLOAD, "GET")
    assert [(r.arg("command"), r.arg("media_id")) for r in statuses] == [("STATUS", upload["id"])] * 2
    # X's check_after_secs (2 s) before each look.
    assert sleeper.waits == [2.0, 2.0]
    # The post comes only after processing succeeded.
    assert [r.path for r in fake.requests][-1] == TWEETS


def test_a_video_x_cannot_process_is_refused_and_nothing_is_posted(fake, sleeper):
    fake.fail_processing = True
    video = item("att-video", mp4_bytes(), "video/mp4", "Countdown.")
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication([video]))
    assert "Unsupported video codec" in str(caught.value)
    assert "video 1 of 1 (att-video.mp4)" in str(caught.value)
    assert caught.value.ambiguous is False
    assert fake.posts == []
    assert fake.count("POST", TWEETS) == 0


def test_an_image_x_rejects_ends_the_job_naming_it_and_nothing_is_posted(fake, sleeper):
    media = (
        item("att-1", image_bytes("PNG"), "image/png", "Fine."),
        item("att-2", b"this is not an image at all", "image/png", "Broken.", filename="broken.png"),
    )
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(media))
    message = str(caught.value)
    assert caught.value.status == 400
    assert caught.value.ambiguous is False
    assert "image 2 of 2 (broken.png)" in message
    assert "media type unrecognized" in message
    assert fake.count("POST", UPLOAD) == 2  # refused: not retried
    assert fake.count("POST", TWEETS) == 0
    assert sleeper.waits == []


def test_an_expired_token_ends_the_job_at_the_first_upload(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="expired-x-token-never-shown").publish(
            publication(three_images())
        )
    assert caught.value.status == 401
    assert "expired" in str(caught.value)
    assert "expired-x-token-never-shown" not in str(caught.value)
    assert fake.count("POST", UPLOAD) == 1
    assert fake.count("POST", TWEETS) == 0
    assert sleeper.waits == []


def test_a_rate_limited_upload_ends_with_the_reset_and_nothing_posted(fake, sleeper):
    fake.reset_in = 600
    fake.rate_limit_next(retry_after=None, path=UPLOAD, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication(three_images()))
    assert caught.value.status == 429
    assert caught.value.ambiguous is False
    assert 595 <= caught.value.retry_after <= 600  # from x-rate-limit-reset, for whoever requeues
    assert "rate-limiting" in str(caught.value)
    assert fake.count("POST", UPLOAD) == 3
    assert fake.count("POST", TWEETS) == 0
    assert fake.media == {}


def test_a_retried_attempt_reuses_what_was_uploaded_and_described(fake, sleeper):
    # The second image's alt text is rate-limited once: the retry uploads nothing again.
    fake.rate_limit_next(retry_after="2", path=METADATA)
    media = three_images()[:2]
    published = publisher(fake, sleeper).publish(publication(media))
    assert sleeper.waits == [2.0]
    assert published.details["attempts"] == 2
    assert fake.count("POST", UPLOAD) == 2
    assert fake.count("POST", METADATA) == 3
    (post,) = fake.posts
    assert [fake.media[i]["alt_text"] for i in post["media_ids"]] == ALT_TEXTS[:2]


def test_a_lost_answer_to_the_post_posts_once_and_uploads_nothing_again(fake, sleeper):
    fake.accept_then_hang_next(1.5, path=TWEETS)
    media = three_images()
    published = publisher(fake, sleeper, timeout=0.3).publish(publication(media))

    (post,) = fake.posts
    assert published.post_id == post["id"]
    assert published.details["recovered"] is True
    assert fake.count("POST", TWEETS) == 1
    assert fake.count("POST", UPLOAD) == 3
    assert fake.count("POST", METADATA) == 3
    # Found although X ends the text of a post with media with one more t.co link.
    (timeline,) = fake.requests_to(f"/2/users/{fake.user['id']}/tweets")
    assert timeline.arg("tweet.fields") == "attachments"


def test_a_5xx_on_the_post_is_looked_up_then_posted_once_with_the_same_uploads(fake, sleeper):
    fake.fail_next(503, path=TWEETS)
    published = publisher(fake, sleeper).publish(publication(three_images()))
    assert len(fake.posts) == 1
    assert published.details["recovered"] is False
    assert fake.count("POST", TWEETS) == 2
    assert fake.count("POST", UPLOAD) == 3
    first, second = fake.requests_to(TWEETS)
    assert first.json == second.json


def test_a_post_with_the_same_text_but_other_media_is_not_taken_for_ours(fake, sleeper):
    pub = publisher(fake, sleeper)
    media = three_images()[:1]
    published = pub.publish(publication(media))
    (post,) = fake.posts
    ours = post["media_ids"]
    # The same text with another picture (uploaded by someone else) is not what this publisher made.
    response = pub._http.post(
        f"{fake.base_url}{UPLOAD}",
        data={"media_category": "tweet_image"},
        files={"media": ("other.png", image_bytes("PNG", 99), "image/png")},
    )
    post["media_ids"] = [response.json()["data"]["id"]]
    assert pub.find_published(publication(media)) is None
    post["media_ids"] = ours
    found = pub.find_published(publication(media))
    assert found is not None
    assert found.post_id == published.post_id


def test_alt_text_over_1000_characters_is_refused_before_any_request(fake, sleeper):
    too_long = item("att-1", image_bytes("PNG"), "image/png", "a" * 1001)
    with pytest.raises(PlatformAuthError, match="at most 1000"):
        publisher(fake, sleeper).publish(publication([too_long]))
    assert fake.requests == []


def test_five_images_or_a_gif_with_an_image_are_refused_before_any_request(fake, sleeper):
    five = [item(f"att-{i}", image_bytes("PNG", i), "image/png", "x") for i in range(5)]
    with pytest.raises(PlatformAuthError, match="At most 4 media"):
        publisher(fake, sleeper).publish(publication(five))
    mixed = [item("a", gif_bytes(), "image/gif", "x"), item("b", image_bytes("PNG"), "image/png", "y")]
    with pytest.raises(PlatformAuthError, match="GIF goes alone"):
        publisher(fake, sleeper).publish(publication(mixed))
    assert fake.requests == []


def test_the_fake_refuses_what_x_documents_it_refuses(fake, sleeper):
    # The fake follows X's documentation, not this client: a GIF through simple upload and an
    # image over 5 MB are refused, and a post naming an unknown media id is a 400.
    pub = publisher(fake, sleeper)
    gif = gif_bytes()
    big = image_bytes("PNG") + b"\x00" * (5 * 1024 * 1024)
    for content, media_type in ((gif, "image/gif"), (big, "image/png")):
        response = pub._http.post(
            f"{fake.base_url}{UPLOAD}",
            data={"media_category": "tweet_image"},
            files={"media": ("f", content, media_type)},
        )
        assert response.status_code == 400
        assert response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    response = pub._http.post(f"{fake.base_url}{TWEETS}", json={"text": "Hi", "media": {"media_ids": ["1"]}})
    assert response.status_code == 400
