"""Moving old generated images into `generated_images_archive` (`manage.py archive`).

Each batch is atomic, so a row is in exactly one of the two tables at every moment, and a run
that fails part-way can simply be run again: it continues with the rows still in the live table.

- PostgreSQL: one statement per batch. The CTE picks the oldest images past the cutoff with
  `FOR UPDATE SKIP LOCKED` (two concurrent runs take different rows instead of waiting on each
  other), deletes them with `RETURNING`, and the INSERT writes what was returned.
- SQLite: INSERT ... SELECT then DELETE inside one transaction, both selecting the same batch by
  the same subquery. The INSERT takes SQLite's single write lock (the project's connections even
  begin IMMEDIATE), and it does not change the live table, so the DELETE sees the same rows. The
  two row counts are compared anyway and a mismatch rolls the batch back.

Columns are listed by name from the models' concrete fields (the tables share them through
`generation.models.generated_image_columns`), never `SELECT *`: column order in a database can
drift from the models, and the archive has `archived_at` on top.

Batches walk the `created_at` index, oldest first, rather than the primary key: on the primary
key the images still inside the window whose ids are lower than the ones moved (imported or
back-dated rows) would be read again by every batch, where the `created_at` index holds them after
the cutoff, out of the way. Within a run each batch starts where the previous one stopped
(`GeneratedImagesArchiveRun`), past the dead index entries of the rows already moved (the
measurements: docs/performance.md, `archive`).
"""

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from generation.models import GeneratedImage, GeneratedImageArchive


class ArchiveMismatchError(RuntimeError):
    """A batch copied a different number of rows than it deleted; it was rolled back."""


def generated_images_archivable_count(*, older_than: datetime) -> int:
    """How many generated images were created before `older_than`."""
    return GeneratedImage.objects.filter(created_at__lt=older_than).count()


def generated_image_archive_columns() -> list[str]:
    """The live table's columns, checked to exist in the archive too (plus its `archived_at`)."""
    live = [field.column for field in GeneratedImage._meta.concrete_fields]
    archive = {field.column for field in GeneratedImageArchive._meta.concrete_fields}
    if archive != {*live, "archived_at"}:
        raise RuntimeError(
            "generated_images and generated_images_archive no longer share their columns: "
            f"live only {sorted(set(live) - archive)}, "
            f"archive only {sorted(archive - set(live) - {'archived_at'})}"
        )
    return live


def generated_images_archive_batch(
    *, older_than: datetime, batch_size: int, now: datetime | None = None
) -> int:
    """Move up to `batch_size` images created before `older_than`, oldest first.

    Returns how many were moved; fewer than `batch_size` means none are left (or the rest are
    locked by a concurrent run on PostgreSQL). `archived_at` is `now` (default: the current time).
    """
    return _batch_move(older_than=older_than, batch_size=batch_size, now=now, after=None)[0]


class GeneratedImagesArchiveRun:
    """One run's step (`core.archive.batches_run`): each batch continues the `created_at` index
    where the previous one stopped instead of starting again from its beginning.

    On PostgreSQL the moved rows stay in the index as dead entries until a vacuum, and a batch
    that starts from the beginning steps over all of them: at a million rows the later batches
    spent several milliseconds each just reaching their first live row. An image created before
    the position while the run goes on (a back-dated import), or one a concurrent run held
    locked, is left for the next run. SQLite removes index entries at once and starts from the
    beginning each time."""

    def __init__(self, *, older_than: datetime, now: datetime | None = None):
        self.older_than = older_than
        self.now = now
        self.after: datetime | None = None  # the newest `created_at` moved so far

    def __call__(self, batch_size: int) -> int:
        moved, newest = _batch_move(
            older_than=self.older_than, batch_size=batch_size, now=self.now, after=self.after
        )
        if newest is not None:
            self.after = newest
        return moved


def _batch_move(
    *, older_than: datetime, batch_size: int, now: datetime | None, after: datetime | None
) -> tuple[int, datetime | None]:
    """(rows moved, the newest `created_at` among them on PostgreSQL, else None)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    quote = connection.ops.quote_name
    columns = generated_image_archive_columns()
    column_list = ", ".join(quote(column) for column in columns)
    live = quote(GeneratedImage._meta.db_table)
    archive = quote(GeneratedImageArchive._meta.db_table)
    pk = quote(GeneratedImage._meta.pk.column)
    created = quote(GeneratedImage._meta.get_field("created_at").column)
    archived_at = quote(GeneratedImageArchive._meta.get_field("archived_at").column)
    cutoff = connection.ops.adapt_datetimefield_value(older_than)
    stamp = connection.ops.adapt_datetimefield_value(now or timezone.now())

    if connection.vendor == "postgresql":
        # One statement is one transaction by itself: outside a transaction it runs in autocommit,
        # without a BEGIN and a COMMIT of its own to wait for, and commits without waiting for its
        # WAL flush (set_config(..., true) lasts for this statement's transaction only). A
        # database crash may then forget the last batches whole, delete and insert together: those
        # images are still in the live table and the next run moves them. Inside a caller's
        # transaction the setting would reach the caller's other writes, so it is left alone.
        # The INSERT runs to completion although the final SELECT does not read it (PostgreSQL
        # runs every data-modifying WITH), which counts the moved rows and finds the newest.
        autocommit = not connection.in_atomic_block
        async_commit = ", (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
        since = f"AND {created} >= %s " if after is not None else ""
        sql = (
            f"WITH batch AS (SELECT {pk} FROM {live} WHERE {created} < %s {since}"  # noqa: S608
            f"ORDER BY {created} LIMIT %s FOR UPDATE SKIP LOCKED), "
            f"moved AS (DELETE FROM {live} WHERE {pk} IN (SELECT {pk} FROM batch) "
            f"RETURNING {column_list}), "
            f"archived AS (INSERT INTO {archive} ({column_list}, {archived_at}) "
            f"SELECT {column_list}, %s FROM moved) "
            f"SELECT count(*), max({created}) FROM moved{async_commit if autocommit else ''}"
        )
        params = [cutoff, *([connection.ops.adapt_datetimefield_value(after)] if since else []), batch_size]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, stamp])
            moved, newest = cursor.fetchone()
        return moved, newest

    # The id breaks ties so that the INSERT and the DELETE select the very same rows.
    batch = f"SELECT {pk} FROM {live} WHERE {created} < %s ORDER BY {created}, {pk} LIMIT %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {archive} ({column_list}, {archived_at}) "  # noqa: S608 (names only)
            f"SELECT {column_list}, %s FROM {live} WHERE {pk} IN ({batch})",
            [stamp, cutoff, batch_size],
        )
        copied = cursor.rowcount
        deleted = _delete_batch(
            cursor,
            sql=f"DELETE FROM {live} WHERE {pk} IN ({batch})",  # noqa: S608 (names only)
            params=[cutoff, batch_size],
        )
        if copied != deleted:
            raise ArchiveMismatchError(f"copied {copied} generated images but deleted {deleted}")
    return copied, None


def _delete_batch(cursor, *, sql: str, params: list) -> int:
    # A separate step so tests can make the second half of a batch fail.
    cursor.execute(sql, params)
    return cursor.rowcount
