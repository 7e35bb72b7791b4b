"""MastodonPublisher with media against the stateful fake: each image uploaded to POST /api/v2/media
with its alt text, processing waited for, the status carrying the media ids in order."""

import io

import httpx
import pytest
from PIL import Image
from pytest_httpserver import HTTPServer

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, publisher_for
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.mastodon import FakeMastodon

STATUSES = "/api/v1/statuses"
UPLOADS = "/api/v2/media"
KEY = "7f3a9c1e-0000-4000-8000-000000000002"

SIGN = "Ein Schild am Zaun:\n„Betreten verboten“\n\n下に日本語: 立入禁止"
CAT = "A ginger cat asleep in a sunbeam 🐈☀️ (its paw twitches)"
HERON = "A grey heron standing in shallow water."


@pytest.fixture(scope="module")
def make_httpserver():
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def fake(httpserver):
    return FakeMastodon(httpserver)


def encoded(format_: str, colour=(200, 80, 40), size=(12, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=format_)
    return out.getvalue()


def item(key, alt_text, *, format_="PNG", media_type="image/png", filename=None, focus=None, data=None):
    data = data if data is not None else encoded(format_)
    return MediaItem(
        key=key,
        media_type=media_type,
        filename=filename or f"{key}.{format_.lower()}",
        size=len(data),
        read=lambda: data,
        alt_text=alt_text,
        width=12,
        height=8,
        focus=focus,
    )


THREE = (
    item("sign", SIGN, format_="JPEG", media_type="image/jpeg", focus=(0.25, -0.5)),
    item("cat", CAT),
    item("heron", HERON, format_="WEBP", media_type="image/webp"),
)


def publication(media=THREE, text="Three pictures from the walk #Birds"):
    return Publication(text=text, idempotency_key=KEY, media=tuple(media))


def publisher(fake, sleeper, *, platform_type=PlatformType.MASTODON, timeout=2.0, token=None):
    connection = PlatformConnection(
        name="fedi",
        platform_type=platform_type,
        instance_url=fake.base_url,
        access_token=token or fake.token,
        extra={},
    )
    return publisher_for(
        connection,
        timeout=timeout,
        policy=RetryPolicy(attempts=3),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


def test_three_images_arrive_in_order_each_with_its_exact_description(fake, sleeper):
    published = publisher(fake, sleeper).publish(publication())

    (created,) = fake.statuses_created()
    assert published.post_id == created["id"]
    attachments = created["media_attachments"]
    assert [m["description"] for m in attachments] == [SIGN, CAT, HERON]
    assert [m["type"] for m in attachments] == ["image", "image", "image"]
    assert all(m["url"] for m in attachments)
    # The fake found each type from the bytes: the upload is the file itself, in order.
    uploads = fake.uploads()
    assert [u["content_type"] for u in uploads] == ["image/jpeg", "image/png", "image/webp"]
    assert [u["filename"] for u in uploads] == ["sign.jpeg", "cat.png", "heron.webp"]
    assert [u["size"] for u in uploads] == [i.size for i in THREE]
    assert [m["id"] for m in attachments] == [u["id"] for u in uploads]
    # The focal point only where it is known, with two decimals.
    assert [r.form.get("focus") for r in fake.requests_to(UPLOADS, "POST")] == [["0.25,-0.50"], None, None]
    assert fake.media(attachments[0]["id"])["meta"]["focus"] == {"x": 0.25, "y": -0.5}
    (post,) = fake.requests_to(STATUSES, "POST")
    assert post.json["media_ids"] == [u["id"] for u in uploads]
    assert post.headers["Idempotency-Key"] == KEY
    assert sleeper.waits == []  # every upload was processed at once (200)


def test_the_account_lists_the_status_with_its_images(fake, sleeper):
    published = publisher(fake, sleeper).publish(publication())
    # A later job's lookup reads the account's statuses: the one posted, with its three images.
    found = publisher(fake, sleeper).find_published(publication())
    assert found is not None and found.post_id == published.post_id
    listing = httpx.get(
        f"{fake.base_url}/api/v1/accounts/{fake.account['id']}/statuses",
        headers={"Authorization": f"Bearer {fake.token}"},
    ).json()
    (status,) = listing
    assert [m["description"] for m in status["media_attachments"]] == [SIGN, CAT, HERON]


def test_uploads_still_processing_are_asked_for_until_done(fake, sleeper):
    fake.processing_delay = 2  # 202 with no url, then two 206 answers, then 200
    pub = publisher(fake, sleeper)
    pub.publish(publication(media=THREE[:1]))

    (upload,) = fake.uploads()
    assert fake.count("GET", f"/api/v1/media/{upload['id']}") == 3
    assert sleeper.waits == [1.0, 2.0, 3.0]
    (created,) = fake.statuses_created()
    assert created["media_attachments"][0]["id"] == upload["id"]
    assert created["media_attachments"][0]["url"].endswith(f"/media/{upload['id']}/original")
    assert created["media_attachments"][0]["description"] == SIGN


def test_processing_that_never_ends_is_a_clear_error_and_nothing_is_posted(fake, sleeper):
    fake.processing_delay = 10**6
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper, timeout=2.0).publish(publication(media=THREE[:1]))

    assert "still processing image 1 of 1 (sign.jpeg)" in str(caught.value)
    assert "nothing was posted" in str(caught.value)
    assert caught.value.ambiguous is False
    # Bounded: at most six timeouts (12 s) of waiting asked for, then one last look; not retried.
    assert sleeper.waits == [1.0, 2.0, 3.0, 5.0, 5.0]
    assert fake.count("POST", UPLOADS) == 1
    assert fake.count("POST", STATUSES) == 0
    assert fake.statuses_created() == []


def test_a_lost_answer_to_the_status_posts_once_and_uploads_once(fake, sleeper):
    fake.accept_then_hang_next(seconds=2.5)
    published = publisher(fake, sleeper, timeout=1.0).publish(publication())

    (created,) = fake.statuses_created()
    assert published.post_id == created["id"]
    assert published.details["attempts"] == 2
    assert fake.count("POST", UPLOADS) == 3
    first, second = fake.requests_to(STATUSES, "POST")
    assert (
        first.json["media_ids"] == second.json["media_ids"] == [m["id"] for m in created["media_attachments"]]
    )
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == KEY
    assert [m["description"] for m in created["media_attachments"]] == [SIGN, CAT, HERON]


def test_publishing_again_with_the_same_publisher_reuses_the_uploads(fake, sleeper):
    fake.error_next(STATUSES, status=503, method="POST", times=3)
    pub = publisher(fake, sleeper)
    with pytest.raises(PlatformUnavailableError):
        pub.publish(publication())
    assert fake.statuses_created() == []

    pub.publish(publication())
    (created,) = fake.statuses_created()
    assert fake.count("POST", UPLOADS) == 3
    assert [m["id"] for m in created["media_attachments"]] == [u["id"] for u in fake.uploads()]


def test_an_upload_the_server_refuses_ends_clearly_with_nothing_posted(fake, sleeper):
    fake.instance_v2["configuration"]["media_attachments"]["supported_mime_types"].remove("image/webp")
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())

    assert caught.value.status == 422
    assert "image 3 of 3 (heron.webp)" in str(caught.value)
    assert "File content type is invalid" in str(caught.value)  # the server's own words
    assert caught.value.ambiguous is False
    assert fake.count("POST", UPLOADS) == 3  # not retried
    assert fake.count("POST", STATUSES) == 0
    assert sleeper.waits == []


def test_an_upload_too_large_for_the_proxy_says_so(fake, sleeper):
    fake.error_next(
        UPLOADS, status=413, method="POST", body="<html><h1>413 Request Entity Too Large</h1></html>"
    )
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication(media=THREE[:1]))
    assert caught.value.status == 413
    assert "larger than the server takes" in str(caught.value)
    assert fake.count("POST", STATUSES) == 0


def test_a_rate_limited_upload_waits_for_the_reset_then_goes_on(fake, sleeper):
    fake.rate_limit_next(UPLOADS, retry_after=None, reset_in=30, method="POST")
    pub = publisher(fake, sleeper)
    pub.publish(publication())

    (wait,) = sleeper.waits
    assert 25 < wait <= 30  # X-RateLimit-Reset, 30 s ahead when it was sent
    assert pub.retry_stats.reasons == {"429": 1}
    assert fake.count("POST", UPLOADS) == 4  # the refused one, then each image once
    (created,) = fake.statuses_created()
    assert [m["description"] for m in created["media_attachments"]] == [SIGN, CAT, HERON]


def test_server_errors_on_an_upload_are_retried_and_never_ambiguous(fake, sleeper):
    fake.error_next(UPLOADS, status=502, method="POST", times=3)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 502
    assert caught.value.ambiguous is False  # no status was sent: nothing may exist
    assert fake.count("POST", STATUSES) == 0


def test_a_rejected_token_stops_at_the_first_upload(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, token="wrong-token-never-shown").publish(publication())
    assert caught.value.status == 401
    assert "wrong-token-never-shown" not in str(caught.value)
    assert fake.count("POST", UPLOADS) == 1
    assert fake.count("POST", STATUSES) == 0
    assert sleeper.waits == []


def test_find_published_wants_the_same_number_of_media(fake, sleeper):
    fake.add_status(text=publication().text, media=())
    assert publisher(fake, sleeper).find_published(publication()) is None
    with_media = fake.add_status(text=publication().text, media=[SIGN, CAT, HERON])
    found = publisher(fake, sleeper).find_published(publication())
    assert found is not None and found.post_id == with_media["id"]


def test_pixelfed_posts_media_the_same_way(httpserver, sleeper):
    fake = FakeMastodon(httpserver, flavor="pixelfed", description_limit=1000)
    pub = publisher(fake, sleeper, platform_type=PlatformType.PIXELFED)
    pixelfed_three = (THREE[0], THREE[1], item("gull", HERON, format_="GIF", media_type="image/gif"))
    published = pub.publish(publication(media=pixelfed_three))

    (created,) = fake.statuses_created()
    assert published.platform_type == "pixelfed"
    assert [m["description"] for m in created["media_attachments"]] == [SIGN, CAT, HERON]
    # Pixelfed answers every upload 202 with no url: each is asked for once, and is done.
    assert [u["content_type"] for u in fake.uploads()] == ["image/jpeg", "image/png", "image/gif"]
    assert sleeper.waits == [1.0, 1.0, 1.0]
    assert all(fake.count("GET", f"/api/v1/media/{u['id']}") == 1 for u in fake.uploads())


def test_pixelfed_refuses_a_type_it_does_not_take_in_laravels_words(httpserver, sleeper):
    fake = FakeMastodon(httpserver, flavor="pixelfed")
    video = item(
        "clip",
        "A short clip of waves.",
        media_type="video/mp4",
        data=b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64,
    )
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, platform_type=PlatformType.PIXELFED).publish(publication(media=[video]))
    assert caught.value.status == 422
    assert "The file must be a file of type: image/jpeg, image/png, image/gif" in str(caught.value)
    assert fake.statuses_created() == []


def test_a_video_goes_alone_and_is_waited_for(fake, sleeper):
    fake.processing_delay = 1
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 256
    clip = item("clip", "Waves breaking on a pebble beach.\nNo speech.", media_type="video/mp4", data=mp4)
    publisher(fake, sleeper).publish(publication(media=[clip]))

    (created,) = fake.statuses_created()
    (attachment,) = created["media_attachments"]
    assert attachment["type"] == "video"
    assert attachment["description"] == "Waves breaking on a pebble beach.\nNo speech."
    assert fake.uploads()[0]["content_type"] == "video/mp4"
    assert sleeper.waits == [1.0, 2.0]


def test_mastodon_refuses_a_status_with_media_still_processing(fake):
    # The fake, as Mastodon, refuses to attach an upload that is not processed: why the publisher waits.
    fake.processing_delay = 1
    upload = httpx.post(
        f"{fake.base_url}{UPLOADS}",
        headers={"Authorization": f"Bearer {fake.token}"},
        files={"file": ("a.png", encoded("PNG"), "image/png")},
        data={"description": CAT},
    )
    assert upload.status_code == 202 and upload.json()["url"] is None
    status = httpx.post(
        f"{fake.base_url}{STATUSES}",
        headers={"Authorization": f"Bearer {fake.token}"},
        json={"status": "Too soon", "media_ids": [upload.json()["id"]]},
    )
    assert status.status_code == 422
    assert "not finished processing" in status.json()["error"]
    assert fake.statuses_created() == []


def test_pixelfed_is_not_trusted_with_the_key_a_lost_answer_is_looked_up_not_posted_again(
    httpserver, sleeper
):
    fake = FakeMastodon(httpserver, flavor="pixelfed", description_limit=1000)
    fake.honours_idempotency_key = False  # what its documentation promises
    fake.accept_then_hang_next(seconds=2.5)
    pixelfed_two = THREE[:2]
    published = publisher(fake, sleeper, platform_type=PlatformType.PIXELFED, timeout=1.0).publish(
        publication(media=pixelfed_two)
    )

    (created,) = fake.statuses_created()
    assert published.post_id == created["id"] and published.details["recovered"]
    assert fake.count("POST", STATUSES) == 1, "found by the lookup, not posted twice"
