"""WebhookPublisher against a fake receiver that checks the signature and dedupes by key."""

import hashlib
import hmac
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from core.signed_media import signed_media_url
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.media import MediaItem
from platforms.kinds.publishing import Publication, Published, publisher_for
from platforms.kinds.webhook.publisher import WebhookPublisher, webhook_signature
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.webhook import FakeWebhook

KEY = "deadbeef-4444-4000-8000-000000000005"
TEXT = "# Title\n\nSome *markdown* text."


@pytest.fixture
def fake(httpserver):
    return FakeWebhook(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, **overrides):
    fields = {
        "name": "hook",
        "platform_type": PlatformType.WEBHOOK,
        "instance_url": fake.url,
        "access_token": fake.secret,
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


def publication():
    return Publication(text=TEXT, title="A title", idempotency_key=KEY)


def test_the_signature_is_an_hmac_of_timestamp_and_body():
    body = b'{"a":1}'
    digest = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature(secret="secret", timestamp="1700000000", body=body) == f"sha256={digest}"


def test_publish_sends_a_signed_json_body(fake, sleeper):
    pub = publisher(fake, sleeper)
    assert isinstance(pub, WebhookPublisher)
    published = pub.publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=post["id"],
        url=post["url"],
        platform_type="webhook",
        details={"status": 201, "attempts": 1, "recovered": False},
    )
    (request,) = fake.requests_to(fake.path, "POST")
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers["X-Socialdesk-Timestamp"]
    assert timestamp.isdigit()
    assert request.headers["X-Socialdesk-Signature"] == webhook_signature(
        secret=fake.secret, timestamp=timestamp, body=request.body
    )
    body = json.loads(request.body)
    assert set(body) == {"idempotency_key", "title", "content", "content_html", "sent_at", "images"}
    assert body["images"] == []
    assert body["idempotency_key"] == KEY
    assert body["title"] == "A title"
    assert body["content"] == TEXT
    assert body["content_html"] == "<h1>Title</h1>\n<p>Some <em>markdown</em> text.</p>"
    assert fake.secret not in request.body.decode()


def test_an_empty_answer_uses_the_idempotency_key_as_id(fake, sleeper):
    fake.answer_body = False
    published = publisher(fake, sleeper).publish(publication())
    assert published.post_id == KEY
    assert published.url is None
    assert published.details["status"] == 204


def test_a_wrong_secret_is_a_401_rejection_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong-shared-secret-never-shown").publish(publication())
    assert caught.value.status == 401
    assert "wrong-shared-secret" not in str(caught.value)
    assert fake.posts == []
    assert fake.count("POST", fake.path) == 1


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(retry_after="5")
    publisher(fake, sleeper).publish(publication())
    assert sleeper.waits == [5.0]
    assert len(fake.posts) == 1


def test_a_5xx_is_retried_with_the_same_key_and_body(fake, sleeper):
    fake.fail_next(502)
    publisher(fake, sleeper).publish(publication())
    first, second = fake.requests_to(fake.path, "POST")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == KEY
    assert first.body == second.body
    assert len(fake.posts) == 1


def test_an_answer_lost_to_a_timeout_is_resent_and_the_receiver_dedupes(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    (post,) = fake.posts
    assert published.post_id == post["id"]
    assert published.details["attempts"] == 2
    assert fake.count("POST", fake.path) == 2


def test_a_malformed_2xx_body_still_counts_as_published(fake, sleeper):
    fake.malformed_next()
    published = publisher(fake, sleeper).publish(publication())
    assert published.post_id == KEY
    assert len(fake.posts) == 1
    assert fake.count("POST", fake.path) == 1


def test_failures_that_outlast_the_retries_are_unavailable_and_ambiguous(fake, sleeper):
    fake.fail_next(500, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.ambiguous is True
    assert fake.count("POST", fake.path) == 3


def test_find_published_cannot_ask_a_webhook(fake, sleeper):
    assert publisher(fake, sleeper).find_published(publication()) is None
    assert fake.requests == []


# Media ------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 60
ALT_PNG = 'Ein Diagramm: "Umsatz" steigt <stark> & stetig.\nZweite Zeile, 東京 ☕'
ALT_JPEG = "Portrait of Ada, smiling"


def item(key, *, data, media_type, alt_text, url, width=None, height=None):
    return MediaItem(
        key=key,
        media_type=media_type,
        filename=key + (".png" if media_type == "image/png" else ".jpg"),
        size=len(data),
        read=lambda: data,
        alt_text=alt_text,
        width=width,
        height=height,
        url=url,
    )


def with_media(*media):
    return Publication(text=TEXT, title="A title", idempotency_key=KEY, media=tuple(media))


def test_the_payload_lists_the_images_in_order_with_their_exact_alt_text(fake, sleeper):
    first = item(
        "att-2",
        data=PNG,
        media_type="image/png",
        alt_text=ALT_PNG,
        url="https://desk.example.org/media/signed/one/",
        width=1200,
        height=800,
    )
    second = item(
        "att-1",
        data=JPEG,
        media_type="image/jpeg",
        alt_text=ALT_JPEG,
        url="https://desk.example.org/media/signed/two/",
    )
    publisher(fake, sleeper).publish(with_media(first, second))
    (request,) = fake.requests_to(fake.path, "POST")
    # The receiver accepted it (it checks the signature); a receiver's own check, over these bytes:
    assert len(fake.posts) == 1
    expected = webhook_signature(
        secret=fake.secret, timestamp=request.headers["X-Socialdesk-Timestamp"], body=request.body
    )
    assert hmac.compare_digest(request.headers["X-Socialdesk-Signature"], expected)
    assert json.loads(request.body)["images"] == [
        {
            "url": "https://desk.example.org/media/signed/one/",
            "alt_text": ALT_PNG,
            "media_type": "image/png",
            "width": 1200,
            "height": 800,
            "position": 1,
        },
        {
            "url": "https://desk.example.org/media/signed/two/",
            "alt_text": ALT_JPEG,
            "media_type": "image/jpeg",
            "width": None,
            "height": None,
            "position": 2,
        },
    ]
    assert fake.posts[0]["images"][0]["alt_text"] == ALT_PNG  # line break, quotes and <> kept


def test_a_retry_sends_the_same_images(fake, sleeper):
    url = "https://desk.example.org/media/signed/one/"
    fake.fail_next(503)
    publisher(fake, sleeper).publish(
        with_media(item("a", data=PNG, media_type="image/png", alt_text="x", url=url))
    )
    first, second = fake.requests_to(fake.path, "POST")
    assert first.body == second.body
    assert json.loads(second.body)["images"][0]["url"] == url
    assert len(fake.posts) == 1


def test_an_item_without_a_url_is_refused_before_anything_is_sent(fake, sleeper):
    good = item("a", data=PNG, media_type="image/png", alt_text="x", url="https://desk.example.org/m/1/")
    bad = item("b", data=JPEG, media_type="image/jpeg", alt_text="y", url=None)
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(with_media(good, bad))
    assert "Media item 2" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert fake.requests == []
    assert sleeper.waits == []


def test_the_receiver_fetches_each_signed_url_from_the_site(fake, sleeper, live_server, settings):
    """End to end: URLs signed on PUBLIC_BASE_URL, sent signed, fetched by the receiver."""
    settings.PUBLIC_BASE_URL = live_server.url
    keys = [
        default_storage.save("workflows/attachments/webhook-test/chart.png", ContentFile(PNG)),
        default_storage.save("workflows/attachments/webhook-test/ada.jpg", ContentFile(JPEG)),
    ]
    try:
        media = [
            item(
                "p",
                data=PNG,
                media_type="image/png",
                alt_text=ALT_PNG,
                url=signed_media_url(storage_key=keys[0]),
            ),
            item(
                "j",
                data=JPEG,
                media_type="image/jpeg",
                alt_text=ALT_JPEG,
                url=signed_media_url(storage_key=keys[1]),
            ),
        ]
        fake.fetch_images = True
        publisher(fake, sleeper).publish(with_media(*media))
        assert [(got["status"], got["content_type"], got["body"]) for got in fake.fetched] == [
            (200, "image/png", PNG),
            (200, "image/jpeg", JPEG),
        ]
        assert [got["url"] for got in fake.fetched] == [m.url for m in media]
        assert all(got["url"].startswith(live_server.url + "/media/signed/") for got in fake.fetched)
    finally:
        for key in keys:
            default_storage.delete(key)
