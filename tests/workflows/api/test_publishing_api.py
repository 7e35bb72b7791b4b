"""/api/v1/workflows/publishing-jobs/ and /api/v1/workflows/calendar/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    WorkflowFactory,
)
from tests.isolation import OwnedEndpoint, assert_isolated
from tests.workflows.api.conftest import error_fields
from workflows.models import Platform, PlatformStatus, PublishingJob, PublishingStatus, WorkflowStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/publishing-jobs/"
CALENDAR = "/api/v1/workflows/calendar/"


def accepted(user, platform=Platform.MASTODON):
    workflow = WorkflowFactory(user=user, status=WorkflowStatus.COMPLETED)
    draft = DraftFactory(workflow=workflow, platform=platform, content="Version 2 is out. #Release")
    PlatformStateFactory(
        workflow=workflow, platform=platform, status=PlatformStatus.ACCEPTED, active_draft=draft
    )
    return workflow


@pytest.fixture
def connection(user):
    return PlatformConnectionFactory(user=user, platform_type="mastodon", is_default=True)


def test_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=lambda user: PublishingJobFactory(
                workflow__user=user,
                status=PublishingStatus.SCHEDULED,
                scheduled_for=timezone.now() + timedelta(days=1),
            ),
            update={"scheduled_for": (timezone.now() + timedelta(days=2)).isoformat()},
            deletable=False,
        )
    )


def test_schedule_reschedule_and_cancel(api, user, connection):
    workflow = accepted(user)
    when = timezone.now() + timedelta(hours=3)

    response = api.post(
        URL,
        {"workflow": str(workflow.pk), "platform": "mastodon", "scheduled_for": when.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["status"] == PublishingStatus.SCHEDULED
    assert job["platform_connection"] == connection.pk

    later = when + timedelta(days=1)
    response = api.patch(f"{URL}{job['id']}/", {"scheduled_for": later.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    assert PublishingJob.objects.get(pk=job["id"]).scheduled_for == later

    response = api.post(f"{URL}{job['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == PublishingStatus.CANCELLED


def test_publishing_now_queues_the_job(api, user, connection):
    workflow = accepted(user)
    response = api.post(URL, {"workflow": str(workflow.pk), "platform": "mastodon"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == PublishingStatus.QUEUED


def test_a_second_live_job_for_the_same_platform_is_a_409(api, user, connection):
    workflow = accepted(user)
    body = {"workflow": str(workflow.pk), "platform": "mastodon"}
    assert api.post(URL, body, format="json").status_code == 201
    response = api.post(URL, body, format="json")
    assert response.status_code == 409
    assert PublishingJob.objects.count() == 1


def test_a_platform_that_is_not_accepted_cannot_be_published(api, user, connection):
    workflow = accepted(user)
    workflow.platform_states.update(status=PlatformStatus.AWAITING_REVIEW)
    response = api.post(URL, {"workflow": str(workflow.pk), "platform": "mastodon"}, format="json")
    assert response.status_code == 409
    assert not PublishingJob.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scheduled_for": "2001-01-01T00:00:00Z"}, "scheduled_for"),
        ({"scheduled_for": "tomorrow"}, "scheduled_for"),
        ({"platform": "myspace"}, "platform"),
        ({"workflow": "not-a-uuid"}, "workflow"),
        ({"platform_connection": 999999}, "platform_connection"),
    ],
)
def test_bad_job_input_is_a_400(api, user, connection, change, field):
    workflow = accepted(user)
    body = {"workflow": str(workflow.pk), "platform": "mastodon", **change}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_fields(response)
    assert not PublishingJob.objects.exists()


def test_a_strangers_workflow_or_connection_cannot_be_used(api, user, connection):
    theirs = accepted(UserFactory())
    response = api.post(URL, {"workflow": str(theirs.pk), "platform": "mastodon"}, format="json")
    assert response.status_code == 400
    assert "workflow" in error_fields(response)

    mine = accepted(user)
    their_connection = PlatformConnectionFactory(platform_type="mastodon")
    response = api.post(
        URL,
        {"workflow": str(mine.pk), "platform": "mastodon", "platform_connection": their_connection.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "platform_connection" in error_fields(response)
    assert not PublishingJob.objects.exists()


def test_retry_a_failed_job_keeps_its_idempotency_key(api, user, connection):
    workflow = accepted(user)
    job = PublishingJobFactory(
        workflow=workflow,
        platform=Platform.MASTODON,
        draft=workflow.platform_states.get().active_draft,
        platform_connection=connection,
        status=PublishingStatus.FAILED,
        error_message="HTTP 503",
    )

    key = job.idempotency_key

    response = api.post(f"{URL}{job.pk}/retry/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == PublishingStatus.QUEUED
    job.refresh_from_db()
    assert job.idempotency_key == key
    assert job.error_message is None


def test_cancelling_a_published_job_is_a_409(api, user):
    job = PublishingJobFactory(
        workflow__user=user, status=PublishingStatus.PUBLISHED, published_at=timezone.now()
    )
    assert api.post(f"{URL}{job.pk}/cancel/").status_code == 409


def test_calendar_lists_jobs_in_the_range_in_time_order(api, user):
    now = timezone.now()
    later = PublishingJobFactory(
        workflow__user=user, status=PublishingStatus.SCHEDULED, scheduled_for=now + timedelta(days=2)
    )
    sooner = PublishingJobFactory(
        workflow__user=user,
        platform=Platform.X,
        status=PublishingStatus.PUBLISHED,
        published_at=now - timedelta(days=1),
    )
    PublishingJobFactory(
        workflow__user=user, status=PublishingStatus.SCHEDULED, scheduled_for=now + timedelta(days=40)
    )
    PublishingJobFactory(
        workflow__user=user,
        status=PublishingStatus.CANCELLED,
        scheduled_for=now + timedelta(days=1),
    )
    PublishingJobFactory(status=PublishingStatus.SCHEDULED, scheduled_for=now + timedelta(days=1))

    response = api.get(
        CALENDAR,
        {"from": (now - timedelta(days=3)).date().isoformat(), "to": (now + timedelta(days=7)).isoformat()},
    )

    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()] == [str(sooner.pk), str(later.pk)]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2026-01-01"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2026-01-01", "to": "2027-01-01"},
    ],
)
def test_calendar_needs_a_sensible_range(api, params):
    response = api.get(CALENDAR, params)
    assert response.status_code == 400


# --- already published, publishing options -------------------------------------------------------


def test_publishing_a_published_platform_says_so_with_the_post_url(api, user, connection):
    workflow = accepted(user)
    job = PublishingJobFactory(
        workflow=workflow,
        platform=Platform.MASTODON,
        draft=workflow.drafts.get(),
        platform_connection=connection,
        status=PublishingStatus.PUBLISHED,
        published_at=timezone.now(),
        response_data={"post_id": "1", "url": "https://social.example/@me/1"},
    )
    workflow.platform_states.update(status=PlatformStatus.PUBLISHED)
    response = api.post(URL, {"workflow": str(workflow.pk), "platform": "mastodon"}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_published"
    assert error["message"] == "The Mastodon post is already published: https://social.example/@me/1"
    assert "accept" not in error["message"]
    assert PublishingJob.objects.get() == job


@pytest.fixture
def wordpress(user):
    return PlatformConnectionFactory(
        user=user, platform_type="wordpress", username="editor", extra={"status": "publish"}
    )


def test_a_job_takes_wordpress_options_over_the_connection(api, user, wordpress):
    workflow = accepted(user, platform=Platform.BLOG)
    options = {"status": "draft", "category": "Reisen", "tags": ["Kaffee"], "hashtags_as_tags": True}
    response = api.post(
        URL,
        {"workflow": str(workflow.pk), "platform": "blog", "options": options, "scheduled_for": None},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["options"] == options
    assert PublishingJob.objects.get().options == options


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"status": "private"}, "status must be one of publish, draft, pending."),
        ({"category": -3}, "category is a category id"),
        ({"tags": "kaffee"}, "tags is a list"),
        ({"visibility": "public"}, "Unknown option(s): visibility."),
        ("draft", "Expected a dictionary"),
    ],
)
def test_bad_wordpress_options_are_a_400_naming_options(api, user, wordpress, options, words):
    workflow = accepted(user, platform=Platform.BLOG)
    response = api.post(
        URL, {"workflow": str(workflow.pk), "platform": "blog", "options": options}, format="json"
    )
    assert response.status_code == 400
    assert error_fields(response) == {"options"}
    assert words in response.json()["error"]["fields"]["options"][0]
    assert not PublishingJob.objects.exists()


def test_options_for_a_connection_that_takes_none_are_a_400(api, user, connection):
    workflow = accepted(user)
    response = api.post(
        URL,
        {"workflow": str(workflow.pk), "platform": "mastodon", "options": {"status": "draft"}},
        format="json",
    )
    assert response.status_code == 400
    assert "takes no publishing options" in response.json()["error"]["fields"]["options"][0]
    assert not PublishingJob.objects.exists()
