"""XPublisher against a stateful fake X API v2 (POST /2/tweets; lookup through users/me and the timeline)."""

import time

import pytest

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.publishing import Publication, Published, publisher_for
from platforms.kinds.x.publisher import XPublisher
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.x import FakeX

TWEETS = "/2/tweets"
KEY = "0b5e2f4c-1111-4000-8000-000000000002"
TEXT = "Shipping the publishers today & tomorrow <3 https://example.com/posts/1?utm=x"


@pytest.fixture
def fake(httpserver):
    return FakeX(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, **overrides):
    fields = {
        "name": "x",
        "platform_type": PlatformType.X,
        "instance_url": fake.base_url,
        "username": "socialdesk",
        "access_token": fake.token,
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


def publication(text=TEXT):
    return Publication(text=text, idempotency_key=KEY)


def test_publish_posts_the_text_with_the_user_token(fake, sleeper):
    pub = publisher(fake, sleeper)
    assert isinstance(pub, XPublisher)
    published = pub.publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=post["id"],
        url=f"https://x.com/socialdesk/status/{post['id']}",
        platform_type="x",
        details={"status": 201, "attempts": 1, "recovered": False},
    )
    (request,) = fake.requests_to(TWEETS, "POST")
    assert request.json == {"text": TEXT}
    assert request.headers["Authorization"] == f"Bearer {fake.token}"
    assert request.headers["Content-Type"] == "application/json"


def test_without_a_username_the_url_uses_the_generic_form(fake, sleeper):
    published = publisher(fake, sleeper, username=None).publish(publication())
    assert published.url == f"https://x.com/i/web/status/{published.post_id}"


def test_a_rejected_token_is_an_auth_error_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong-x-token-never-shown").publish(publication())
    assert caught.value.status == 401
    assert caught.value.ambiguous is False
    assert "wrong-x-token-never-shown" not in str(caught.value)
    assert fake.count("POST", TWEETS) == 1
    assert sleeper.waits == []


def test_a_403_without_the_scope_is_a_rejection_naming_the_problem(fake, sleeper):
    fake.fail_next(
        403,
        body={
            "title": "Forbidden",
            "detail": "You are not permitted to perform this action.",
            "type": "about:blank",
        },
    )
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 403
    assert "not permitted" in str(caught.value)
    assert fake.count("POST", TWEETS) == 1


def test_duplicate_content_on_a_first_attempt_is_a_rejection(fake, sleeper):
    fake.add_post(TEXT)
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 403
    assert "duplicate" in str(caught.value)
    assert caught.value.ambiguous is False
    assert fake.count("GET", "/2/users/me") == 0


def test_a_too_long_text_is_a_400_rejection(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication("x" * 281))
    assert caught.value.status == 400
    assert fake.posts == []


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(retry_after="4")
    published = publisher(fake, sleeper).publish(publication())
    assert sleeper.waits == [4.0]
    assert published.details["attempts"] == 2
    assert len(fake.posts) == 1


def test_a_429_without_retry_after_waits_until_the_reset(fake, sleeper):
    fake.reset_in = 12
    fake.rate_limit_next(retry_after=None)
    publisher(fake, sleeper).publish(publication())
    (wait,) = sleeper.waits
    assert 10 <= wait <= 12


def test_a_5xx_that_did_not_post_is_looked_up_then_posted_once(fake, sleeper):
    fake.fail_next(503)
    published = publisher(fake, sleeper).publish(publication())
    (post,) = fake.posts
    assert published.post_id == post["id"]
    assert published.details == {"status": 201, "attempts": 2, "recovered": False}
    # The lookup ran before the second POST.
    methods = [(r.method, r.path) for r in fake.requests]
    assert methods == [
        ("POST", TWEETS),
        ("GET", "/2/users/me"),
        ("GET", f"/2/users/{fake.user['id']}/tweets"),
        ("POST", TWEETS),
    ]


def test_an_answer_lost_to_a_timeout_is_found_and_not_posted_twice(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=post["id"],
        url=f"https://x.com/socialdesk/status/{post['id']}",
        platform_type="x",
        details={"status": None, "attempts": 1, "recovered": True},
    )
    assert fake.count("POST", TWEETS) == 1


def test_a_timeout_that_did_not_post_posts_again_after_the_lookup(fake, sleeper):
    fake.hang_next(1.0)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    assert len(fake.posts) == 1
    assert published.details["recovered"] is False
    assert fake.count("POST", TWEETS) == 2


def test_a_malformed_success_is_ambiguous_and_recovered_by_lookup(fake, sleeper):
    fake.malformed_next()
    published = publisher(fake, sleeper).publish(publication())
    assert len(fake.posts) == 1
    assert published.details["recovered"] is True
    assert fake.count("POST", TWEETS) == 1


def test_duplicate_after_a_lost_answer_means_it_landed(fake, sleeper, monkeypatch):
    # The lookup right after the timeout misses the post (timelines can lag); the re-POST gets
    # "duplicate content", which after a lost answer means ours landed: look again and return it.
    fake.accept_then_hang_next(1.5)
    real_find = XPublisher._find_once
    calls = []

    def lagging_find(self, publication):
        calls.append(1)
        return None if len(calls) == 1 else real_find(self, publication)

    monkeypatch.setattr(XPublisher, "_find_once", lagging_find)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    assert len(fake.posts) == 1
    assert published.post_id == fake.posts[0]["id"]
    assert published.details["recovered"] is True
    assert fake.count("POST", TWEETS) == 2


def test_a_failing_lookup_never_posts_blindly(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    fake.fail_next(503, path="/2/users/me", method="GET", times=5)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper, timeout=0.3).publish(publication())
    assert caught.value.ambiguous is True
    assert fake.count("POST", TWEETS) == 1
    assert len(fake.posts) == 1


def test_a_refused_lookup_stops_as_ambiguous(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    fake.fail_next(403, path="/2/users/me", method="GET")
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper, timeout=0.3).publish(publication())
    assert caught.value.ambiguous is True
    assert "may already exist" in str(caught.value)
    assert fake.count("POST", TWEETS) == 1
    assert fake.count("GET", "/2/users/me") == 1


def test_server_errors_that_outlast_the_retries_are_ambiguous(fake, sleeper):
    fake.fail_next(500, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 500
    assert caught.value.ambiguous is True
    assert fake.posts == []
    assert fake.count("POST", TWEETS) == 3


def test_find_published_matches_despite_t_co_links_and_entities(fake, sleeper):
    fake.add_post("An older post")
    mine = fake.add_post(TEXT)
    fake.add_post("A newer post")
    found = publisher(fake, sleeper, username=None).find_published(publication())
    assert found is not None
    assert found.post_id == mine["id"]
    assert found.url == f"https://x.com/socialdesk/status/{mine['id']}"
    assert found.details == {"status": None, "recovered": True}
    (timeline,) = fake.requests_to(f"/2/users/{fake.user['id']}/tweets")
    assert timeline.arg("max_results") == "10"


def test_find_published_returns_none_on_an_empty_timeline(fake, sleeper):
    assert publisher(fake, sleeper).find_published(publication()) is None


def test_find_published_with_a_malformed_timeline_is_unavailable(fake, sleeper):
    fake.malformed_next(path=f"/2/users/{fake.user['id']}/tweets", method="GET", times=3)
    with pytest.raises(PlatformUnavailableError):
        publisher(fake, sleeper).find_published(publication())


def test_the_rate_limit_reset_header_is_read_as_epoch_seconds():
    pub = XPublisher(base_url="https://api.x.test", access_token="t", throttle=HostThrottle(rate=1))
    assert pub._rate_limit_wait({"x-rate-limit-reset": str(int(time.time()) - 5)}) == 0.0
    assert pub._rate_limit_wait({"x-rate-limit-reset": "soon"}) is None
