"""MastodonPublisher against the stateful fake Mastodon: POST /api/v1/statuses with an Idempotency-Key."""

import pytest
from pytest_httpserver import HTTPServer

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.mastodon.publisher import MastodonPublisher
from platforms.kinds.publishing import Publication, Published, publisher_for
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.mastodon import FakeMastodon

STATUSES = "/api/v1/statuses"
KEY = "7f3a9c1e-0000-4000-8000-000000000001"


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


def connection_for(fake, **overrides):
    fields = {
        "name": "fedi",
        "platform_type": PlatformType.MASTODON,
        "instance_url": fake.base_url,
        "access_token": fake.token,
        "extra": {},
    }
    fields.update(overrides)
    return PlatformConnection(**fields)


def publisher(fake, sleeper, *, timeout=2.0, **overrides):
    return publisher_for(
        connection_for(fake, **overrides),
        timeout=timeout,
        policy=RetryPolicy(attempts=3),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


def publication(text="Hello fediverse & friends\n\nSecond paragraph #socialdesk https://example.com/a?b=1"):
    return Publication(text=text, idempotency_key=KEY)


def test_publisher_for_builds_a_mastodon_publisher_without_a_request(fake, httpserver):
    pub = publisher_for(connection_for(fake, platform_type=PlatformType.GOTOSOCIAL))
    assert isinstance(pub, MastodonPublisher)
    assert pub.platform_type == "gotosocial"
    assert fake.requests == []
    assert fake.token not in repr(pub)


def test_publish_posts_the_status_with_the_idempotency_key(fake, sleeper):
    published = publisher(fake, sleeper, extra={"visibility": "unlisted", "language": "en"}).publish(
        publication()
    )
    (created,) = fake.statuses_created()
    assert published == Published(
        post_id=created["id"],
        url=created["url"],
        platform_type="mastodon",
        details={"status": 200, "attempts": 1, "recovered": False},
    )
    (request,) = fake.requests_to(STATUSES, "POST")
    assert request.headers["Authorization"] == f"Bearer {fake.token}"
    assert request.headers["Idempotency-Key"] == KEY
    assert request.json == {"status": publication().text, "visibility": "unlisted", "language": "en"}
    assert created["visibility"] == "unlisted"
    assert sleeper.waits == []


def test_visibility_defaults_to_public_and_language_is_left_out(fake, sleeper):
    publisher(fake, sleeper).publish(publication())
    (request,) = fake.requests_to(STATUSES, "POST")
    assert request.json == {"status": publication().text, "visibility": "public"}


def test_a_rejected_token_is_an_auth_error_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong-token-never-shown").publish(publication())
    assert caught.value.status == 401
    assert caught.value.ambiguous is False
    assert "wrong-token-never-shown" not in str(caught.value)
    assert fake.count("POST", STATUSES) == 1
    assert sleeper.waits == []


def test_a_validation_error_is_a_rejection(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication("x" * 501))
    assert caught.value.status == 422
    assert "character limit" in str(caught.value)
    assert fake.statuses_created() == []


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(STATUSES, retry_after="7", method="POST")
    pub = publisher(fake, sleeper)
    published = pub.publish(publication())
    assert sleeper.waits == [7.0]
    assert published.details["attempts"] == 2
    assert len(fake.statuses_created()) == 1
    assert pub.retry_stats.reasons == {"429": 1}


def test_a_5xx_is_retried_with_the_same_key(fake, sleeper):
    fake.error_next(STATUSES, status=503, method="POST")
    publisher(fake, sleeper).publish(publication())
    keys = [r.headers["Idempotency-Key"] for r in fake.requests_to(STATUSES, "POST")]
    assert keys == [KEY, KEY]
    assert len(fake.statuses_created()) == 1


def test_a_5xx_after_the_post_landed_does_not_post_twice(fake, sleeper):
    fake.fail_next(STATUSES, method="POST", status=502, apply=True)
    published = publisher(fake, sleeper).publish(publication())
    (created,) = fake.statuses_created()
    assert published.post_id == created["id"]
    assert fake.count("POST", STATUSES) == 2


def test_a_malformed_answer_is_retried_and_the_key_dedupes(fake, sleeper):
    fake.malformed_next(STATUSES, method="POST", apply=True)
    published = publisher(fake, sleeper).publish(publication())
    (created,) = fake.statuses_created()
    assert published.post_id == created["id"]


def test_an_answer_lost_to_a_timeout_is_retried_with_the_same_key_and_posts_once(fake, sleeper):
    fake.accept_then_hang_next(seconds=1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    (created,) = fake.statuses_created()
    assert published.post_id == created["id"]
    assert published.details["attempts"] == 2
    assert [r.headers["Idempotency-Key"] for r in fake.requests_to(STATUSES, "POST")] == [KEY, KEY]


def test_failures_that_outlast_the_retries_are_unavailable_and_ambiguous(fake, sleeper):
    fake.error_next(STATUSES, status=500, method="POST", times=3)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 500
    assert caught.value.ambiguous is True
    assert fake.token not in str(caught.value)
    assert len(sleeper.waits) == 2


def test_find_published_matches_the_plain_text_of_recent_statuses(fake, sleeper):
    fake.add_status(text="Something else", media=())
    fake.add_status(text=publication().text, media=())
    found = publisher(fake, sleeper).find_published(publication())
    assert found is not None
    assert found.details["recovered"] is True
    assert fake.status(found.post_id)["content"].startswith("<p>Hello fediverse &amp; friends")
    (listing,) = fake.requests_to(f"/api/v1/accounts/{fake.account['id']}/statuses")
    assert listing.arg("limit") == "20"


def test_find_published_returns_none_when_absent(fake, sleeper):
    fake.add_status(text="Something else", media=())
    assert publisher(fake, sleeper).find_published(publication()) is None
