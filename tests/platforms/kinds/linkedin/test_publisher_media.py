"""LinkedInPublisher with images against the fake LinkedIn: the Images API upload (initialize, PUT,
status), the post naming them as `content.media` or `content.multiImage` with their exact alt
text, and every way it can fail."""

import io

import pytest
from PIL import Image

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.linkedin.publisher import linkedin_commentary
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, publisher_for
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.linkedin import FakeLinkedIn

POSTS = "/rest/posts"
IMAGES = "/rest/images"
KEY = "c0ffee00-2222-4000-8000-000000000042"
TEXT = "Three pictures from our launch day. #Launch"
ALT_TEXTS = [
    "The team on stage.\nSecond line: the banner reads 'v2'.",
    "Ingenieurinnen am Prüfstand; 工程师们在试验台前。",
    "صورة من الأعلى — 🚀\n\n(two line breaks above)",
]


@pytest.fixture
def fake(httpserver):
    return FakeLinkedIn(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, access_token=None):
    connection = PlatformConnection(
        name="linkedin",
        platform_type=PlatformType.LINKEDIN,
        instance_url=fake.base_url,
        access_token=access_token or fake.token,
        extra={"author_urn": fake.author_urn},
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
        item("att-3", image_bytes("PNG", 30), "image/png", ALT_TEXTS[2]),
    )


def publication(media, text=TEXT):
    return Publication(text=text, idempotency_key=KEY, media=tuple(media))


def puts(fake):
    return [r for r in fake.requests if r.method == "PUT"]


def test_one_image_is_uploaded_and_posted_as_content_media_with_its_exact_alt_text(fake, sleeper):
    media = three_images()[:1]
    published = publisher(fake, sleeper).publish(publication(media))

    (post,) = fake.posts
    assert published.post_id == post["id"]
    (urn,) = fake.images
    assert post["content"] == {"media": {"id": urn, "altText": ALT_TEXTS[0]}}
    assert fake.images[urn]["content"] == media[0].read()
    assert fake.images[urn]["owner"] == fake.author_urn
    assert published.details["images"] == [urn]
    # Initialize, PUT the bytes to the upload URL, ask until AVAILABLE, then post.
    assert [(r.method, r.path.split("/")[1], r.path.split("/")[2]) for r in fake.requests] == [
        ("POST", "rest", "images"),
        ("PUT", "dms-uploads", "sp"),
        ("GET", "rest", "images"),
        ("POST", "rest", "posts"),
    ]
    initialize, put, status = fake.requests[:3]
    assert initialize.query_string == "action=initializeUpload"
    assert initialize.json == {"initializeUploadRequest": {"owner": fake.author_urn}}
    assert initialize.headers["Linkedin-Version"] == "202411"
    assert initialize.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert put.body == media[0].read()
    assert put.headers["Authorization"] == f"Bearer {fake.token}"
    assert status.path == f"{IMAGES}/{urn}"


def test_three_images_go_in_order_as_a_multi_image_post(fake, sleeper):
    media = three_images()
    publisher(fake, sleeper).publish(publication(media))

    (post,) = fake.posts
    images = post["content"]["multiImage"]["images"]
    assert [image["altText"] for image in images] == ALT_TEXTS
    assert [fake.images[image["id"]]["content"] for image in images] == [m.read() for m in media]
    (request,) = fake.requests_to(POSTS, "POST")
    assert request.json["commentary"] == linkedin_commentary(TEXT)
    assert request.json["content"] == {"multiImage": {"images": images}}


def test_an_image_still_processing_is_asked_about_until_available(fake, sleeper):
    fake.processing_polls = 3
    publisher(fake, sleeper).publish(publication(three_images()[:1]))
    (urn,) = fake.images
    assert fake.count("GET", f"{IMAGES}/{urn}") == 3
    assert sleeper.waits == [1.0, 1.0]
    assert fake.posts[0]["content"]["media"]["id"] == urn


def test_an_image_linkedin_cannot_process_is_refused_and_nothing_is_posted(fake, sleeper):
    fake.fail_processing = True
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(three_images()[:1]))
    assert "PROCESSING_FAILED" in str(caught.value)
    assert caught.value.ambiguous is False
    assert fake.count("POST", POSTS) == 0


def test_an_image_linkedin_rejects_at_the_upload_ends_the_job_naming_it(fake, sleeper):
    media = (
        item("att-1", image_bytes("PNG"), "image/png", "Fine."),
        item("att-2", b"not really a picture", "image/png", "Broken.", filename="broken.png"),
    )
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(media))
    message = str(caught.value)
    assert caught.value.status == 400
    assert caught.value.ambiguous is False
    assert "image 2 of 2 (broken.png)" in message
    assert "not a JPG, PNG or GIF" in message
    assert len(puts(fake)) == 2  # refused: not retried
    assert fake.count("POST", POSTS) == 0
    assert sleeper.waits == []


def test_a_refused_initialize_upload_ends_the_job_and_nothing_is_posted(fake, sleeper):
    fake.fail_next(
        422,
        body={"status": 422, "message": "/initializeUploadRequest/owner :: not allowed to own images"},
        path=IMAGES,
    )
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(three_images()))
    assert caught.value.status == 422
    assert "image 1 of 3" in str(caught.value)
    assert "not allowed to own images" in str(caught.value)
    assert puts(fake) == []
    assert fake.count("POST", POSTS) == 0


def test_an_expired_token_ends_the_job_at_the_first_upload(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="expired-li-token-never-shown").publish(
            publication(three_images())
        )
    assert caught.value.status == 401
    assert "expired" in str(caught.value)
    assert "expired-li-token-never-shown" not in str(caught.value)
    assert fake.count("POST", IMAGES) == 1
    assert fake.count("POST", POSTS) == 0
    assert sleeper.waits == []


def test_a_rate_limited_upload_ends_clearly_and_nothing_is_posted(fake, sleeper):
    fake.rate_limit_next(retry_after="45", path=IMAGES, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication(three_images()))
    assert caught.value.status == 429
    assert caught.value.ambiguous is False
    assert caught.value.retry_after == 45.0
    assert "rate-limiting" in str(caught.value)
    assert fake.count("POST", IMAGES) == 3
    assert fake.count("POST", POSTS) == 0


def test_an_upload_url_on_a_foreign_host_is_not_sent_the_token(fake, sleeper):
    fake.upload_origin = "https://uploads.example.net"
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(three_images()[:1]))
    assert "uploads.example.net" in str(caught.value)
    assert fake.count("POST", IMAGES) == 1  # not retried
    assert puts(fake) == []
    assert fake.count("POST", POSTS) == 0


def test_a_retried_attempt_reuses_what_was_uploaded(fake, sleeper):
    # The second image's status check fails once: the retry uploads nothing again.
    pub = publisher(fake, sleeper)
    fake.fail_next(503, path=f"{IMAGES}/urn:li:image:C4E10AQFake000002", method="GET")
    published = pub.publish(publication(three_images()[:2]))
    assert published.details["attempts"] == 2
    assert fake.count("POST", IMAGES) == 2
    assert len(puts(fake)) == 2
    (post,) = fake.posts
    assert [image["altText"] for image in post["content"]["multiImage"]["images"]] == ALT_TEXTS[:2]


def test_a_lost_answer_to_the_post_posts_once_and_uploads_nothing_again(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication(three_images()))

    (post,) = fake.posts
    assert published.post_id == post["id"]
    assert published.details["recovered"] is True
    assert fake.count("POST", POSTS) == 1
    assert fake.count("POST", IMAGES) == 3
    assert len(puts(fake)) == 3


def test_a_5xx_on_the_post_is_looked_up_then_posted_once_with_the_same_images(fake, sleeper):
    fake.fail_next(502)
    published = publisher(fake, sleeper).publish(publication(three_images()))
    assert len(fake.posts) == 1
    assert published.details["recovered"] is False
    assert fake.count("POST", IMAGES) == 3
    first, second = fake.requests_to(POSTS, "POST")
    assert first.json == second.json


def test_a_post_with_the_same_commentary_but_other_images_is_not_taken_for_ours(fake, sleeper):
    pub = publisher(fake, sleeper)
    media = three_images()[:1]
    published = pub.publish(publication(media))
    (post,) = fake.posts
    ours = post["content"]
    post["content"] = {"media": {"id": "urn:li:image:C4E10AQSomeoneElse", "altText": "Other"}}
    assert pub.find_published(publication(media)) is None
    post["content"] = ours
    found = pub.find_published(publication(media))
    assert found is not None
    assert found.post_id == published.post_id


def test_alt_text_over_4086_characters_is_refused_before_any_request(fake, sleeper):
    too_long = item("att-1", image_bytes("PNG"), "image/png", "a" * 4087)
    with pytest.raises(PlatformAuthError, match="at most 4086"):
        publisher(fake, sleeper).publish(publication([too_long]))
    assert fake.requests == []


def test_more_than_20_images_or_a_video_are_refused_before_any_request(fake, sleeper):
    many = [item(f"att-{i}", image_bytes("PNG", i), "image/png", "x") for i in range(21)]
    with pytest.raises(PlatformAuthError, match="At most 20 media"):
        publisher(fake, sleeper).publish(publication(many))
    video = item("att-v", b"\x00\x00\x00\x18ftypmp42", "video/mp4", "x")
    with pytest.raises(PlatformAuthError, match="video/mp4 is not accepted"):
        publisher(fake, sleeper).publish(publication([video]))
    assert fake.requests == []


def test_the_fake_refuses_what_linkedin_documents_it_refuses(fake, sleeper):
    # From the documentation, not this client: a MultiImage of one image, and an image that was
    # never uploaded, are refused with 422.
    pub = publisher(fake, sleeper)
    initialized = pub._http.post(
        f"{fake.base_url}{IMAGES}?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": fake.author_urn}},
    ).json()["value"]
    base = {
        "author": fake.author_urn,
        "commentary": "x",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED"},
        "lifecycleState": "PUBLISHED",
    }
    one = {"multiImage": {"images": [{"id": initialized["image"]}]}}
    waiting = {"media": {"id": initialized["image"]}}
    for content in (one, waiting):
        response = pub._http.post(f"{fake.base_url}{POSTS}", json={**base, "content": content})
        assert response.status_code == 422
    assert fake.posts == []
