"""LinkedInPublisher against a stateful fake LinkedIn Posts API."""

import pytest

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.linkedin.publisher import LinkedInPublisher, linkedin_commentary
from platforms.kinds.publishing import Publication, Published, publisher_for
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.linkedin import FakeLinkedIn

POSTS = "/rest/posts"
KEY = "c0ffee00-2222-4000-8000-000000000003"
TEXT = "Big news (finally): we ship *today* #Launch @team [beta] - see https://example.com/a_b"


@pytest.fixture
def fake(httpserver):
    return FakeLinkedIn(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, extra=None, **overrides):
    fields = {
        "name": "linkedin",
        "platform_type": PlatformType.LINKEDIN,
        "instance_url": fake.base_url,
        "access_token": fake.token,
        "extra": {"author_urn": fake.author_urn} if extra is None else extra,
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


def test_commentary_escapes_little_text_markup_and_keeps_hashtags():
    assert linkedin_commentary("a (b) [c] {d} <e> @f | g ~ h_i *j* \\k") == (
        "a \\(b\\) \\[c\\] \\{d\\} \\<e\\> \\@f \\| g \\~ h\\_i \\*j\\* \\\\k"
    )
    assert linkedin_commentary("#Launch day, issue #42 and C# too") == (
        "{hashtag|\\#|Launch} day, issue {hashtag|\\#|42} and C\\# too"
    )


def test_publish_sends_the_posts_api_body_and_headers(fake, sleeper):
    pub = publisher(fake, sleeper)
    assert isinstance(pub, LinkedInPublisher)
    published = pub.publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=post["id"],
        url=f"https://www.linkedin.com/feed/update/{post['id']}/",
        platform_type="linkedin",
        details={"status": 201, "attempts": 1, "recovered": False},
    )
    assert post["id"].startswith("urn:li:share:")
    (request,) = fake.requests_to(POSTS, "POST")
    assert request.headers["Authorization"] == f"Bearer {fake.token}"
    assert request.headers["Linkedin-Version"] == "202411"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert request.json == {
        "author": fake.author_urn,
        "commentary": linkedin_commentary(TEXT),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def test_the_version_and_an_organization_author_come_from_extra(fake, sleeper):
    extra = {"author_urn": fake.organization_urn, "linkedin_version": "202501"}
    publisher(fake, sleeper, extra=extra).publish(publication())
    (request,) = fake.requests_to(POSTS, "POST")
    assert request.headers["Linkedin-Version"] == "202501"
    assert fake.posts[0]["author"] == fake.organization_urn


@pytest.mark.parametrize("extra", [{}, {"author_urn": "urn:li:company:1"}, {"author_urn": "ada"}])
def test_a_missing_or_invalid_author_urn_is_a_clear_rejection_before_any_request(fake, sleeper, extra):
    with pytest.raises(PlatformAuthError, match="author URN"):
        publisher(fake, sleeper, extra=extra).publish(publication())
    assert fake.requests == []


def test_a_rejected_token_is_an_auth_error_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong-li-token-never-shown").publish(publication())
    assert caught.value.status == 401
    assert "wrong-li-token-never-shown" not in str(caught.value)
    assert fake.count("POST", POSTS) == 1
    assert sleeper.waits == []


def test_an_author_of_someone_else_is_a_403_rejection(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, extra={"author_urn": "urn:li:person:someoneElse"}).publish(publication())
    assert caught.value.status == 403
    assert "permissions" in str(caught.value)


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(retry_after="3")
    published = publisher(fake, sleeper).publish(publication())
    assert sleeper.waits == [3.0]
    assert published.details["attempts"] == 2
    assert len(fake.posts) == 1


def test_a_5xx_is_looked_up_then_posted_once(fake, sleeper):
    fake.fail_next(502)
    published = publisher(fake, sleeper).publish(publication())
    (post,) = fake.posts
    assert published.post_id == post["id"]
    assert published.details["recovered"] is False
    assert [(r.method, r.path) for r in fake.requests] == [("POST", POSTS), ("GET", POSTS), ("POST", POSTS)]


def test_the_lookup_asks_for_the_authors_posts_with_an_encoded_urn(fake, sleeper):
    fake.fail_next(503)
    publisher(fake, sleeper).publish(publication())
    (lookup,) = fake.requests_to(POSTS, "GET")
    assert "author=urn%3Ali%3Aperson%3Aabc123XYZ" in lookup.query_string
    assert lookup.arg("q") == "author"
    assert lookup.arg("count") == "10"
    assert lookup.arg("sortBy") == "LAST_MODIFIED"
    assert lookup.headers["Linkedin-Version"] == "202411"


def test_an_answer_lost_to_a_timeout_is_found_and_not_posted_twice(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=post["id"],
        url=f"https://www.linkedin.com/feed/update/{post['id']}/",
        platform_type="linkedin",
        details={"status": None, "attempts": 1, "recovered": True},
    )
    assert fake.count("POST", POSTS) == 1


def test_a_201_without_the_post_id_is_recovered_by_lookup(fake, sleeper):
    fake.malformed_next()
    published = publisher(fake, sleeper).publish(publication())
    assert len(fake.posts) == 1
    assert published.post_id == fake.posts[0]["id"]
    assert published.details["recovered"] is True


def test_a_duplicate_on_a_first_attempt_is_a_rejection(fake, sleeper):
    fake.add_post(linkedin_commentary(TEXT))
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 422
    assert caught.value.ambiguous is False


def test_server_errors_that_outlast_the_retries_are_ambiguous(fake, sleeper):
    fake.fail_next(500, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.ambiguous is True
    assert fake.posts == []


def test_find_published_matches_the_commentary(fake, sleeper):
    fake.add_post("Older")
    mine = fake.add_post(linkedin_commentary(TEXT))
    found = publisher(fake, sleeper).find_published(publication())
    assert found is not None
    assert found.post_id == mine["id"]
    assert found.details["recovered"] is True
    assert publisher(fake, sleeper).find_published(publication("Never posted")) is None
