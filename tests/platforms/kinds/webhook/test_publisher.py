"""WebhookPublisher against a fake receiver that checks the signature and dedupes by key."""

import hashlib
import hmac
import json

import pytest

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
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
    assert set(body) == {"idempotency_key", "title", "content", "content_html", "sent_at"}
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
