"""Connection health against local fake networks: the daily check, the gates before a caption scan
and a publish, one notification per breakage, and work resuming after reconnecting."""

import functools

import pytest
from django.utils import timezone

from accounts.models import Notification, NotificationEvent
from captions.models import CaptionGenerationTask, Image, ImageStatus, TaskStatus
from captions.services import tasks as tasks_module
from captions.services.tasks import caption_task_create
from core.outbound import HostThrottle
from core.retry import RetryPolicy
from core.schedules import declared_schedules
from platforms.health import connection_health_check, connection_health_set, connections_health_check_all
from platforms.kinds.mastodon.client import MastodonApi
from platforms.kinds.publishing import publisher_for
from platforms.models import ConnectionHealth, PlatformConnection, PlatformType
from platforms.services import connection_update
from platforms.tasks import check_connections_health
from tests.factories.captions import CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import AcceptedPlatformStateFactory, PublishingJobFactory
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon
from workflows.models import Platform, PublishingJob, PublishingStatus, WorkflowStatus
from workflows.services import publishing as publishing_module
from workflows.services.publishing import publishing_job_publish

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/accounts/verify_credentials"


@pytest.fixture(autouse=True)
def _fast(monkeypatch, settings):
    settings.AI_BACKEND = "builtin"
    settings.CAPTION_CONCURRENCY = 1
    monkeypatch.setattr(
        publishing_module,
        "publisher_for",
        functools.partial(
            publisher_for,
            policy=RetryPolicy(attempts=2, base_delay=0.0),
            sleep=lambda seconds: None,
            throttle=HostThrottle(rate=10_000, sleep=lambda seconds: None),
        ),
    )
    monkeypatch.setattr(
        tasks_module, "media_client_for", functools.partial(MastodonApi.from_connection, sleep=lambda s: None)
    )


@pytest.fixture
def mastodon(httpserver):
    return FakeMastodon(httpserver)


@pytest.fixture
def connection(mastodon):
    connection = PlatformConnectionFactory(
        name="My Mastodon", instance_url=mastodon.base_url, access_token=mastodon.token, extra={"timeout": 2}
    )
    CaptionGenerationUserSettingsFactory(
        user=connection.user, platform_connection=connection, processing_delay=0, max_posts_per_run=20
    )
    return connection


def notifications(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, event=NotificationEvent.CONNECTION_BROKE))


def held_job(connection) -> PublishingJob:
    state = AcceptedPlatformStateFactory(
        platform=Platform.MASTODON,
        workflow__user=connection.user,
        workflow__status=WorkflowStatus.COMPLETED,
        active_draft__content="Release 2.0 is out: faster builds, fewer bugs.",
    )
    return PublishingJobFactory(
        workflow=state.workflow,
        platform=state.platform,
        draft=state.active_draft,
        platform_connection=connection,
        status=PublishingStatus.QUEUED,
    )


# The check and the one write path -----------------------------------------------------------------


def test_a_working_connection_checks_ok(mastodon, connection):
    assert connection_health_check(connection=connection) == ConnectionHealth.OK
    connection.refresh_from_db()
    assert (connection.health, connection.health_reason) == ("ok", "")
    assert connection.health_checked_at is not None
    assert notifications(connection.user) == []


def test_the_daily_check_marks_a_401_expired_and_tells_the_owner_once(mastodon, connection):
    connection_health_check(connection=connection)
    mastodon.token = "the-token-was-revoked-on-the-server"  # the stored one no longer works
    before = timezone.now()

    assert check_connections_health() == {"expired": 1}
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.EXPIRED
    assert "401" in connection.health_reason
    assert connection.health_checked_at >= before
    [note] = notifications(connection.user)
    assert "My Mastodon" in note.title
    assert str(connection.pk) in note.url and note.data == {
        "connection_id": connection.pk,
        "health": "expired",
    }

    # Checked again (the next day) while still broken: recorded, not told again.
    assert connections_health_check_all() == {"expired": 1}
    assert len(notifications(connection.user)) == 1


def test_an_unreachable_network_is_recorded_without_a_notification(mastodon, connection):
    mastodon.fail_next(VERIFY, method="GET", status=503, times=5)
    assert connection_health_check(connection=connection, timeout=2) == ConnectionHealth.UNREACHABLE
    connection.refresh_from_db()
    assert "503" in connection.health_reason
    assert notifications(connection.user) == []


def test_breaking_again_after_a_repair_is_a_new_notification(connection):
    connection_health_set(connection=connection, health=ConnectionHealth.EXPIRED, reason="HTTP 401")
    connection_health_set(connection=connection, health=ConnectionHealth.REVOKED, reason="invalid_grant")
    assert len(notifications(connection.user)) == 1  # expired -> revoked: still the same breakage
    connection_health_set(connection=connection, health=ConnectionHealth.OK)
    connection_health_set(connection=connection, health=ConnectionHealth.EXPIRED, reason="HTTP 401")
    assert len(notifications(connection.user)) == 2


def test_an_unknown_health_is_refused(connection):
    with pytest.raises(ValueError):
        connection_health_set(connection=connection, health="fine")
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.UNKNOWN


def test_the_daily_check_is_a_declared_schedule():
    [task] = [task for task in declared_schedules() if task.name == "platforms.check_connections_health"]
    assert (task.func, task.minutes) == ("platforms.tasks.check_connections_health", 24 * 60)


def test_the_daily_check_skips_disabled_connections(mastodon, connection):
    PlatformConnection.objects.filter(pk=connection.pk).update(is_active=False)
    assert connections_health_check_all() == {}
    assert mastodon.count("GET", VERIFY) == 0


# A connection that starts answering 401: the scan, the publish, the reconnect ----------------------


def add_images(mastodon, count: int) -> None:
    for _ in range(count):
        mastodon.add_status(text="pictures", media=[None])


def test_a_401_stops_the_scan_once_holds_publishing_and_both_resume_after_reconnecting(
    mastodon, connection, django_capture_on_commit_callbacks
):
    owner = connection.user
    add_images(mastodon, 3)
    mastodon.token = "a-new-token-the-connection-does-not-have"

    with django_capture_on_commit_callbacks(execute=True):
        task = caption_task_create(user=owner, connection=connection)
    task.refresh_from_db()

    # One clear reason naming the connection; no image was touched, so no per-image errors.
    assert task.status == TaskStatus.FAILED
    assert "My Mastodon" in task.error_message and "expired" in task.error_message
    assert task.results_json is None or task.results_json.get("errors", 0) == 0
    assert not Image.objects.filter(platform_connection=connection, status=ImageStatus.ERROR).exists()
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.EXPIRED
    assert len(notifications(owner)) == 1

    # A publish on the broken connection is held without asking the network again.
    job = held_job(connection)
    posts_before = mastodon.count("POST", "/api/v1/statuses")
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert job.response_data["error"]["reason"] == "connection_broken"
    assert "My Mastodon" in job.error_message
    assert mastodon.count("POST", "/api/v1/statuses") == posts_before
    assert len(notifications(owner)) == 1, "still one notification for the one breakage"
    assert not Notification.objects.filter(user=owner, event=NotificationEvent.PUBLISH_FAILED).exists(), (
        "a held job is not told apart from the breakage"
    )

    # Reconnecting: the owner gives the new token; the check finds it working and the held job goes.
    with django_capture_on_commit_callbacks(execute=True):
        connection_update(connection=connection, data={"access_token": mastodon.token}, actor=owner)
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.OK
    job.refresh_from_db()
    assert job.status == PublishingStatus.PUBLISHED, job.error_message
    assert len(mastodon.statuses_created()) == 1

    # And a new scan runs to its end.
    with django_capture_on_commit_callbacks(execute=True):
        again = caption_task_create(user=owner, connection=connection)
    again.refresh_from_db()
    assert again.status == TaskStatus.COMPLETED, again.error_message
    assert again.results_json["images_found"] == 3
    assert CaptionGenerationTask.objects.filter(user=owner, status=TaskStatus.FAILED).count() == 1


def test_a_held_job_stays_held_while_the_new_token_does_not_work_either(mastodon, connection):
    connection_health_set(connection=connection, health=ConnectionHealth.EXPIRED, reason="HTTP 401")
    job = held_job(connection)
    publishing_job_publish(job_id=job.pk)
    connection_update(connection=connection, data={"access_token": "still-not-the-right-token"})
    connection.refresh_from_db()
    job.refresh_from_db()
    assert connection.health == ConnectionHealth.EXPIRED
    assert job.status == PublishingStatus.FAILED


def test_a_refused_post_is_not_a_broken_connection(mastodon, connection):
    job = held_job(connection)
    mastodon.fail_next(
        "/api/v1/statuses", method="POST", status=422, body={"error": "Validation failed: Text too long"}
    )
    publishing_job_publish(job_id=job.pk)
    job.refresh_from_db()
    connection.refresh_from_db()
    assert job.status == PublishingStatus.FAILED
    assert job.response_data["error"]["reason"] != "connection_broken"
    assert connection.health == ConnectionHealth.UNKNOWN
    assert notifications(connection.user) == []


# Bluesky: a session that cannot be renewed ---------------------------------------------------------


def test_a_bluesky_session_that_cannot_be_renewed_is_expired_and_the_owner_told(httpserver):
    fake = FakeBluesky(httpserver)
    session = fake.issue_session()
    connection = PlatformConnectionFactory(
        name="My Bluesky",
        platform_type=PlatformType.BLUESKY,
        instance_url=fake.base_url,
        username=fake.handle,
        access_token=session["accessJwt"],
        extra={"did": fake.did, "handle": fake.handle, "pds_url": fake.base_url, "timeout": 2},
    )
    connection.refresh_token = session["refreshJwt"]
    connection.save(update_fields=["refresh_token"])
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()

    assert connection_health_check(connection=connection) == ConnectionHealth.EXPIRED
    connection.refresh_from_db()
    assert "sign in again" in connection.health_reason
    [note] = notifications(connection.user)
    assert "My Bluesky" in note.title


def test_verifying_is_a_health_check_too(mastodon, connection):
    from platforms.errors import VerificationFailed
    from platforms.services import connection_verify

    connection_verify(connection=connection)
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.OK
    mastodon.token = "the-server-forgot-this-token"
    with pytest.raises(VerificationFailed):
        connection_verify(connection=connection)
    connection.refresh_from_db()
    assert connection.health == ConnectionHealth.EXPIRED
    assert len(notifications(connection.user)) == 1


def test_the_owner_reconnects_on_the_connections_admin_page(mastodon, connection, client, settings):
    from django.urls import reverse

    from accounts.models import Role
    from accounts.services.users import user_set_role

    settings.OUTBOUND_ALLOWED_ORIGINS = [mastodon.base_url]
    owner = connection.user
    user_set_role(user=owner, role=Role.USER)  # owns content: sees and changes own connections
    owner.refresh_from_db()
    mastodon.token = "the-new-token-after-a-password-change"
    connection_health_check(connection=connection)
    job = held_job(connection)
    publishing_job_publish(job_id=job.pk)
    client.force_login(owner)
    page = reverse("admin:platforms_platformconnection_change", args=[connection.pk])
    assert b"Expired" in client.get(page).content

    response = client.post(
        page,
        {
            "user": owner.pk,
            "name": connection.name,
            "platform_type": "mastodon",
            "instance_url": connection.instance_url,
            "username": connection.username,
            "extra": '{"timeout": 2}',
            "is_active": "on",
            "new_access_token": mastodon.token,
            "new_client_key": "",
            "new_client_secret": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    job.refresh_from_db()
    assert connection.health == ConnectionHealth.OK
    assert job.status == PublishingStatus.QUEUED  # held no more: queued again
