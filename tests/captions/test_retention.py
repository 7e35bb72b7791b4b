import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from captions.models import CaptionGenerationTask, Image, ImageStatus, Post, ProcessingRun, TaskStatus
from core.retention import policy_run
from tests.factories.captions import (
    CaptionGenerationTaskFactory,
    ImageFactory,
    PostFactory,
    ProcessingRunFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _set(obj, **fields):
    type(obj).objects.filter(pk=obj.pk).update(**fields)
    return obj.pk


def _left(model, pks):
    return set(model.objects.filter(pk__in=pks).values_list("pk", flat=True))


def test_processing_runs_older_than_90_days_go():
    old = ProcessingRunFactory(started_at=NOW - timedelta(days=91)).pk
    inside = ProcessingRunFactory(started_at=NOW - timedelta(days=89)).pk

    assert policy_run(name="captions.processing_runs", now=NOW).rows == 1
    assert _left(ProcessingRun, [old, inside]) == {inside}


@pytest.mark.parametrize(
    ("status", "days"), [(ImageStatus.REJECTED, 30), (ImageStatus.POSTED, 180), (ImageStatus.ERROR, 60)]
)
def test_images_by_status_and_age(status, days):
    old = _set(ImageFactory(status=status), updated_at=NOW - timedelta(days=days, hours=1))
    inside = _set(ImageFactory(status=status), updated_at=NOW - timedelta(days=days - 1))
    other_status = _set(ImageFactory(status=ImageStatus.APPROVED), updated_at=NOW - timedelta(days=999))

    assert policy_run(name=f"captions.images_{status}", now=NOW).rows == 1
    assert _left(Image, [old, inside, other_status]) == {inside, other_status}


def test_image_age_is_configurable(settings):
    settings.RETENTION_IMAGE_REJECTED_DAYS = 5
    old = _set(ImageFactory(status=ImageStatus.REJECTED), updated_at=NOW - timedelta(days=6))
    inside = _set(ImageFactory(status=ImageStatus.REJECTED), updated_at=NOW - timedelta(days=4))

    policy_run(name="captions.images_rejected", now=NOW)

    assert _left(Image, [old, inside]) == {inside}


def test_posts_without_images_go_posts_with_images_stay():
    empty_old = _set(PostFactory(), created_at=NOW - timedelta(days=2))
    empty_new = PostFactory().pk  # its images may still be on their way
    image = ImageFactory()
    with_image = _set(image.post, created_at=NOW - timedelta(days=2))

    assert policy_run(name="captions.posts_without_images", now=NOW).rows == 1
    assert _left(Post, [empty_old, empty_new, with_image]) == {empty_new, with_image}
    assert Image.objects.filter(pk=image.pk).exists()


def test_caption_tasks_completed_after_a_year_failed_after_30_days():
    completed_old = _set(
        CaptionGenerationTaskFactory(status=TaskStatus.COMPLETED), updated_at=NOW - timedelta(days=366)
    )
    completed_inside = _set(
        CaptionGenerationTaskFactory(status=TaskStatus.COMPLETED), updated_at=NOW - timedelta(days=300)
    )
    failed_old = _set(
        CaptionGenerationTaskFactory(status=TaskStatus.FAILED), updated_at=NOW - timedelta(days=31)
    )
    failed_inside = _set(
        CaptionGenerationTaskFactory(status=TaskStatus.FAILED), updated_at=NOW - timedelta(days=29)
    )
    all_pks = [completed_old, completed_inside, failed_old, failed_inside]

    assert policy_run(name="captions.tasks_completed", now=NOW).rows == 1
    assert policy_run(name="captions.tasks_failed", now=NOW).rows == 1
    assert _left(CaptionGenerationTask, all_pks) == {completed_inside, failed_inside}


def test_deleting_a_task_keeps_its_runs_unlinked():
    task = CaptionGenerationTaskFactory(status=TaskStatus.FAILED)
    _set(task, updated_at=NOW - timedelta(days=31))
    run = ProcessingRunFactory(task=task, platform_connection=task.platform_connection, user=task.user)
    kept_task = CaptionGenerationTaskFactory(status=TaskStatus.FAILED)
    kept_run = ProcessingRunFactory(task=kept_task, platform_connection=kept_task.platform_connection)

    policy_run(name="captions.tasks_failed", now=NOW)

    run.refresh_from_db()
    kept_run.refresh_from_db()
    assert run.task_id is None
    assert kept_run.task_id == kept_task.pk
    connection.check_constraints()  # foreign keys are deferred: check them before the test rolls back


def _queries_to_delete(make, count, policy, column):
    for _ in range(count):
        make()
    with CaptureQueriesContext(connection) as queries:
        assert policy_run(name=policy, now=NOW).rows == count
    # Only keys are read: no model instance is loaded (the row's other columns are never selected).
    assert not [query for query in queries.captured_queries if column in query["sql"]]
    return len(queries)


def _old_failed_task_with_run():
    task = CaptionGenerationTaskFactory(status=TaskStatus.FAILED)
    _set(task, updated_at=NOW - timedelta(days=31))
    ProcessingRunFactory(task=task, platform_connection=task.platform_connection, user=task.user)


def _old_empty_post():
    _set(PostFactory(), created_at=NOW - timedelta(days=2))


def _old_rejected_image():
    _set(ImageFactory(status=ImageStatus.REJECTED), updated_at=NOW - timedelta(days=31))


@pytest.mark.parametrize(
    ("make", "policy", "column"),
    [
        (_old_failed_task_with_run, "captions.tasks_failed", "settings_json"),
        (_old_empty_post, "captions.posts_without_images", "post_content"),
        # Its stored copies' names are read, and checked against the other images, per batch.
        (_old_rejected_image, "captions.images_rejected", "generated_caption"),
    ],
)
def test_deletes_are_set_based_not_per_row(make, policy, column):
    """Rows with SET_NULL or CASCADE relations still go in a fixed number of statements per batch."""
    few = _queries_to_delete(make, 2, policy, column)
    many = _queries_to_delete(make, 20, policy, column)
    assert few == many


# --- stored copies ------------------------------------------------------------------------------


def _stored_copy(name: str) -> str:
    assert default_storage.save(name, ContentFile(b"\xff\xd8 a stored JPEG")) == name
    return name


@pytest.mark.django_db(transaction=True)
def test_an_image_deleted_by_retention_takes_its_stored_copy_once_the_batch_commits():
    folder = f"captions/{uuid.uuid4().hex}"
    old = ImageFactory(status=ImageStatus.REJECTED, local_path=_stored_copy(f"{folder}/old.jpg"))
    _set(old, updated_at=NOW - timedelta(days=31))
    inside = ImageFactory(status=ImageStatus.REJECTED, local_path=_stored_copy(f"{folder}/inside.jpg"))
    _set(inside, updated_at=NOW - timedelta(days=29))
    never_downloaded = _set(
        ImageFactory(status=ImageStatus.REJECTED, local_path=""), updated_at=NOW - timedelta(days=31)
    )

    result = policy_run(name="captions.images_rejected", now=NOW)

    assert (result.rows, result.files, result.files_failed) == (2, 1, 0)
    assert not default_storage.exists(old.local_path)
    assert default_storage.exists(inside.local_path)
    assert _left(Image, [old.pk, inside.pk, never_downloaded]) == {inside.pk}


@pytest.mark.django_db(transaction=True)
def test_a_stored_copy_another_image_still_names_stays():
    # Copies are content-addressed per connection: the same picture in two posts is one file.
    shared = _stored_copy(f"captions/{uuid.uuid4().hex}/same-picture.jpg")
    posted = ImageFactory(status=ImageStatus.POSTED, local_path=shared)
    _set(posted, updated_at=NOW - timedelta(days=181))
    pending = ImageFactory(
        status=ImageStatus.PENDING, local_path=shared, platform_connection=posted.platform_connection
    )

    result = policy_run(name="captions.images_posted", now=NOW)

    assert (result.rows, result.files) == (1, 0)
    assert default_storage.exists(shared)
    Image.objects.filter(pk=pending.pk).update(
        status=ImageStatus.POSTED, updated_at=NOW - timedelta(days=181)
    )
    assert policy_run(name="captions.images_posted", now=NOW).files == 1
    assert not default_storage.exists(shared)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_image_delete_keeps_the_stored_copy():
    old = ImageFactory(
        status=ImageStatus.ERROR, local_path=_stored_copy(f"captions/{uuid.uuid4().hex}/e.jpg")
    )
    _set(old, updated_at=NOW - timedelta(days=61))

    with pytest.raises(RuntimeError), transaction.atomic():
        policy_run(name="captions.images_error", now=NOW)
        raise RuntimeError("the surrounding work failed")

    assert Image.objects.filter(pk=old.pk).exists()
    assert default_storage.exists(old.local_path)
