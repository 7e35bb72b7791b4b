"""Publishing jobs end to end: the real publishers against local fake platforms (Mastodon, X,
WordPress),
including answers lost after the post landed. Every case counts the posts on the platform.

The publishers keep their own retry loop; tests only make its pauses instant and the client
timeout short (`extra["timeout"]`), so a fake that answers late looks like a timeout.
"""

import functools

import pytest
from django.utils import timezone

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.publishing import publisher_for
from platforms.models import PlatformType
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import AcceptedPlatformStateFactory, PublishingJobFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server: hanging answers)
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.wordpress import FakeWordPress
from tests.fakes.x import FakeX
from workflows.models import Platform, PlatformStatus, PublishingJob, PublishingStatus, WorkflowStatus
from workflows.services import publishing as publishing_module
from workflows.services.publishing import (
    publishing_job_create,
    publishing_job_publish,
    publishing_jobs_dispatch_due,
)

pytestmark = pytest.mark.django_db

CLIENT_TIMEOUT = 0.5
LATE = 1.5  # the fake's answer comes after the client gave up


@pytest.fixture(autouse=True)
def _instant_retries(monkeypatch, settings):
    settings.PUBLISHING_MAX_ATTEMPTS = 3
    monkeypatch.setattr(
        publishing_module,
        "publisher_for",
        functools.partial(
            publisher_for,
            policy=RetryPolicy(attempts=3, base_delay=0.0),
            sleep=lambda seconds: None,
            # The shared throttle would really sleep out a Retry-After between attempts.
            throttle=HostThrottle(rate=10_000, sleep=lambda seconds: None),
        ),
    )


@pytest.fixture
def mastodon(httpserver):
    return FakeMastodon(httpserver)


@pytest.fixture
def x(httpserver):
    return FakeX(httpserver)


def accepted(platform: str, connection, text: str):
    state = AcceptedPlatformStateFactory(
        platform=platform,
        workflow__user=connection.user,
        workflow__status=WorkflowStatus.COMPLETED,
        active_draft__content=text,
    )
    return state


@pytest.fixture
def mastodon_state(mastodon):
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.MASTODON,
        instance_url=mastodon.base_url,
        access_token=mastodon.token,
        extra={"timeout": CLIENT_TIMEOUT},
    )
    return accepted(Platform.MASTODON, connection, "Release 2.0 is out: faster builds, fewer bugs.")


@pytest.fixture
def x_state(x):
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.X,
        instance_url=x.base_url,
        access_token=x.token,
        username=x.user["username"],
        extra={"timeout": CLIENT_TIMEOUT},
    )
    return accepted(Platform.X, connection, "Release 2.0 is out. Faster builds, fewer bugs.")


def job_for(state, **kwargs) -> PublishingJob:
    return PublishingJobFactory(
        workflow=state.workflow,
        platform=state.platform,
        draft=state.active_draft,
        platform_connection=state.workflow.user.platform_connections.get(),
        **kwargs,
    )


# Mastodon ---------------------------------------------------------------------------------------


def test_a_job_is_posted_to_mastodon_with_its_idempotency_key(
    mastodon, mastodon_state, django_capture_on_commit_callbacks
):
    owner = mastodon_state.workflow.user
    with django_capture_on_commit_callbacks(execute=True):
        job = publishing_job_create(workflow=mastodon_state.workflow, platform=Platform.MASTODON, actor=owner)
    job.refresh_from_db()

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    [status] = mastodon.statuses_created()
    assert "Release 2.0 is out" in status["content"]
    assert job.response_data["post_id"] == status["id"]
    assert job.response_data["url"] == status["url"]
    assert job.response_data["platform_type"] == "mastodon"
    [post] = mastodon.requests_to("/api/v1/statuses", method="POST")
    assert post.headers["Idempotency-Key"] == job.idempotency_key
    assert mastodon.token not in str(job.response_data)
    mastodon_state.refresh_from_db()
    assert mastodon_state.status == PlatformStatus.PUBLISHED


def test_a_mastodon_post_whose_answer_was_lost_is_not_posted_twice(mastodon, mastodon_state):
    mastodon.accept_then_hang_next(seconds=LATE)
    job = job_for(mastodon_state, status=PublishingStatus.QUEUED)

    job = publishing_job_publish(job_id=job.pk)

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    assert len(mastodon.statuses_created()) == 1, "the retry carried the same Idempotency-Key"
    posts = mastodon.requests_to("/api/v1/statuses", method="POST")
    assert len(posts) == 2
    assert {p.headers["Idempotency-Key"] for p in posts} == {job.idempotency_key}
    assert job.response_data["post_id"] == mastodon.statuses_created()[0]["id"]


def test_a_rate_limited_mastodon_waits_for_its_retry_after(mastodon, mastodon_state):
    mastodon.rate_limit_next("/api/v1/statuses", retry_after="600", times=3, method="POST")
    job = job_for(mastodon_state, status=PublishingStatus.QUEUED)
    before = timezone.now()

    job = publishing_job_publish(job_id=job.pk)

    assert (job.status, job.attempts) == (PublishingStatus.SCHEDULED, 1)
    assert job.response_data["error"]["status"] == 429
    assert (job.scheduled_for - before).total_seconds() >= 590
    assert mastodon.statuses_created() == []
    # When the time comes the next attempt goes through, once.
    publishing_jobs_dispatch_due(now=job.scheduled_for)
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED
    assert len(mastodon.statuses_created()) == 1


def test_a_refused_mastodon_token_holds_the_job_on_the_broken_connection(mastodon, mastodon_state):
    connection = mastodon_state.workflow.user.platform_connections.get()
    connection.access_token = "revoked-token"
    connection.save()
    job = job_for(mastodon_state, status=PublishingStatus.QUEUED)

    job = publishing_job_publish(job_id=job.pk)

    # A 401 is about the connection, not the post: it is marked expired and the job waits for a
    # reconnect (platforms.health; tests/platforms/test_health.py resumes it).
    assert job.status == PublishingStatus.FAILED
    assert job.response_data["error"]["reason"] == "connection_broken"
    assert job.response_data["error"]["status"] == 401
    assert job.response_data["error"]["health"] == "expired"
    assert connection.name in job.error_message and "expired" in job.error_message
    assert "revoked-token" not in job.error_message
    assert mastodon.statuses_created() == []


# X (no idempotency key: the publisher looks before posting again) -------------------------------


def test_an_x_post_whose_answer_was_lost_is_found_not_posted_again(x, x_state):
    x.accept_then_hang_next(LATE)
    job = job_for(x_state, status=PublishingStatus.QUEUED)

    job = publishing_job_publish(job_id=job.pk)

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    assert len(x.posts) == 1
    assert x.count("POST", "/2/tweets") == 1
    assert job.response_data["post_id"] == x.posts[0]["id"]


def test_an_x_post_left_ambiguous_is_recovered_on_the_next_run(x, x_state):
    """The answer is lost and the look-up fails too: the job is recorded as ambiguous and tried
    later; the next run asks X first, finds the post and records it without a second POST."""
    x.accept_then_hang_next(LATE)
    x.fail_next(503, path="/2/users/me", method="GET", times=2)
    job = job_for(x_state, status=PublishingStatus.QUEUED)

    job = publishing_job_publish(job_id=job.pk)

    assert (job.status, job.attempts) == (PublishingStatus.SCHEDULED, 1)
    assert job.response_data["error"]["ambiguous"] is True
    assert len(x.posts) == 1

    assert publishing_jobs_dispatch_due(now=job.scheduled_for) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (PublishingStatus.PUBLISHED, 2)
    assert job.response_data["post_id"] == x.posts[0]["id"]
    assert job.response_data["recovered"] is True
    assert len(x.posts) == 1 and x.count("POST", "/2/tweets") == 1


def test_an_x_job_whose_worker_died_after_posting_is_not_posted_twice(x, x_state):
    """A worker posted, then died before recording it: the job stays `publishing` until the
    recovery re-queues it, and the next run finds the post instead of posting again."""
    x.add_post(x_state.active_draft.content)
    long_ago = timezone.now() - timezone.timedelta(minutes=30)
    job = job_for(x_state, status=PublishingStatus.PUBLISHING, attempts=1, heartbeat_at=long_ago)

    assert publishing_jobs_dispatch_due() == 1

    job.refresh_from_db()
    assert (job.status, job.attempts) == (PublishingStatus.PUBLISHED, 2)
    assert job.response_data["post_id"] == x.posts[0]["id"]
    assert x.count("POST", "/2/tweets") == 0
    assert len(x.posts) == 1


def test_an_x_job_publishes_when_nothing_was_posted_before(x, x_state):
    job = job_for(x_state, status=PublishingStatus.PUBLISHING, attempts=1, heartbeat_at=None)
    PublishingJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timezone.timedelta(hours=1))

    publishing_jobs_dispatch_due()

    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED
    assert x.count("GET", "/2/users/me") >= 1, "looked first"
    assert x.count("POST", "/2/tweets") == 1 and len(x.posts) == 1


# WordPress --------------------------------------------------------------------------------------

BLOG_POST = "# Ein Morgen in Tokio\n\nKaffee am Fluss.\n\n#kaffee #tokio #reisen\n"


@pytest.fixture
def wordpress(httpserver):
    return FakeWordPress(httpserver)


@pytest.fixture
def blog_state(wordpress):
    connection = PlatformConnectionFactory(
        platform_type=PlatformType.WORDPRESS,
        instance_url=wordpress.base_url,
        username=wordpress.username,
        access_token=wordpress.password,
        extra={"timeout": CLIENT_TIMEOUT, "status": "publish", "tags": ["blog"]},
    )
    return accepted(Platform.BLOG, connection, BLOG_POST)


def test_a_blog_job_publishes_with_its_own_options_over_the_connection(
    wordpress, blog_state, django_capture_on_commit_callbacks
):
    news = wordpress.add_term("category", "Reisen")
    owner = blog_state.workflow.user
    with django_capture_on_commit_callbacks(execute=True):
        job = publishing_job_create(
            workflow=blog_state.workflow,
            platform=Platform.BLOG,
            actor=owner,
            options={"status": "pending", "category": "Reisen", "hashtags_as_tags": True},
        )
    job.refresh_from_db()

    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    (post,) = wordpress.posts
    assert (post["status"], post["categories"]) == ("pending", [news["id"]])
    names = {tag["id"]: tag["name"] for tag in wordpress.tags}
    assert [names[tag_id] for tag_id in post["tags"]] == ["blog", "kaffee", "tokio", "reisen"]
    assert "<p>#kaffee #tokio #reisen</p>" in post["content"]["raw"]
    assert job.response_data["details"]["post_status"] == "pending"


def test_a_blog_job_whose_check_failed_after_a_lost_answer_says_the_post_may_exist(wordpress, blog_state):
    wordpress.accept_then_hang_next(LATE)
    wordpress.fail_next(503, path="/wp-json/wp/v2/posts", method="GET", times=3)
    job = job_for(blog_state, status=PublishingStatus.QUEUED)

    job = publishing_job_publish(job_id=job.pk)

    assert (job.status, job.attempts) == (PublishingStatus.SCHEDULED, 1)
    assert job.error_message.startswith("The post may already exist on ")
    assert "looked for again before any new attempt" in job.error_message
    assert "could not be reached for" not in job.error_message
    assert len(wordpress.posts) == 1

    assert publishing_jobs_dispatch_due(now=job.scheduled_for) == 1
    job.refresh_from_db()
    assert (job.status, job.response_data["recovered"]) == (PublishingStatus.PUBLISHED, True)
    assert wordpress.count("POST", "/wp-json/wp/v2/posts") == 1
