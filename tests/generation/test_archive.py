from datetime import timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from core.archive import batches_run
from generation.models import GeneratedImage, GeneratedImageArchive
from generation.services import archive
from generation.services.archive import (
    ArchiveMismatchError,
    GeneratedImagesArchiveRun,
    generated_image_archive_columns,
    generated_images_archivable_count,
    generated_images_archive_batch,
)
from tests.factories.generation import GeneratedImageArchiveFactory, GeneratedImageFactory

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL moves a batch in one statement"
)


def image(*, age_days: float, **fields) -> GeneratedImage:
    return GeneratedImageFactory(created_at=timezone.now() - timedelta(days=age_days), **fields)


def columns(row) -> dict:
    values = {field.attname: getattr(row, field.attname) for field in GeneratedImage._meta.concrete_fields}
    return values


def cutoff(days: int = 90):
    return timezone.now() - timedelta(days=days)


def assert_each_row_in_exactly_one_table(ids):
    live = set(GeneratedImage.objects.filter(pk__in=ids).values_list("pk", flat=True))
    archived = set(GeneratedImageArchive.objects.filter(pk__in=ids).values_list("pk", flat=True))
    assert live.isdisjoint(archived)
    assert live | archived == set(ids)
    return live, archived


def test_old_images_move_with_their_ids_and_columns_and_new_ones_stay():
    old = [
        image(age_days=91, metadata={"safety": ["ok"], "n": 1}, workflow_id="wf-1"),
        image(age_days=400, prompt=None, seed=None, fingerprint_log_record_id="fp-9"),
    ]
    new = image(age_days=89)
    expected = {row.pk: columns(row) for row in old}
    stamp = timezone.now()

    assert generated_images_archivable_count(older_than=cutoff()) == 2
    assert generated_images_archive_batch(older_than=cutoff(), batch_size=10, now=stamp) == 2

    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [new.pk]
    archived = {row.pk: row for row in GeneratedImageArchive.objects.all()}
    assert set(archived) == set(expected)
    for pk, values in expected.items():
        assert columns(archived[pk]) == values
        assert archived[pk].archived_at == stamp


def test_batches_take_the_oldest_images_and_stop_when_none_are_left():
    # Ages out of step with the ids, so the order followed is visibly the age's.
    rows = [image(age_days=days) for days in (100, 104, 102, 101, 103)]
    oldest_first = [row.pk for row in sorted(rows, key=lambda row: row.created_at)]

    assert generated_images_archive_batch(older_than=cutoff(), batch_size=2) == 2
    assert set(GeneratedImageArchive.objects.values_list("pk", flat=True)) == set(oldest_first[:2])

    run = batches_run(
        step=lambda size: generated_images_archive_batch(older_than=cutoff(), batch_size=size),
        batch_size=2,
    )
    assert (run.rows, run.batches) == (3, 2)
    assert not GeneratedImage.objects.exists()
    assert set(GeneratedImageArchive.objects.values_list("pk", flat=True)) == set(oldest_first)


def test_a_run_moves_every_due_image_when_a_batch_ends_inside_a_run_of_equal_ages():
    moment = timezone.now() - timedelta(days=100)
    tied = [GeneratedImageFactory(created_at=moment) for _ in range(5)]
    older = image(age_days=120)
    kept = image(age_days=10)

    run = batches_run(step=GeneratedImagesArchiveRun(older_than=cutoff()), batch_size=2)

    assert (run.rows, run.batches) == (6, 3)
    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [kept.pk]
    archived = set(GeneratedImageArchive.objects.values_list("pk", flat=True))
    assert archived == {older.pk, *(row.pk for row in tied)}


@pytest.mark.postgres
def test_postgres_a_run_continues_where_its_last_batch_stopped():
    """An image created behind the run's position while it goes on is the next run's: the run does
    not start its index again from the beginning (past every row it already moved)."""
    first = [image(age_days=days) for days in (130, 120)]
    later = [image(age_days=days) for days in (110, 100)]
    step = GeneratedImagesArchiveRun(older_than=cutoff())

    assert step(2) == 2
    assert step.after == max(row.created_at for row in first)
    backdated = image(age_days=200)
    assert step(2) == 2
    assert step(2) == 0

    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [backdated.pk]
    assert set(GeneratedImageArchive.objects.values_list("pk", flat=True)) == {
        row.pk for row in first + later
    }
    assert batches_run(step=GeneratedImagesArchiveRun(older_than=cutoff()), batch_size=2).rows == 1
    assert not GeneratedImage.objects.exists()


@sqlite_only
def test_sqlite_a_run_starts_each_batch_from_the_oldest_image():
    image(age_days=120)
    step = GeneratedImagesArchiveRun(older_than=cutoff())
    assert step(1) == 1
    backdated = image(age_days=200)
    assert step(5) == 1
    assert step.after is None
    assert GeneratedImageArchive.objects.filter(pk=backdated.pk).exists()


def test_nothing_due_moves_nothing():
    kept = image(age_days=10)
    assert generated_images_archive_batch(older_than=cutoff(), batch_size=5) == 0
    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not GeneratedImageArchive.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_second_batch_leaves_every_row_in_one_table_and_a_rerun_continues():
    rows = [image(age_days=100) for _ in range(4)]
    ids = sorted(row.pk for row in rows)
    third = GeneratedImage.objects.get(pk=ids[2])
    before = {row.pk: columns(row) for row in GeneratedImage.objects.all()}
    # An archived row already holding the third image's media id: the second batch's INSERT
    # violates the archive's unique constraint, on both databases.
    blocker = GeneratedImageArchiveFactory(media_generation_id=third.media_generation_id)

    with pytest.raises(IntegrityError):
        batches_run(
            step=lambda size: generated_images_archive_batch(older_than=cutoff(), batch_size=size),
            batch_size=2,
        )

    live, archived = assert_each_row_in_exactly_one_table(ids)
    assert archived == set(ids[:2])
    assert live == set(ids[2:])

    blocker.delete()
    run = batches_run(
        step=lambda size: generated_images_archive_batch(older_than=cutoff(), batch_size=size),
        batch_size=2,
    )
    assert run.rows == 2
    _, archived = assert_each_row_in_exactly_one_table(ids)
    assert archived == set(ids)
    assert {row.pk: columns(row) for row in GeneratedImageArchive.objects.all()} == before


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_failed_delete_rolls_back_the_copy():
    ids = [image(age_days=100).pk for _ in range(3)]

    with (
        mock.patch.object(archive, "_delete_batch", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError, match="disk full"),
    ):
        generated_images_archive_batch(older_than=cutoff(), batch_size=2)

    live, archived = assert_each_row_in_exactly_one_table(ids)
    assert live == set(ids)
    assert archived == set()


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_delete_that_removes_a_different_count_is_rolled_back():
    ids = [image(age_days=100).pk for _ in range(3)]

    with (
        mock.patch.object(archive, "_delete_batch", return_value=1),
        pytest.raises(ArchiveMismatchError),
    ):
        generated_images_archive_batch(older_than=cutoff(), batch_size=2)

    assert GeneratedImage.objects.count() == 3
    assert not GeneratedImageArchive.objects.exists()
    assert_each_row_in_exactly_one_table(ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_skips_rows_locked_by_another_run():
    from django.db import connections

    ids = sorted(image(age_days=100).pk for _ in range(3))
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM generated_images WHERE id = %s FOR UPDATE", [ids[0]])

        # Waiting on the lock instead of skipping it would fail here rather than hang.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        assert generated_images_archive_batch(older_than=cutoff(), batch_size=10) == 2
        assert set(GeneratedImageArchive.objects.values_list("pk", flat=True)) == set(ids[1:])
    finally:
        other.rollback()
        other.close()
    assert generated_images_archive_batch(older_than=cutoff(), batch_size=10) == 1
    assert_each_row_in_exactly_one_table(ids)


def test_the_archive_shares_every_live_column():
    assert generated_image_archive_columns() == [
        field.column for field in GeneratedImage._meta.concrete_fields
    ]
    assert "archived_at" not in generated_image_archive_columns()


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError):
        generated_images_archive_batch(older_than=cutoff(), batch_size=0)
