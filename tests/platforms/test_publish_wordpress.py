"""WordPressPublisher against a stateful fake WordPress REST API (application passwords)."""

import base64

import pytest

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.clients import PlatformAuthError, PlatformUnavailableError
from platforms.models import PlatformConnection, PlatformType
from platforms.publishers import Publication, Published, WordPressPublisher, publisher_for
from platforms.publishers.wordpress import wordpress_parts
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.wordpress import FakeWordPress

POSTS = "/wp-json/wp/v2/posts"
KEY = "A1B2C3D4-3333-4000-8000-000000000004"
DRAFT = "# Why we publish once\n\nIdempotency **matters**.\n\n## Details\n\n- one\n- two\n"


class Sleeper:
    def __init__(self):
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)


@pytest.fixture
def fake(httpserver):
    return FakeWordPress(httpserver)


@pytest.fixture
def sleeper():
    return Sleeper()


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


def publication(text=DRAFT, title=None):
    return Publication(text=text, title=title, idempotency_key=KEY)


def test_parts_take_the_title_from_the_first_heading_and_render_markdown():
    title, html, slug = wordpress_parts(publication())
    assert title == "Why we publish once"
    assert html == (
        "<p>Idempotency <strong>matters</strong>.</p>\n<h2>Details</h2>\n"
        "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"
    )
    assert slug == "why-we-publish-once-a1b2c3d4"


def test_an_explicit_title_wins_and_the_heading_is_still_not_repeated():
    title, html, slug = wordpress_parts(publication(title="Ünïcode & more"))
    assert title == "Ünïcode & more"
    assert "Why we publish once" not in html
    assert slug == "unicode-more-a1b2c3d4"


def test_publish_posts_with_basic_auth_and_a_deterministic_slug(fake, sleeper):
    pub = publisher(fake, sleeper)
    assert isinstance(pub, WordPressPublisher)
    published = pub.publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=str(post["id"]),
        url=f"{fake.base_url}/why-we-publish-once-a1b2c3d4/",
        platform_type="wordpress",
        details={"status": 201, "post_status": "publish", "attempts": 1, "recovered": False},
    )
    (request,) = fake.requests_to(POSTS, "POST")
    expected = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    title, html, slug = wordpress_parts(publication())
    assert request.json == {"title": title, "content": html, "status": "publish", "slug": slug}


def test_a_wrong_application_password_is_an_auth_error_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong pass word never shown").publish(publication())
    assert caught.value.status == 401
    assert "wrong pass word" not in str(caught.value)
    assert fake.count("POST", POSTS) == 1
    assert sleeper.waits == []


def test_a_403_and_a_400_are_rejections_with_the_wordpress_code(fake, sleeper):
    fake.fail_next(403, body={"code": "rest_cannot_create", "message": "Sorry, you are not allowed."})
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 403
    assert "rest_cannot_create" in str(caught.value)
    fake.fail_next(400, body={"code": "rest_invalid_param", "message": "Invalid parameter(s): status"})
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 400
    assert "rest_invalid_param" in str(caught.value)
    assert fake.posts == []


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(retry_after="2")
    published = publisher(fake, sleeper).publish(publication())
    assert sleeper.waits == [2.0]
    assert published.details["attempts"] == 2
    assert len(fake.posts) == 1


def test_a_5xx_is_looked_up_by_slug_then_posted_once(fake, sleeper):
    fake.fail_next(503)
    published = publisher(fake, sleeper).publish(publication())
    (post,) = fake.posts
    assert published.post_id == str(post["id"])
    assert post["slug"] == "why-we-publish-once-a1b2c3d4"
    (lookup,) = fake.requests_to(POSTS, "GET")
    assert lookup.arg("slug") == "why-we-publish-once-a1b2c3d4"
    assert lookup.arg("status") == "publish,future,draft,pending,private"
    assert lookup.arg("context") == "edit"


def test_an_answer_lost_to_a_timeout_is_found_and_not_posted_twice(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=str(post["id"]),
        url=post["link"],
        platform_type="wordpress",
        details={"status": None, "post_status": "publish", "attempts": 1, "recovered": True},
    )
    assert fake.count("POST", POSTS) == 1


def test_a_malformed_success_is_recovered_by_lookup(fake, sleeper):
    fake.malformed_next()
    published = publisher(fake, sleeper).publish(publication())
    assert len(fake.posts) == 1
    assert published.details["recovered"] is True


def test_server_errors_that_outlast_the_retries_are_ambiguous(fake, sleeper):
    fake.fail_next(500, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.ambiguous is True
    assert fake.posts == []


def test_find_published_finds_a_draft_too_and_none_otherwise(fake, sleeper):
    _, _, slug = wordpress_parts(publication())
    draft = fake.add_post(title="Why we publish once", slug=slug, status="draft")
    found = publisher(fake, sleeper).find_published(publication())
    assert found is not None
    assert found.post_id == str(draft["id"])
    assert found.details["post_status"] == "draft"
    other = Publication(text=DRAFT, idempotency_key="ffffffff-0000")
    assert publisher(fake, sleeper).find_published(other) is None
