"""Caption tasks against a FakeMastodon on a local HTTP server and the builtin AI backend.

django-q runs synchronously in tests, so the task queued on commit runs inline when the test
executes the on-commit callbacks. Tests that write from worker threads use a concurrency of 1
(the images are then captioned in the task's thread, inside the test's transaction); the
concurrency bound is measured with a captioner that does not touch the database.
"""

import functools
import io
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image as PILImage

from accounts.models import AuditLog, Role
from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageStatus,
    ProcessingRun,
    ProcessingRunStatus,
    TaskStatus,
)
from captions.services import generation
from captions.services import tasks as tasks_module
from captions.services.tasks import (
    TaskAlreadyActive,
    TaskNotCancellable,
    caption_task_cancel,
    caption_task_create,
    caption_task_run,
    caption_tasks_recover_stale,
)
from core.errors import NotFound
from core.models import SystemConfig
from core.reaper import reapers
from core.services import config_set
from platforms.kinds.mastodon.client import MastodonApi
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationTaskFactory, CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.django_db

NO_WAIT = functools.partial(MastodonApi.from_connection, sleep=lambda seconds: None)
VERIFY = "/api/v1/accounts/verify_credentials"


def png(width: int = 240, height: int = 160, colour=(40, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.AI_BACKEND = "builtin"
    settings.CAPTION_CONCURRENCY = 1


@pytest.fixture
def fake(httpserver):
    return FakeMastodon(httpserver, description_limit=900)


@pytest.fixture
def connection(fake):
    connection = PlatformConnectionFactory(
        instance_url=fake.base_url, access_token=fake.token, extra={"note": "kept"}
    )
    CaptionGenerationUserSettingsFactory(
        user=connection.user, platform_connection=connection, processing_delay=0, max_posts_per_run=20
    )
    return connection


def add_post(fake, media) -> dict:
    status = fake.add_status(text="pictures", media=media)
    for index, media_entity in enumerate(status["media_attachments"]):
        fake.files[media_entity["id"]] = png(colour=(30 * index, 100, 180))
    return status


@pytest.fixture
def three_images(fake):
    """Three images lacking alt text in two posts, one with alt text, one video."""
    add_post(fake, [None, "A grey cat asleep on a sofa."])
    add_post(fake, [None, "", {"type": "video", "description": None}])
    add_post(fake, ["Already described."])


def queued_task(connection) -> CaptionGenerationTask:
    return CaptionGenerationTaskFactory(
        platform_connection=connection,
        user=connection.user,
        settings_json=tasks_module.caption_settings_snapshot(user=connection.user, connection=connection),
    )


def simple_captioner(*, image, backend):
    """Stands in for caption_generate where the pipeline is not the point: writes a caption."""
    Image.objects.filter(pk=image.pk).update(generated_caption=f"A picture, number {image.pk}.")
    image.refresh_from_db()
    return image


# Creating and running ---------------------------------------------------------------------------


def test_a_created_task_is_queued_then_run_on_commit_to_completion(
    fake, connection, three_images, django_capture_on_commit_callbacks
):
    owner = connection.user
    # On commit the task is handed to django-q, which (sync in tests) runs it inline.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task = caption_task_create(user=owner, connection=connection)
        assert CaptionGenerationTask.objects.get(pk=task.pk).status == TaskStatus.QUEUED
        assert fake.requests == [], "nothing runs before the commit"
    assert len(callbacks) == 1
    assert task.settings_json["processing_delay"] == 0 and task.settings_json["max_posts_per_run"] == 20
    assert AuditLog.objects.filter(
        action="caption_task.created", resource_id=str(task.pk), user=owner
    ).exists()

    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED, task.error_message
    assert (task.progress_percent, task.current_step, task.attempts) == (100, "done", 1)
    assert task.started_at and task.completed_at and task.heartbeat_at and task.error_message is None
    assert task.results_json == {
        "posts_seen": 3,
        "images_found": 3,
        "images_processed": 3,
        "captions_generated": 3,
        "errors": 0,
        "skipped": 3,  # two images with alt text and a video
        "remaining": 0,
        "backlog_done": True,
        "description_limit": 900,
    }
    images = Image.objects.filter(platform_connection=connection)
    assert images.count() == 3
    assert all(image.generated_caption for image in images)

    run = ProcessingRun.objects.get(task=task)
    assert run.status == ProcessingRunStatus.COMPLETED and run.completed_at is not None
    assert run.batch_id == str(task.pk) and run.user == owner and run.platform_connection == connection
    assert (run.platform_type, run.instance_url) == (connection.platform_type, connection.instance_url)
    assert (run.posts_processed, run.images_processed, run.captions_generated, run.errors_count) == (
        3,
        3,
        3,
        0,
    )
    assert (run.retry_attempts, run.retry_successes, run.retry_failures) == (0, 0, 0)
    assert run.retry_stats["attempts"] > 0 and run.retry_stats["reasons"] == {}


def test_the_description_limit_is_kept_on_the_connection_without_touching_the_rest(
    fake, connection, three_images
):
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    connection.refresh_from_db()
    assert connection.extra == {"note": "kept", "description_limit": 900}
    assert connection.access_token == fake.token  # still decrypts: only `extra` was written
    assert connection.last_used is not None


def test_an_unreadable_description_limit_is_a_warning_on_the_task_and_its_run(fake, connection, three_images):
    fake.instance_v2 = None  # both instance documents answer 404
    fake.instance_v1 = None
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    run = ProcessingRun.objects.get(task=task)
    assert task.status == TaskStatus.COMPLETED
    assert task.results_json["description_limit"] == 1500
    (warning,) = task.warnings
    assert "description limit could not be read" in warning and "1500" in warning
    assert "/api/v2/instance" in warning and "/api/v1/instance" in warning
    assert run.warnings == [warning]
    connection.refresh_from_db()
    assert "description_limit" not in connection.extra, "a guess is not stored as the instance's limit"


def test_an_unreadable_limit_keeps_the_one_read_last_time(fake, connection, three_images):
    connection.extra = {"description_limit": 900}
    connection.save()
    fake.instance_v2 = None
    fake.instance_v1 = None
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.results_json["description_limit"] == 900
    assert "900" in task.warnings[0] and "last time" in task.warnings[0]


def test_a_limit_read_from_the_instance_leaves_no_warning(fake, connection, three_images):
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.warnings == [] and ProcessingRun.objects.get(task=task).warnings == []


def test_the_reply_setting_reaches_the_scan(fake, connection):
    add_post(fake, [None])
    reply = fake.add_status(text="reply", media=[None], in_reply_to_account_id=fake.other_account["id"])
    fake.files[reply["media_attachments"][0]["id"]] = png()
    connection.caption_settings.update(include_replies=False)
    task = queued_task(connection)
    assert task.settings_json["include_replies"] is False
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.results_json["posts_seen"] == 1
    assert not Image.objects.filter(post__post_id=reply["id"]).exists()


def test_steps_and_progress_are_written_as_the_task_goes(fake, connection, three_images):
    task = queued_task(connection)
    seen = []

    def watching(*, image, backend):
        row = CaptionGenerationTask.objects.get(pk=task.pk)
        seen.append((row.current_step, row.progress_percent, row.heartbeat_at))
        return simple_captioner(image=image, backend=backend)

    caption_task_run(task_id=task.pk, captioner=watching, api_factory=NO_WAIT)
    assert [step for step, _, _ in seen] == ["captioning 1 of 3", "captioning 2 of 3", "captioning 3 of 3"]
    percents = [percent for _, percent, _ in seen]
    assert percents == sorted(percents) and 10 <= percents[0] < percents[-1] < 100
    beats = [beat for _, _, beat in seen]
    assert beats == sorted(beats) and len(set(beats)) == 3
    task.refresh_from_db()
    assert (task.current_step, task.progress_percent) == ("done", 100)


def test_images_left_pending_by_an_earlier_run_are_captioned_oldest_first(fake, connection, three_images):
    first = queued_task(connection)
    caption_task_run(task_id=first.pk, captioner=lambda **kwargs: 1 / 0, api_factory=NO_WAIT)
    # The crashing captioner put every image in error; bring two back as an interrupted run leaves them.
    left = list(Image.objects.order_by("created_at", "pk"))
    Image.objects.filter(pk__in=[left[0].pk, left[2].pk]).update(
        status=ImageStatus.PENDING, processing_error=None
    )
    order = []

    def recording(*, image, backend):
        order.append(image.pk)
        return simple_captioner(image=image, backend=backend)

    second = queued_task(connection)
    caption_task_run(task_id=second.pk, captioner=recording, api_factory=NO_WAIT)
    assert order == [left[0].pk, left[2].pk]
    second.refresh_from_db()
    assert second.results_json["posts_seen"] == 0 and second.results_json["captions_generated"] == 2


def test_a_captioner_that_raises_puts_the_image_in_error_and_the_task_goes_on(fake, connection, three_images):
    calls = []

    def flaky(*, image, backend):
        calls.append(image.pk)
        if len(calls) == 2:
            raise RuntimeError("bug in the pipeline")
        return simple_captioner(image=image, backend=backend)

    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=flaky, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED
    assert (task.results_json["captions_generated"], task.results_json["errors"]) == (2, 1)
    broken = Image.objects.get(pk=calls[1])
    assert broken.status == ImageStatus.ERROR and "bug in the pipeline" in broken.processing_error
    assert ProcessingRun.objects.get(task=task).errors_count == 1


def test_a_task_runs_with_the_settings_it_was_started_with(fake, connection):
    for _ in range(4):
        add_post(fake, [None])
    task = queued_task(connection)
    task.settings_json = {**task.settings_json, "max_posts_per_run": 2}
    task.save()
    connection.caption_settings.update(max_posts_per_run=100)  # changed after the task was queued
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.results_json["posts_seen"] == 2 and not task.results_json["backlog_done"]


def test_the_processing_delay_paces_the_images(fake, connection, three_images):
    task = queued_task(connection)
    task.settings_json = {**task.settings_json, "processing_delay": 0.5}
    task.save()
    pauses = []
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT, sleep=pauses.append)
    assert len(pauses) == 2 and all(0.2 < pause <= 0.5 for pause in pauses)


# One active task --------------------------------------------------------------------------------


def test_one_active_task_per_connection_and_a_new_one_after_it_ends(
    fake, connection, three_images, django_capture_on_commit_callbacks
):
    owner = connection.user
    with django_capture_on_commit_callbacks(execute=False):
        task = caption_task_create(user=owner, connection=connection)
    with pytest.raises(TaskAlreadyActive) as raised:
        caption_task_create(user=owner, connection=connection)
    assert raised.value.code == "task_active"  # a 409 in the API

    other = PlatformConnectionFactory(user=owner, instance_url=fake.base_url, access_token=fake.token)
    with django_capture_on_commit_callbacks(execute=False):
        assert caption_task_create(user=owner, connection=other).status == TaskStatus.QUEUED

    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    assert CaptionGenerationTask.objects.get(pk=task.pk).status == TaskStatus.COMPLETED
    with django_capture_on_commit_callbacks(execute=False):
        again = caption_task_create(user=owner, connection=connection)
    assert again.status == TaskStatus.QUEUED and again.pk != task.pk


def test_a_race_past_the_check_is_a_conflict_too(connection, monkeypatch, django_capture_on_commit_callbacks):
    """Another request inserts its task between the check and the insert: the partial unique
    constraint refuses the second row, and that is reported as the same 409."""
    real_snapshot = tasks_module.caption_settings_snapshot

    def snapshot_while_another_request_wins(**kwargs):
        CaptionGenerationTaskFactory(platform_connection=connection, user=connection.user)
        return real_snapshot(**kwargs)

    monkeypatch.setattr(tasks_module, "caption_settings_snapshot", snapshot_while_another_request_wins)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(TaskAlreadyActive):
        caption_task_create(user=connection.user, connection=connection)
    assert callbacks == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_make_exactly_one_task(monkeypatch):
    monkeypatch.setattr(tasks_module, "_queue_run", lambda task_id: None)
    connection = PlatformConnectionFactory()
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list = []

    def create(_):
        try:
            barrier.wait(timeout=10)
            caption_task_create(user=connection.user, connection=connection)
            outcomes.append("created")
        except TaskAlreadyActive:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict"] * (workers - 1) + ["created"]
    assert CaptionGenerationTask.objects.count() == 1


# Who may create, and what ------------------------------------------------------------------------


def test_another_users_connection_is_not_found(connection):
    with pytest.raises(NotFound):
        caption_task_create(user=UserFactory(), connection=connection)
    assert not CaptionGenerationTask.objects.exists()


def test_a_moderator_starts_the_owners_task(connection, django_capture_on_commit_callbacks):
    moderator = UserFactory(role=Role.MODERATOR)
    with django_capture_on_commit_callbacks(execute=False):
        task = caption_task_create(user=moderator, connection=connection)
    assert task.user == connection.user
    audit = AuditLog.objects.get(action="caption_task.created")
    assert audit.user == moderator and audit.details["owner"] == connection.user.pk
    with pytest.raises(TaskAlreadyActive):
        caption_task_create(user=connection.user, connection=connection)


def test_without_saved_settings_the_defaults_are_snapshotted(django_capture_on_commit_callbacks):
    connection = PlatformConnectionFactory()
    with django_capture_on_commit_callbacks(execute=False):
        task = caption_task_create(user=connection.user, connection=connection)
    assert task.settings_json == {
        "max_posts_per_run": 50,
        "max_caption_length": 500,
        "optimal_min_length": 80,
        "optimal_max_length": 200,
        "reprocess_existing": False,
        "include_replies": True,
        "processing_delay": 1.0,
        "language": None,
    }


@pytest.mark.parametrize(
    "changes", [{"platform_type": "x"}, {"is_active": False}], ids=["not fediverse", "disabled"]
)
def test_connections_that_cannot_be_scanned_are_refused(changes):
    connection = PlatformConnectionFactory(**changes)
    with pytest.raises(ValidationError) as raised:
        caption_task_create(user=connection.user, connection=connection)
    assert "platform_connection" in raised.value.message_dict


# Cancelling -------------------------------------------------------------------------------------


def test_a_queued_task_cancelled_never_runs(fake, connection, three_images):
    task = queued_task(connection)
    cancelled = caption_task_cancel(task=task, actor=connection.user)
    assert cancelled.status == TaskStatus.CANCELLED and cancelled.completed_at is not None
    assert AuditLog.objects.filter(action="caption_task.cancelled", resource_id=str(task.pk)).count() == 1

    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    assert fake.requests == [] and not ProcessingRun.objects.exists()
    assert CaptionGenerationTask.objects.get(pk=task.pk).status == TaskStatus.CANCELLED

    caption_task_cancel(task=task, actor=connection.user)  # again: nothing changes, nothing audited
    assert AuditLog.objects.filter(action="caption_task.cancelled").count() == 1


def test_a_finished_task_cannot_be_cancelled_and_strangers_cannot_see_it(connection):
    task = CaptionGenerationTaskFactory(platform_connection=connection, status=TaskStatus.COMPLETED)
    with pytest.raises(TaskNotCancellable) as raised:
        caption_task_cancel(task=task, actor=connection.user)
    assert raised.value.code == "task_finished"  # a 409 in the API
    queued = queued_task(PlatformConnectionFactory(user=connection.user))
    with pytest.raises(NotFound):
        caption_task_cancel(task=queued, actor=UserFactory())
    moderator = UserFactory(role=Role.MODERATOR)
    assert caption_task_cancel(task=queued, actor=moderator).status == TaskStatus.CANCELLED


def test_cancelling_a_running_task_stops_it_before_the_next_image(fake, connection, three_images):
    task = queued_task(connection)
    captioned = []

    def cancel_after_first(*, image, backend):
        captioned.append(image.pk)
        if len(captioned) == 1:
            caption_task_cancel(task=task, actor=connection.user)
        return simple_captioner(image=image, backend=backend)

    caption_task_run(task_id=task.pk, captioner=cancel_after_first, api_factory=NO_WAIT)
    assert len(captioned) == 1
    task.refresh_from_db()
    assert (task.status, task.current_step) == (TaskStatus.CANCELLED, "cancelled")
    assert task.results_json["images_processed"] == 1 and task.results_json["remaining"] == 2
    run = ProcessingRun.objects.get(task=task)
    assert run.status == ProcessingRunStatus.CANCELLED and run.images_processed == 1
    untouched = Image.objects.exclude(pk=captioned[0])
    assert [(i.status, i.generated_caption) for i in untouched] == [(ImageStatus.PENDING, None)] * 2


def test_running_a_task_twice_does_nothing_the_second_time(fake, connection, three_images):
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    requests_made = len(fake.requests)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    assert len(fake.requests) == requests_made
    task.refresh_from_db()
    assert task.attempts == 1 and ProcessingRun.objects.count() == 1

    claimed_elsewhere = queued_task(PlatformConnectionFactory(user=connection.user))
    CaptionGenerationTask.objects.filter(pk=claimed_elsewhere.pk).update(status=TaskStatus.RUNNING)
    caption_task_run(task_id=claimed_elsewhere.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    assert len(fake.requests) == requests_made
    assert not ProcessingRun.objects.filter(task=claimed_elsewhere).exists()


# Failures ---------------------------------------------------------------------------------------


def test_a_refused_token_fails_the_task_with_a_clear_message(fake, three_images):
    connection = PlatformConnectionFactory(instance_url=fake.base_url, access_token="revoked-token")
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED and task.completed_at is not None
    assert "refused the access token (HTTP 401)" in task.error_message
    assert "access token" in task.error_message.split("401")[1]  # says what to do
    assert fake.count("GET", VERIFY) == 1, "a refused token is not retried"
    run = ProcessingRun.objects.get(task=task)
    assert run.status == ProcessingRunStatus.FAILED and run.completed_at is not None
    assert not Image.objects.exists()


def test_a_token_refused_with_a_reason_fails_the_task_with_that_reason(fake, three_images):
    fake.bad_token_answer = (400, "Invalid Bearer token", "text/plain")  # Takahē's answer
    connection = PlatformConnectionFactory(instance_url=fake.base_url, access_token="revoked-token")
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert "(HTTP 400): Invalid Bearer token" in task.error_message
    assert "access token" in task.error_message.split("Invalid Bearer token")[1]  # says what to do


def test_server_errors_after_every_retry_fail_the_task_and_are_counted(fake, connection, three_images):
    fake.error_next(VERIFY, status=503, times=3)
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert "HTTP 503" in task.error_message and "Gave up after 3 attempts" in task.error_message
    run = ProcessingRun.objects.get(task=task)
    assert run.status == ProcessingRunStatus.FAILED
    assert (run.retry_attempts, run.retry_successes, run.retry_failures) == (2, 0, 1)
    assert run.retry_stats["reasons"] == {"503": 3}


def test_a_rate_limit_retried_successfully_shows_in_the_run(fake, connection, three_images):
    fake.rate_limit_next(f"/api/v1/accounts/{fake.account['id']}/statuses", retry_after="2")
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED
    run = ProcessingRun.objects.get(task=task)
    assert (run.retry_attempts, run.retry_successes, run.retry_failures, run.retry_total_time) == (1, 1, 0, 2)
    assert run.retry_stats["reasons"] == {"429": 1}
    assert run.captions_generated == 3


def test_an_unexpected_error_fails_the_task_instead_of_leaving_it_running(
    fake, connection, three_images, monkeypatch, caplog
):
    def broken_scan(**kwargs):
        raise RuntimeError("the scan tripped over something")

    monkeypatch.setattr(tasks_module, "scan_connection", broken_scan)
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert task.error_message == "the scan tripped over something"
    assert ProcessingRun.objects.get(task=task).status == ProcessingRunStatus.FAILED
    assert any(record.exc_info for record in caplog.records), "logged with its traceback"


# Concurrency ------------------------------------------------------------------------------------


def test_images_are_captioned_with_bounded_concurrency(fake, connection, settings):
    settings.CAPTION_CONCURRENCY = 3
    for _ in range(4):
        add_post(fake, [None, None])
    lock = threading.Lock()
    running = peak = calls = 0
    threads = set()

    def measuring(*, image, backend):  # touches no database: workers run outside the test's transaction
        nonlocal running, peak, calls
        with lock:
            running += 1
            calls += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            running -= 1
        image.generated_caption = "A picture."
        return image

    task = queued_task(connection)
    caption_task_run(task_id=task.pk, captioner=measuring, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED, task.error_message
    assert calls == 8 and task.results_json["captions_generated"] == 8
    assert 1 < peak <= 3
    assert threading.get_ident() not in threads


@pytest.mark.postgres  # SQLite's shared in-memory test database locks tables across threads
@pytest.mark.django_db(transaction=True)
def test_the_real_pipeline_runs_in_worker_threads(fake, connection, three_images, settings):
    settings.CAPTION_CONCURRENCY = 4
    task = queued_task(connection)
    caption_task_run(task_id=task.pk, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED, task.error_message
    assert task.results_json["captions_generated"] == 3
    assert all(image.generated_caption for image in Image.objects.all())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cancellation_from_a_worker_stops_the_pool_from_starting_more(fake, connection, settings):
    settings.CAPTION_CONCURRENCY = 2
    for _ in range(4):
        add_post(fake, [None, None])
    task = queued_task(connection)
    lock = threading.Lock()
    calls = []

    def cancel_on_second(*, image, backend):
        with lock:
            calls.append(image.pk)
            second = len(calls) == 2
        if second:
            caption_task_cancel(task=task, actor=connection.user)
        time.sleep(0.05)
        return simple_captioner(image=image, backend=backend)

    caption_task_run(task_id=task.pk, captioner=cancel_on_second, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert len(calls) <= 3, "at most the image already submitted when the cancel landed"
    assert task.results_json["images_processed"] == len(calls)
    assert task.results_json["remaining"] == 8 - len(calls)
    assert ProcessingRun.objects.get(task=task).status == ProcessingRunStatus.CANCELLED


def _connections_to_this_database() -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pool_threads_keep_one_connection_each_and_the_task_closes_them(fake, connection, settings):
    settings.CAPTION_CONCURRENCY = 3
    for _ in range(4):
        add_post(fake, [None, None])
    task = queued_task(connection)
    before = _connections_to_this_database()
    opened = []

    def captioner(*, image, backend):
        captioned = simple_captioner(image=image, backend=backend)
        opened.append(connections["default"].connection.info.backend_pid)
        return captioned

    caption_task_run(task_id=task.pk, captioner=captioner, api_factory=NO_WAIT)

    task.refresh_from_db()
    assert task.results_json["captions_generated"] == 8, task.error_message
    assert len(opened) == 8
    assert len(set(opened)) <= 3, "one connection per pool thread, not one per image"
    assert _connections_to_this_database() == before


# Stale tasks ------------------------------------------------------------------------------------


def test_the_stale_task_check_is_a_reaper():
    reaper = next(r for r in reapers() if r.name == "captions.tasks")
    assert reaper.run is caption_tasks_recover_stale


def _went_silent(task, *, minutes_ago: int, attempts: int = 1) -> ProcessingRun:
    CaptionGenerationTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.RUNNING,
        attempts=attempts,
        heartbeat_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    # A run reuses its task's processing run (keyed by the task), as the runner does.
    run, _ = ProcessingRun.objects.update_or_create(
        batch_id=str(task.pk),
        platform_connection=task.platform_connection,
        defaults={"user": task.user, "task": task, "status": ProcessingRunStatus.RUNNING},
    )
    return run


def test_a_silent_task_is_queued_again_once_then_failed(
    connection, settings, django_capture_on_commit_callbacks
):
    settings.CAPTION_TASK_TIMEOUT_MINUTES = 60
    silent = queued_task(connection)
    first_run = _went_silent(silent, minutes_ago=61)
    alive = queued_task(PlatformConnectionFactory(user=connection.user))
    _went_silent(alive, minutes_ago=5)

    with (
        mock.patch.object(tasks_module, "async_task") as queue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert caption_tasks_recover_stale() == {"requeued": 1, "failed": 0}
    assert [call.args[:2] for call in queue.call_args_list] == [(tasks_module.RUN_TASK, str(silent.pk))]
    silent.refresh_from_db()
    assert silent.status == TaskStatus.QUEUED and "queued again" in silent.error_message
    first_run.refresh_from_db()
    assert first_run.status == ProcessingRunStatus.FAILED
    assert CaptionGenerationTask.objects.get(pk=alive.pk).status == TaskStatus.RUNNING

    # The second run (attempts 2) goes silent as well: this time it is failed, not queued.
    _went_silent(silent, minutes_ago=61, attempts=2)
    with (
        mock.patch.object(tasks_module, "async_task") as queue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert caption_tasks_recover_stale() == {"requeued": 0, "failed": 1}
    queue.assert_not_called()
    silent.refresh_from_db()
    assert silent.status == TaskStatus.FAILED
    assert "stopped responding" in silent.error_message and "2 runs" in silent.error_message
    first_run.refresh_from_db()
    assert first_run.status == ProcessingRunStatus.FAILED
    assert caption_tasks_recover_stale() == {"requeued": 0, "failed": 0}


def test_a_requeued_task_runs_again_and_completes(
    fake, connection, three_images, settings, django_capture_on_commit_callbacks
):
    settings.CAPTION_TASK_TIMEOUT_MINUTES = 60
    task = queued_task(connection)
    _went_silent(task, minutes_ago=61)
    with mock.patch.object(tasks_module, "async_task"), django_capture_on_commit_callbacks(execute=True):
        caption_tasks_recover_stale()
    caption_task_run(task_id=task.pk, captioner=simple_captioner, api_factory=NO_WAIT)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED and task.attempts == 2
    assert Image.objects.filter(generated_caption__startswith="A picture").count() == 3


def test_a_task_reads_the_owners_settings_and_the_prompt_overrides_once_not_once_an_image(fake, connection):
    for _ in range(4):
        add_post(fake, [None])
    config_set(key="caption_prompt_other", value="Say what the picture is for.")
    CaptionGenerationUserSettings.objects.filter(platform_connection=connection).update(language="de")
    task = queued_task(connection)

    with CaptureQueriesContext(db) as queries:
        caption_task_run(task_id=task.pk, api_factory=NO_WAIT)

    task.refresh_from_db()
    assert task.results_json["captions_generated"] == 4, task.error_message
    settings_table = f'FROM "{CaptionGenerationUserSettings._meta.db_table}"'
    settings_reads = [q for q in queries if settings_table in q["sql"]]
    config_reads = [q for q in queries if f'FROM "{SystemConfig._meta.db_table}"' in q["sql"]]
    assert len(settings_reads) == 1
    assert len(config_reads) == 1
    prompts = list(Image.objects.values_list("prompt_used", flat=True))
    assert len(prompts) == 4
    assert all(
        prompt.startswith("Say what the picture is for. ") and "in German" in prompt for prompt in prompts
    )


def test_a_reviewers_approval_while_the_task_captions_is_kept(fake, connection, monkeypatch):
    add_post(fake, [None])
    task = queued_task(connection)
    real = generation._caption_fields

    def reviewer_acts_meanwhile(image, *args, **kwargs):
        fields = real(image, *args, **kwargs)
        Image.objects.filter(pk=image.pk).update(
            status=ImageStatus.APPROVED, final_caption="A reviewer's words."
        )
        return fields

    monkeypatch.setattr(generation, "_caption_fields", reviewer_acts_meanwhile)
    caption_task_run(task_id=task.pk, api_factory=NO_WAIT)

    image = Image.objects.get()
    assert image.status == ImageStatus.APPROVED
    assert image.final_caption == "A reviewer's words."
    assert image.generated_caption in (None, "")
