"""Publishing jobs: creating, cancelling, rescheduling, retrying, claiming, the send-time re-checks,
the outcomes of a publish and the recovery of stale jobs.

The platform is a small in-test publisher (`workflows.services.publishing.publisher_for` is
replaced) that records what it was asked; test_publishing_platforms.py runs the same service
against the real publishers and local fake platforms.
"""

import pydoc
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLog, Role
from core.errors import NotFound
from core.schedules import declared_schedules
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.publishing import Publication, Published
from platforms.models import PlatformConnection, PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    AcceptedPlatformStateFactory,
    DraftFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    WorkflowFactory,
)
from workflows.models import (
    DraftSource,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Workflow,
    WorkflowStatus,
)
from workflows.services import publishing as publishing_module
from workflows.services.publishing import (
    PublishingAlreadyPublished,
    PublishingAlreadyScheduled,
    PublishingJobFinished,
    PublishingJobInProgress,
    PublishingJobNotFailed,
    PublishingNotAccepted,
    WorkflowNotPublishable,
    publishing_job_cancel,
    publishing_job_claim_next,
    publishing_job_create,
    publishing_job_publish,
    publishing_job_reschedule,
    publishing_job_retry,
    publishing_jobs_dispatch_due,
    publishing_jobs_recover_stale,
)
from workflows.tasks import dispatch_due_publishing_jobs, publish_job

pytestmark = pytest.mark.django_db


class RecordingPublisher:
    """Answers like a platform; `errors` are raised by the next publish calls, in order."""

    def __init__(self):
        self.published: list[Publication] = []
        self.lookups: list[Publication] = []
        self.errors: list[Exception] = []
        self.existing: Published | None = None
        self.connections: list[PlatformConnection] = []

    def publish(self, publication: Publication) -> Published:
        self.published.append(publication)
        if self.errors:
            raise self.errors.pop(0)
        number = len(self.published)
        return Published(
            post_id=f"post-{number}",
            url=f"https://social.example.test/@me/post-{number}",
            platform_type="mastodon",
            details={"http_status": 200},
        )

    def find_published(self, publication: Publication) -> Published | None:
        self.lookups.append(publication)
        return self.existing


@pytest.fixture
def publisher(monkeypatch):
    recording = RecordingPublisher()

    def build(connection, *, timeout=None):
        recording.connections.append(connection)
        return recording

    monkeypatch.setattr(publishing_module, "publisher_for", build)
    return recording


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PUBLISHING_MAX_ATTEMPTS = 3
    settings.PUBLISHING_JOB_TIMEOUT = 300


@pytest.fixture
def state():
    """An accepted Mastodon platform (the workflow's only one) whose owner has a Mastodon account."""
    state = AcceptedPlatformStateFactory(
        platform=Platform.MASTODON, workflow__status=WorkflowStatus.COMPLETED
    )
    PlatformConnectionFactory(user=state.workflow.user, platform_type=PlatformType.MASTODON)
    return state


@pytest.fixture
def owner(state):
    return state.workflow.user


def make_job(state, **kwargs) -> PublishingJob:
    kwargs.setdefault("platform_connection", state.workflow.user.platform_connections.first())
    return PublishingJobFactory(
        workflow=state.workflow, platform=state.platform, draft=state.active_draft, **kwargs
    )


def unavailable(message="The platform timed out.", *, status=None, ambiguous=False, retry_after=None):
    exc = PlatformUnavailableError(message, status=status)
    exc.ambiguous = ambiguous
    exc.retry_after = retry_after
    return exc


def in_(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


# Creating ---------------------------------------------------------------------------------------


def test_an_immediate_job_is_queued_and_published_once_committed(
    state, owner, publisher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
        assert PublishingJob.objects.get(pk=job.pk).status == PublishingStatus.QUEUED
        assert publisher.published == [], "nothing is sent before the commit"
    assert len(callbacks) == 1
    assert job.draft == state.active_draft
    assert job.platform_connection.user == owner
    assert len(job.idempotency_key) == 64
    assert AuditLog.objects.filter(
        action="publishing_job.created", resource_id=str(job.pk), user=owner
    ).exists()

    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    assert [p.text for p in publisher.published] == [state.active_draft.content]
    assert publisher.published[0].idempotency_key == job.idempotency_key
    assert publisher.lookups == [], "a first attempt does not look for an earlier post"


def test_a_future_time_schedules_the_job_without_queueing_it(
    state, owner, publisher, django_capture_on_commit_callbacks
):
    when = in_(3600)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = publishing_job_create(
            workflow=state.workflow, platform=Platform.MASTODON, actor=owner, scheduled_for=when
        )
    assert callbacks == []
    job.refresh_from_db()
    assert (job.status, job.scheduled_for) == (PublishingStatus.SCHEDULED, when)
    assert publisher.published == []


def test_every_job_gets_its_own_random_idempotency_key(state, owner):
    first = publishing_job_create(
        workflow=state.workflow, platform=Platform.MASTODON, actor=owner, scheduled_for=in_(60)
    )
    publishing_job_cancel(job=first, actor=owner)
    second = publishing_job_create(
        workflow=state.workflow, platform=Platform.MASTODON, actor=owner, scheduled_for=in_(60)
    )
    assert first.idempotency_key != second.idempotency_key


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (timedelta(seconds=-120), "in the past"),
        (timedelta(days=366), "365 days"),
    ],
)
def test_a_time_too_far_back_or_ahead_is_refused(state, owner, offset, message):
    with pytest.raises(ValidationError) as raised:
        publishing_job_create(
            workflow=state.workflow,
            platform=Platform.MASTODON,
            actor=owner,
            scheduled_for=timezone.now() + offset,
        )
    assert message in raised.value.message_dict["scheduled_for"][0]
    assert not PublishingJob.objects.exists()


def test_a_naive_time_is_refused(state, owner):
    naive = datetime.now() + timedelta(hours=1)
    with pytest.raises(ValidationError) as raised:
        publishing_job_create(
            workflow=state.workflow, platform=Platform.MASTODON, actor=owner, scheduled_for=naive
        )
    assert "time zone" in raised.value.message_dict["scheduled_for"][0]


def test_a_time_a_few_seconds_ago_counts_as_now(state, owner):
    job = publishing_job_create(
        workflow=state.workflow, platform=Platform.MASTODON, actor=owner, scheduled_for=in_(-30)
    )
    assert job.status == PublishingStatus.SCHEDULED
    assert publishing_job_claim_next() == job.pk, "it is due at once"


@pytest.mark.parametrize("status", [PlatformStatus.AWAITING_REVIEW, PlatformStatus.REJECTED])
def test_only_an_accepted_platform_can_be_published(state, owner, status):
    PlatformState.objects.filter(pk=state.pk).update(status=status)
    with pytest.raises(PublishingNotAccepted) as raised:
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert raised.value.code == "not_accepted"
    assert not PublishingJob.objects.exists()


def test_a_published_platform_is_said_to_be_published_not_to_need_accepting(state, owner):
    PlatformState.objects.filter(pk=state.pk).update(status=PlatformStatus.PUBLISHED)
    with pytest.raises(PublishingAlreadyPublished) as raised:
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert raised.value.code == "already_published"
    assert raised.value.message == "The Mastodon post is already published (the platform gave no link to it)."
    assert not PublishingJob.objects.exists()


def test_a_failed_job_of_a_platform_published_since_is_not_retried_and_says_where(state, owner):
    failed = PublishingJobFactory(
        workflow=state.workflow, platform=Platform.MASTODON, status=PublishingStatus.FAILED
    )
    PublishingJobFactory(
        workflow=state.workflow,
        platform=Platform.MASTODON,
        status=PublishingStatus.PUBLISHED,
        published_at=timezone.now(),
        response_data={"post_id": "9", "url": "https://social.example.test/@me/9"},
    )
    PlatformState.objects.filter(pk=state.pk).update(status=PlatformStatus.PUBLISHED)
    with pytest.raises(
        PublishingAlreadyPublished, match=r"already published: https://social\.example\.test/@me/9$"
    ):
        publishing_job_retry(job=failed, actor=owner)


def test_an_accepted_platform_without_an_active_draft_cannot_be_published(state, owner):
    PlatformState.objects.filter(pk=state.pk).update(active_draft=None)
    with pytest.raises(PublishingNotAccepted, match="no active draft"):
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)


@pytest.mark.parametrize("status", [WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED, WorkflowStatus.FAILED])
def test_a_closed_workflow_cannot_be_published(state, owner, status):
    Workflow.objects.filter(pk=state.workflow_id).update(status=status)
    with pytest.raises(WorkflowNotPublishable):
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)


def test_a_platform_the_workflow_does_not_target_is_a_field_error(state, owner):
    with pytest.raises(ValidationError) as raised:
        publishing_job_create(workflow=state.workflow, platform=Platform.X, actor=owner)
    assert "platform" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        publishing_job_create(workflow=state.workflow, platform="myspace", actor=owner)
    assert "platform" in raised.value.message_dict


def test_one_live_job_per_workflow_and_platform(state, owner):
    first = publishing_job_create(
        workflow=state.workflow, platform=Platform.MASTODON, actor=owner, scheduled_for=in_(600)
    )
    with pytest.raises(PublishingAlreadyScheduled) as raised:
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert raised.value.code == "already_scheduled"
    publishing_job_cancel(job=first, actor=owner)
    second = publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert second.status == PublishingStatus.QUEUED
    assert PublishingJob.objects.count() == 2


def test_a_job_created_by_a_racing_request_is_reported_as_the_same_conflict(
    state, owner, monkeypatch, django_capture_on_commit_callbacks
):
    """Another request inserts its job between the check and the insert: uq_publishing_job_live
    refuses the second row inside the savepoint, and that is the same 409."""
    real = publishing_module.publishing_connection_resolve

    def resolve_while_another_request_wins(**kwargs):
        make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(600))
        return real(**kwargs)

    monkeypatch.setattr(
        publishing_module, "publishing_connection_resolve", resolve_while_another_request_wins
    )
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(PublishingAlreadyScheduled),
    ):
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert callbacks == []
    assert not AuditLog.objects.filter(action="publishing_job.created").exists()


def test_another_users_workflow_is_not_found_but_a_moderator_may_publish_it(state):
    with pytest.raises(NotFound):
        publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=UserFactory())
    moderator = UserFactory(role=Role.MODERATOR)
    job = publishing_job_create(
        workflow=state.workflow, platform=Platform.MASTODON, actor=moderator, scheduled_for=in_(60)
    )
    assert job.platform_connection.user == state.workflow.user, "the owner's account, not the moderator's"


# Choosing the connection -----------------------------------------------------------------------


def test_the_owners_default_connection_is_used_when_it_fits(state, owner):
    default = PlatformConnectionFactory(user=owner, platform_type=PlatformType.PIXELFED, is_default=True)
    PlatformConnectionFactory(user=owner, platform_type=PlatformType.MASTODON, last_used=timezone.now())
    job = publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert job.platform_connection == default


def test_without_a_fitting_default_the_most_recently_used_active_connection_is_used(state, owner):
    PlatformConnectionFactory(user=owner, platform_type=PlatformType.X, is_default=True)
    recent = PlatformConnectionFactory(user=owner, platform_type=PlatformType.MASTODON, last_used=in_(-60))
    PlatformConnectionFactory(user=owner, platform_type=PlatformType.MASTODON, last_used=in_(-3600))
    PlatformConnectionFactory(
        user=owner, platform_type=PlatformType.MASTODON, last_used=timezone.now(), is_active=False
    )
    job = publishing_job_create(workflow=state.workflow, platform=Platform.MASTODON, actor=owner)
    assert job.platform_connection == recent


def test_no_fitting_connection_is_a_field_error(owner):
    state = AcceptedPlatformStateFactory(platform=Platform.LINKEDIN, workflow__user=owner)
    with pytest.raises(ValidationError) as raised:
        publishing_job_create(workflow=state.workflow, platform=Platform.LINKEDIN, actor=owner)
    assert "LinkedIn" in raised.value.message_dict["platform_connection"][0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda owner: PlatformConnectionFactory(platform_type=PlatformType.MASTODON), "No such connection"),
        (lambda owner: PlatformConnectionFactory(user=owner, platform_type=PlatformType.X), "cannot publish"),
        (
            lambda owner: PlatformConnectionFactory(
                user=owner, platform_type=PlatformType.MASTODON, is_active=False
            ),
            "disabled",
        ),
    ],
    ids=["another users", "wrong type", "disabled"],
)
def test_an_explicit_connection_must_be_the_owners_active_and_fitting(state, owner, make, message):
    with pytest.raises(ValidationError) as raised:
        publishing_job_create(
            workflow=state.workflow, platform=Platform.MASTODON, actor=owner, connection=make(owner)
        )
    assert message in raised.value.message_dict["platform_connection"][0]


def test_a_blog_publishes_through_wordpress_or_a_webhook(owner):
    state = AcceptedPlatformStateFactory(platform=Platform.BLOG, workflow__user=owner)
    webhook = PlatformConnectionFactory(user=owner, platform_type=PlatformType.WEBHOOK)
    job = publishing_job_create(
        workflow=state.workflow, platform=Platform.BLOG, actor=owner, connection=webhook
    )
    assert job.platform_connection == webhook


# Cancelling, rescheduling, retrying --------------------------------------------------------------


@pytest.mark.parametrize("status", [PublishingStatus.QUEUED, PublishingStatus.SCHEDULED])
def test_a_waiting_job_can_be_cancelled(state, owner, status):
    job = make_job(state, status=status, scheduled_for=in_(600))
    job = publishing_job_cancel(job=job, actor=owner)
    job.refresh_from_db()
    assert job.status == PublishingStatus.CANCELLED and job.completed_at is not None
    assert AuditLog.objects.filter(
        action="publishing_job.cancelled", resource_id=str(job.pk), user=owner
    ).exists()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (PublishingStatus.PUBLISHING, PublishingJobInProgress),
        (PublishingStatus.PUBLISHED, PublishingJobFinished),
        (PublishingStatus.FAILED, PublishingJobFinished),
        (PublishingStatus.CANCELLED, PublishingJobFinished),
    ],
)
def test_a_publishing_or_finished_job_cannot_be_cancelled_or_rescheduled(state, owner, status, error):
    job = make_job(state, status=status, published_at=timezone.now())
    with pytest.raises(error):
        publishing_job_cancel(job=job, actor=owner)
    with pytest.raises(error):
        publishing_job_reschedule(job=job, scheduled_for=in_(600), actor=owner)
    job.refresh_from_db()
    assert job.status == status


def test_rescheduling_moves_the_time_and_makes_the_job_scheduled(state, owner, publisher):
    job = make_job(state, status=PublishingStatus.QUEUED)
    when = in_(7200)
    job = publishing_job_reschedule(job=job, scheduled_for=when, actor=owner)
    job.refresh_from_db()
    assert (job.status, job.scheduled_for) == (PublishingStatus.SCHEDULED, when)
    assert AuditLog.objects.get(action="publishing_job.rescheduled").details["to"] == when.isoformat()
    # The task queued for it when it was immediate finds it no longer queued.
    assert publish_job(str(job.pk)) is None
    assert publisher.published == []


def test_rescheduling_validates_the_time(state, owner):
    job = make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(600))
    for bad in (in_(-3600), in_(400 * 86400), datetime(2030, 1, 1, 9, 0)):
        with pytest.raises(ValidationError) as raised:
            publishing_job_reschedule(job=job, scheduled_for=bad, actor=owner)
        assert "scheduled_for" in raised.value.message_dict


def test_another_user_cannot_change_a_job(state):
    job = make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(600))
    stranger = UserFactory()
    with pytest.raises(NotFound):
        publishing_job_cancel(job=job, actor=stranger)
    with pytest.raises(NotFound):
        publishing_job_reschedule(job=job, scheduled_for=in_(60), actor=stranger)
    with pytest.raises(NotFound):
        publishing_job_retry(job=job, actor=stranger)


def test_a_failed_job_is_retried_with_the_same_key_and_checks_the_platform_first(
    state, owner, publisher, django_capture_on_commit_callbacks
):
    job = make_job(
        state,
        status=PublishingStatus.FAILED,
        attempts=1,
        error_message="The platform timed out.",
        response_data={"error": {"reason": "unavailable", "status": None, "ambiguous": True}},
        completed_at=timezone.now(),
    )
    key = job.idempotency_key
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        retried = publishing_job_retry(job=job, actor=owner)
    assert (retried.status, retried.idempotency_key, retried.attempts) == (PublishingStatus.QUEUED, key, 1)
    assert retried.error_message is None and retried.response_data is None and retried.completed_at is None
    assert AuditLog.objects.filter(
        action="publishing_job.retried", resource_id=str(job.pk), user=owner
    ).exists()
    assert len(callbacks) == 1

    callbacks[0]()  # the queued task runs
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED and job.attempts == 2
    assert [p.idempotency_key for p in publisher.lookups] == [key], "attempt 2 asks before posting"
    assert [p.idempotency_key for p in publisher.published] == [key]


def test_only_a_failed_job_can_be_retried(state, owner):
    for status in (PublishingStatus.QUEUED, PublishingStatus.PUBLISHING, PublishingStatus.CANCELLED):
        job = make_job(state, status=status)
        with pytest.raises(PublishingJobNotFailed):
            publishing_job_retry(job=job, actor=owner)
        PublishingJob.objects.filter(pk=job.pk).update(status=PublishingStatus.CANCELLED)


def test_a_retry_conflicts_with_another_live_job(state, owner):
    failed = make_job(state, status=PublishingStatus.FAILED)
    make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(600))
    with pytest.raises(PublishingAlreadyScheduled):
        publishing_job_retry(job=failed, actor=owner)
    failed.refresh_from_db()
    assert failed.status == PublishingStatus.FAILED


def test_a_retry_needs_the_platform_still_accepted(state, owner):
    failed = make_job(state, status=PublishingStatus.FAILED)
    PlatformState.objects.filter(pk=state.pk).update(status=PlatformStatus.AWAITING_REVIEW)
    with pytest.raises(PublishingNotAccepted):
        publishing_job_retry(job=failed, actor=owner)


# Claiming ---------------------------------------------------------------------------------------


def test_a_claimed_job_cannot_be_claimed_again(state):
    job = make_job(state, status=PublishingStatus.QUEUED)
    assert publishing_job_claim_next() == job.pk
    job.refresh_from_db()
    assert (job.status, job.attempts) == (PublishingStatus.PUBLISHING, 1)
    assert job.started_at is not None and job.heartbeat_at is not None
    assert publishing_job_claim_next() is None
    assert publishing_job_claim_next(exclude=set()) is None
    job.refresh_from_db()
    assert job.attempts == 1


def test_the_task_does_nothing_for_a_job_someone_else_claimed(state, publisher):
    job = make_job(state, status=PublishingStatus.QUEUED)
    assert publishing_job_claim_next() == job.pk
    assert publishing_job_publish(job_id=job.pk) is None
    assert publish_job(str(job.pk)) is None
    assert publisher.published == []


def test_a_redelivered_task_publishes_once(state, publisher):
    job = make_job(state, status=PublishingStatus.QUEUED)
    assert publish_job(str(job.pk)) == PublishingStatus.PUBLISHED
    assert publish_job(str(job.pk)) is None
    assert len(publisher.published) == 1


def test_the_dispatcher_takes_due_jobs_in_order_up_to_its_limit(owner, publisher):
    now = timezone.now()
    jobs = {}
    for name, status, when in [
        ("late", PublishingStatus.SCHEDULED, now - timedelta(minutes=1)),
        ("early", PublishingStatus.SCHEDULED, now - timedelta(minutes=30)),
        ("queued", PublishingStatus.QUEUED, None),
        ("future", PublishingStatus.SCHEDULED, now + timedelta(minutes=5)),
    ]:
        state = AcceptedPlatformStateFactory(platform=Platform.MASTODON, workflow__user=owner)
        state.active_draft.content = name
        state.active_draft.save()
        jobs[name] = make_job(state, status=status, scheduled_for=when)

    assert publishing_jobs_dispatch_due(limit=2, now=now) == 2
    assert [p.text for p in publisher.published] == ["queued", "early"]
    assert publishing_jobs_dispatch_due(now=now) == 1
    assert [p.text for p in publisher.published] == ["queued", "early", "late"]
    assert PublishingJob.objects.get(pk=jobs["future"].pk).status == PublishingStatus.SCHEDULED
    assert publishing_jobs_dispatch_due(now=now + timedelta(minutes=6)) == 1
    assert publishing_jobs_dispatch_due(now=now + timedelta(minutes=6)) == 0
    assert len(publisher.published) == 4


def test_the_dispatcher_stops_claiming_when_its_time_budget_is_spent(owner, publisher, settings):
    settings.PUBLISHING_JOB_TIMEOUT = 0  # no budget: one job per tick, the rest wait for the next
    for _ in range(3):
        make_job(AcceptedPlatformStateFactory(platform=Platform.MASTODON, workflow__user=owner))
    assert publishing_jobs_dispatch_due() == 1
    assert PublishingJob.objects.filter(status=PublishingStatus.QUEUED).count() == 2


def test_the_dispatch_task_runs_the_dispatcher(state, publisher):
    job = make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(-5))
    assert dispatch_due_publishing_jobs() == 1
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED


def test_the_dispatcher_is_scheduled_every_minute():
    schedule = next(s for s in declared_schedules() if s.name == "workflows.dispatch_due_publishing_jobs")
    assert schedule.minutes == 1
    assert pydoc.locate(schedule.func) is dispatch_due_publishing_jobs


# A successful publish ---------------------------------------------------------------------------


def test_a_published_job_records_the_post_and_completes_the_platform(state, publisher):
    connection = state.workflow.user.platform_connections.get()
    job = make_job(state, status=PublishingStatus.QUEUED, platform_connection=connection)
    result = publishing_job_publish(job_id=job.pk)

    assert result.status == PublishingStatus.PUBLISHED
    assert result.published_at is not None and result.completed_at is not None
    assert result.error_message is None
    assert result.response_data == {
        "post_id": "post-1",
        "url": "https://social.example.test/@me/post-1",
        "platform_type": "mastodon",
        "connection_id": connection.pk,
        "details": {"http_status": 200},
        "recovered": False,
    }
    assert publisher.connections == [connection]
    state.refresh_from_db()
    assert state.status == PlatformStatus.PUBLISHED
    assert Workflow.objects.get(pk=state.workflow_id).status == WorkflowStatus.COMPLETED
    connection.refresh_from_db()
    assert connection.last_used is not None
    audit = AuditLog.objects.get(action="publishing_job.published", resource_id=str(job.pk))
    assert audit.details["post_id"] == "post-1" and audit.user is None


def test_a_blog_post_carries_the_sources_title(owner, publisher):
    state = AcceptedPlatformStateFactory(
        platform=Platform.BLOG,
        workflow__user=owner,
        workflow__source_content={"text": "Long text", "title": "Release notes"},
    )
    wordpress = PlatformConnectionFactory(user=owner, platform_type=PlatformType.WORDPRESS)
    job = make_job(state, status=PublishingStatus.QUEUED, platform_connection=wordpress)
    publishing_job_publish(job_id=job.pk)
    assert publisher.published[0].title == "Release notes"


# Re-checks at send time --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [WorkflowStatus.CANCELLED, WorkflowStatus.ARCHIVED])
def test_a_job_of_a_workflow_stopped_meanwhile_is_cancelled(state, publisher, status):
    job = make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(-10))
    Workflow.objects.filter(pk=state.workflow_id).update(status=status)
    assert publishing_jobs_dispatch_due() == 1
    job.refresh_from_db()
    assert job.status == PublishingStatus.CANCELLED
    assert status in job.error_message
    assert publisher.published == []


def test_a_job_whose_draft_is_no_longer_accepted_is_cancelled(state, publisher):
    job = make_job(state, status=PublishingStatus.QUEUED)
    PlatformState.objects.filter(pk=state.pk).update(status=PlatformStatus.AWAITING_REVIEW)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.CANCELLED
    assert "no longer accepted" in job.error_message
    assert publisher.published == []
    assert AuditLog.objects.get(action="publishing_job.cancelled").details["reason"] == job.error_message


def test_the_current_active_draft_is_published_when_it_changed_after_scheduling(state, owner, publisher):
    job = make_job(state, status=PublishingStatus.SCHEDULED, scheduled_for=in_(-10))
    edited = DraftFactory(
        workflow=state.workflow,
        platform=Platform.MASTODON,
        content="Edited after scheduling.",
        source=DraftSource.HUMAN,
        based_on=state.active_draft,
    )
    PlatformState.objects.filter(pk=state.pk).update(active_draft=edited)
    publishing_jobs_dispatch_due()
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED
    assert job.draft == edited
    assert [p.text for p in publisher.published] == ["Edited after scheduling."]


def test_a_disabled_connection_fails_the_job_with_the_reason(state, publisher):
    job = make_job(state, status=PublishingStatus.QUEUED)
    PlatformConnection.objects.filter(pk=job.platform_connection_id).update(is_active=False)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert "disabled" in job.error_message
    assert job.response_data == {"error": {"reason": "connection_disabled", "status": None}}
    assert publisher.published == []
    assert PlatformState.objects.get(pk=state.pk).status == PlatformStatus.ACCEPTED


def test_a_deleted_connection_fails_the_job_with_the_reason(state, publisher):
    job = make_job(state, status=PublishingStatus.QUEUED)
    PlatformConnection.objects.filter(pk=job.platform_connection_id).delete()
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert "deleted" in job.error_message
    assert publisher.published == []


# Failures ----------------------------------------------------------------------------------------


def test_a_refusal_fails_the_job_at_once(state, publisher):
    # A refusal of the post itself (a 401 is about the connection: tests/platforms/test_health.py).
    publisher.errors = [PlatformAuthError("social.example.test refused the status (HTTP 422).", status=422)]
    job = make_job(state, status=PublishingStatus.QUEUED)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert "HTTP 422" in job.error_message
    assert job.response_data == {"error": {"reason": "rejected", "status": 422, "ambiguous": False}}
    assert job.completed_at is not None
    assert AuditLog.objects.filter(action="publishing_job.failed", resource_id=str(job.pk)).exists()
    assert PlatformState.objects.get(pk=state.pk).status == PlatformStatus.ACCEPTED


def test_an_unavailable_platform_is_tried_again_later_then_the_job_fails(state, publisher):
    publisher.errors = [unavailable(status=503) for _ in range(3)]
    job = make_job(state, status=PublishingStatus.QUEUED)
    before = timezone.now()
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (PublishingStatus.SCHEDULED, 1)
    assert before + timedelta(seconds=50) <= job.scheduled_for <= before + timedelta(seconds=70)
    assert job.error_message == "The platform timed out."
    assert job.response_data["error"] == {"reason": "unavailable", "status": 503, "ambiguous": False}

    assert publishing_jobs_dispatch_due(now=job.scheduled_for) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (PublishingStatus.SCHEDULED, 2)
    assert job.scheduled_for >= timezone.now() + timedelta(seconds=200), "the wait grows"

    assert publishing_jobs_dispatch_due(now=job.scheduled_for) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (PublishingStatus.FAILED, 3)
    assert "Gave up after 3 attempts" in job.error_message
    assert len(publisher.published) == 3


def test_a_retry_after_from_the_platform_sets_the_next_attempt(state, publisher):
    publisher.errors = [unavailable(status=429, retry_after=900)]
    job = make_job(state, status=PublishingStatus.QUEUED)
    before = timezone.now()
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert before + timedelta(seconds=899) <= job.scheduled_for <= before + timedelta(seconds=910)


def test_an_ambiguous_failure_is_recorded_and_the_next_attempt_finds_the_post(state, publisher):
    publisher.errors = [unavailable(ambiguous=True)]
    job = make_job(state, status=PublishingStatus.QUEUED)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.SCHEDULED
    assert job.response_data["error"]["ambiguous"] is True

    # The post did go out: the next attempt finds it and does not post again.
    publisher.existing = Published(post_id="post-1", url=None, platform_type="mastodon", details={})
    publishing_jobs_dispatch_due(now=job.scheduled_for)
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED
    assert job.response_data["post_id"] == "post-1" and job.response_data["recovered"] is True
    assert len(publisher.published) == 1 and len(publisher.lookups) == 1


def test_a_failing_lookup_never_falls_through_to_a_post(state, publisher, monkeypatch):
    job = make_job(state, status=PublishingStatus.QUEUED, attempts=1)

    def lookup_fails(publication):
        raise unavailable("The lookup timed out.")

    monkeypatch.setattr(publisher, "find_published", lookup_fails)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_message) == (PublishingStatus.SCHEDULED, "The lookup timed out.")
    assert publisher.published == []


def test_an_unexpected_error_fails_the_job_as_ambiguous(state, publisher):
    publisher.errors = [RuntimeError("boom")]
    job = make_job(state, status=PublishingStatus.QUEUED)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert job.response_data["error"]["ambiguous"] is True
    assert "check the platform" in job.error_message


# Stale jobs -------------------------------------------------------------------------------------


def test_a_job_whose_worker_died_is_queued_again_and_not_posted_twice(state, publisher):
    now = timezone.now()
    job = make_job(
        state, status=PublishingStatus.PUBLISHING, attempts=1, heartbeat_at=now - timedelta(seconds=301)
    )
    fresh_state = AcceptedPlatformStateFactory(platform=Platform.MASTODON, workflow__user=state.workflow.user)
    busy = make_job(fresh_state, status=PublishingStatus.PUBLISHING, attempts=1, heartbeat_at=now)

    assert publishing_jobs_recover_stale(now=now) == 1
    job.refresh_from_db()
    assert job.status == PublishingStatus.QUEUED
    assert job.response_data["error"]["ambiguous"] is True
    assert AuditLog.objects.filter(action="publishing_job.requeued", resource_id=str(job.pk)).exists()
    assert PublishingJob.objects.get(pk=busy.pk).status == PublishingStatus.PUBLISHING

    # The dead worker had posted it: the next attempt finds the post.
    publisher.existing = Published(post_id="post-0", url=None, platform_type="mastodon", details={})
    assert publishing_jobs_dispatch_due(now=now) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.response_data["post_id"]) == (
        PublishingStatus.PUBLISHED,
        2,
        "post-0",
    )
    assert publisher.published == []


def test_the_dispatcher_takes_back_stale_jobs_first(state, publisher):
    now = timezone.now()
    job = make_job(
        state, status=PublishingStatus.PUBLISHING, attempts=1, heartbeat_at=now - timedelta(minutes=10)
    )
    assert publishing_jobs_dispatch_due(now=now) == 1
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED
    assert len(publisher.lookups) == 1 and len(publisher.published) == 1, "looked, found nothing, posted"


def test_a_stale_job_out_of_attempts_fails_with_advice_to_check(state, settings):
    settings.PUBLISHING_JOB_TIMEOUT = 60
    now = timezone.now()
    job = make_job(
        state, status=PublishingStatus.PUBLISHING, attempts=3, heartbeat_at=now - timedelta(seconds=61)
    )
    assert publishing_jobs_recover_stale(now=now) == 1
    job.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert "may or may not exist" in job.error_message
    assert job.completed_at == now
    assert publishing_jobs_recover_stale(now=now) == 0


def test_a_slow_worker_that_lost_its_job_to_the_recovery_does_not_overwrite_the_next_attempt(
    state, publisher, monkeypatch
):
    """While attempt 1 waits on the platform, the recovery re-queues the job and attempt 2 fails it
    for good; attempt 1's late failure must not change that row."""
    job = make_job(state, status=PublishingStatus.QUEUED)

    def slow_publish(publication):
        PublishingJob.objects.filter(pk=job.pk).update(
            status=PublishingStatus.FAILED, attempts=2, error_message="attempt 2"
        )
        raise PlatformAuthError("refused", status=403)

    monkeypatch.setattr(publisher, "publish", slow_publish)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_message) == (PublishingStatus.FAILED, "attempt 2")


def test_a_post_that_went_out_is_recorded_even_if_the_job_was_requeued_meanwhile(
    state, publisher, monkeypatch
):
    job = make_job(state, status=PublishingStatus.QUEUED)
    real_publish = publisher.publish

    def publish_slowly(publication):
        PublishingJob.objects.filter(pk=job.pk).update(status=PublishingStatus.QUEUED)  # the recovery
        return real_publish(publication)

    monkeypatch.setattr(publisher, "publish", publish_slowly)
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED
    assert publishing_jobs_dispatch_due() == 0, "nothing left to post again"


def test_a_platform_state_of_another_platform_is_not_touched(owner, publisher):
    workflow = WorkflowFactory(user=owner, status=WorkflowStatus.AWAITING_REVIEW)
    mastodon = AcceptedPlatformStateFactory(workflow=workflow, platform=Platform.MASTODON)
    PlatformStateFactory(workflow=workflow, platform=Platform.X, status=PlatformStatus.AWAITING_REVIEW)
    PlatformConnectionFactory(user=owner, platform_type=PlatformType.MASTODON)
    job = make_job(mastodon, status=PublishingStatus.QUEUED)
    publishing_job_publish(job_id=job.pk)
    assert dict(workflow.platform_states.values_list("platform", "status")) == {
        "mastodon": PlatformStatus.PUBLISHED,
        "x": PlatformStatus.AWAITING_REVIEW,
    }
    assert Workflow.objects.get(pk=workflow.pk).status == WorkflowStatus.AWAITING_REVIEW
