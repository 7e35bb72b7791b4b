"""Publishing tells the workflow's owner: a publish that failed (once per attempt), a scheduled
publish that went out (not an immediate one), each on every channel they enabled, once, however
often the task runs."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Notification, NotificationEvent
from accounts.services.notifications import notification_preferences_set
from platforms.kinds.common import PlatformAuthError
from platforms.kinds.publishing import Published
from platforms.models import PlatformType
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import AcceptedPlatformStateFactory, PublishingJobFactory
from workflows.models import Platform, PublishingStatus, WorkflowStatus
from workflows.services import publishing as publishing_module
from workflows.services.publishing import publishing_jobs_dispatch_due, publishing_jobs_recover_stale
from workflows.tasks import publish_job

pytestmark = pytest.mark.django_db


class Publisher:
    def __init__(self):
        self.errors = []
        self.published = []

    def publish(self, publication):
        self.published.append(publication)
        if self.errors:
            raise self.errors.pop(0)
        return Published(post_id="1", url="https://social.example.test/@me/1", platform_type="mastodon")

    def find_published(self, publication):
        return None


@pytest.fixture
def publisher(monkeypatch):
    recording = Publisher()
    monkeypatch.setattr(publishing_module, "publisher_for", lambda connection, *, timeout=None: recording)
    return recording


@pytest.fixture
def state():
    state = AcceptedPlatformStateFactory(
        platform=Platform.MASTODON, workflow__status=WorkflowStatus.COMPLETED
    )
    PlatformConnectionFactory(user=state.workflow.user, platform_type=PlatformType.MASTODON)
    return state


def make_job(state, **kwargs):
    return PublishingJobFactory(
        workflow=state.workflow,
        platform=state.platform,
        draft=state.active_draft,
        platform_connection=state.workflow.user.platform_connections.first(),
        **kwargs,
    )


def test_a_failed_publish_is_told_once_in_the_admin_and_by_email(
    state, publisher, django_capture_on_commit_callbacks
):
    publisher.errors = [
        PlatformAuthError("social.example.test refused the post: too long (HTTP 422).", status=422)
    ]
    job = make_job(state, status=PublishingStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        assert publish_job(str(job.pk)) == PublishingStatus.FAILED
        assert publish_job(str(job.pk)) is None  # redelivered by the broker
    [told] = Notification.objects.filter(event=NotificationEvent.PUBLISH_FAILED)
    owner = state.workflow.user
    assert told.user == owner and told.key == f"{job.pk}:1" and "HTTP 422" in told.body
    assert told.url == f"/admin/workflows/publishingjob/{job.pk}/change/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    assert "HTTP 422" in mail.outbox[0].body


def test_a_stale_job_out_of_attempts_is_told_as_failed(state, settings):
    settings.PUBLISHING_MAX_ATTEMPTS = 3
    now = timezone.now()
    job = make_job(
        state, status=PublishingStatus.PUBLISHING, attempts=3, heartbeat_at=now - timedelta(hours=1)
    )
    assert publishing_jobs_recover_stale(now=now) == 1
    assert publishing_jobs_recover_stale(now=now) == 0
    [told] = Notification.objects.filter(event=NotificationEvent.PUBLISH_FAILED)
    assert told.key == f"{job.pk}:3" and "may or may not exist" in told.body


def test_a_scheduled_publish_that_went_out_is_told_once_an_immediate_one_not(
    state, publisher, django_capture_on_commit_callbacks
):
    owner = state.workflow.user
    notification_preferences_set(user=owner, choices={"published": {"email": True}})
    scheduled = make_job(
        state, status=PublishingStatus.SCHEDULED, scheduled_for=timezone.now() - timedelta(seconds=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert publishing_jobs_dispatch_due() == 1  # the scheduler's tick
        assert publishing_jobs_dispatch_due() == 0 and publish_job(str(scheduled.pk)) is None
    [told] = Notification.objects.filter(event=NotificationEvent.PUBLISHED)
    assert told.key == str(scheduled.pk) and "https://social.example.test/@me/1" in told.body
    assert len(mail.outbox) == 1

    other = AcceptedPlatformStateFactory(platform=Platform.MASTODON, workflow__user=owner)
    immediate = make_job(other, status=PublishingStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        assert publish_job(str(immediate.pk)) == PublishingStatus.PUBLISHED
    assert Notification.objects.filter(event=NotificationEvent.PUBLISHED).count() == 1
    assert len(mail.outbox) == 1
