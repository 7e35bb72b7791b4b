"""The retention registry: what `manage.py cleanup` removes, declared by each app.

An app lists its policies in `<app>/retention.py` as `POLICIES = [RetentionPolicy(...)]` (found like
`<app>/schedules.py`); `register()` adds one at run time. A policy either names the rows to remove
(`rows(now=..., age=...) -> QuerySet`) or, for work that is not a plain delete, brings its own
`run(*, batch_size, dry_run, now, progress) -> int`.

Deletes are set-based and batched over the primary key. Each batch takes the next `batch_size`
rows of the table after the last key seen, matching or not, and deletes those of them that match,
in its own short transaction. With integer keys the range is the next `batch_size` key values
(unique keys: at most that many rows), read from nowhere; after a batch that removed less than
half of that, and with other keys, the range's upper key is read from the primary-key index alone.
Without files to delete or a step before the delete, each DELETE runs in autocommit, and on
PostgreSQL commits without waiting for its WAL flush (core.commits). So
every row is read once, by the DELETE that tests the policy's filter at the moment it deletes (a
session refreshed since the run began is left alone), the index is walked once however sparse the
matches are, and a batch removes at most `batch_size` rows. Reading the next `batch_size`
*matching* keys first instead reads every row twice (a SELECT tests the filter, then the DELETE
again), which is measurably slower (docs/performance.md, `cleanup`). Nothing is loaded as a model
instance:

- when Django's collector can fast-delete (no cascades, no signal receivers) the batch is one
  `DELETE ... WHERE pk > ... AND pk <= ... AND <policy filter>` through `_raw_delete`;
- a policy whose filter or `before_delete` step guarantees there is nothing to cascade to
  (`raw=True`: posts without images, tasks after their runs are unlinked) takes the same path,
  unless a delete receiver is connected, because `_raw_delete` would skip it silently;
- anything else falls back to `QuerySet.delete()`, slower but never wrong.

Stored files. A policy whose rows name stored files says which (`files`: the batch's rows, locked
with SELECT ... FOR UPDATE, to the names they hold, e.g. `values_list("local_path", flat=True)`);
they are read in the batch's transaction before its delete, and, for content-addressed files two
rows can share, `files_in_use` drops the names rows outside the batch still hold. The rest are
deleted through the storage API once the batch commits (core.stored_files: a file already gone
counts as deleted, a storage failure is logged and counted, never raised). No delete signal is
involved, so the batch stays one set-based DELETE. A policy whose setting is unset (None) is off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import IntegerField, Max, Min, QuerySet, signals
from django.db.models.deletion import Collector
from django.utils import timezone

from core.commits import commits_without_flush_wait
from core.declarations import app_declarations, refuse_duplicate_names
from core.stored_files import FileTally, stored_files_delete_on_commit

DEFAULT_BATCH_SIZE = 5000

Progress = Callable[[int], None]  # called after each batch with the rows removed so far


@dataclass(frozen=True)
class RetentionPolicy:
    name: str
    description: str
    # Builds the queryset of rows to remove: rows(now=datetime, age=<setting value or None>).
    rows: Callable[..., QuerySet] | None = None
    # For non-delete policies: run(*, batch_size, dry_run, now, progress) -> rows affected.
    run: Callable[..., int] | None = None
    # The setting holding the age (days) or limit, and its default when the setting is absent.
    setting: str | None = None
    default: int | None = None
    # A set-based step run inside each batch's transaction before the delete, given the batch's
    # queryset (e.g. clearing SET_NULL references so the delete needs no collector).
    before_delete: Callable[[QuerySet], None] | None = None
    # The filter (with before_delete) leaves nothing for Django to cascade to: delete raw.
    raw: bool = False
    # The stored files the batch's rows name, given the batch locked FOR UPDATE (see the module
    # docstring); deleted after the batch commits.
    files: Callable[[QuerySet], Iterable[str]] | None = None
    # Of those names, the ones rows outside the batch still hold (after its delete): kept.
    files_in_use: Callable[[set[str]], Iterable[str]] | None = None

    def __post_init__(self):
        if (self.rows is None) == (self.run is None):
            raise ValueError(f"Retention policy {self.name!r} needs exactly one of rows= or run=.")

    def age(self) -> int | None:
        """The configured age or limit of this policy (its setting, else its default)."""
        if self.setting is None:
            return self.default
        return getattr(settings, self.setting, self.default)


@dataclass(frozen=True)
class PolicyResult:
    rows: int
    seconds: float
    # Stored files deleted (or already gone) and those the storage failed to delete; None for a
    # policy without files and for a dry run (files are not counted ahead).
    files: int | None = None
    files_failed: int = 0
    # The policy's setting is unset: it removed nothing.
    off: bool = False


_registered: list[RetentionPolicy] = []


def register(policy: RetentionPolicy) -> RetentionPolicy:
    """Add a policy beside the declared ones (names must stay unique)."""
    if any(existing.name == policy.name for existing in policies()):
        raise ValueError(f"Retention policy {policy.name!r} is already registered.")
    _registered.append(policy)
    return policy


def unregister(name: str) -> None:
    """Remove a policy added with `register()` (tests)."""
    _registered[:] = [policy for policy in _registered if policy.name != name]


def policies() -> list[RetentionPolicy]:
    """Every policy, in app order then registration order."""
    found = app_declarations(module="retention", attribute="POLICIES") + _registered
    return refuse_duplicate_names(found, kind="Retention policies")


def policy_get(*, name: str) -> RetentionPolicy:
    for policy in policies():
        if policy.name == name:
            return policy
    raise ValidationError({"name": f"Unknown retention policy {name!r}."})


def policy_run(
    *,
    name: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> PolicyResult:
    """Apply one policy. With dry_run, count the rows it would remove and change nothing.

    `files` counts the stored files deleted as each batch committed; called inside an outer
    transaction (a test's, say), the files go when that one commits, after this returns."""
    if batch_size < 1:
        raise ValidationError({"batch_size": "Must be at least 1."})
    policy = policy_get(name=name)
    now = now or timezone.now()
    started = time.monotonic()
    if policy.run is not None:
        rows = policy.run(batch_size=batch_size, dry_run=dry_run, now=now, progress=progress)
        return PolicyResult(rows=rows, seconds=time.monotonic() - started)
    age = policy.age()
    if policy.setting is not None and age is None:
        return PolicyResult(rows=0, seconds=0.0, off=True)
    tally = FileTally() if policy.files is not None and not dry_run else None
    rows = rows_delete(
        policy.rows(now=now, age=age),
        batch_size=batch_size,
        dry_run=dry_run,
        before_delete=policy.before_delete,
        raw=policy.raw,
        progress=progress,
        files=policy.files,
        files_in_use=policy.files_in_use,
        file_tally=tally,
    )
    return PolicyResult(
        rows=rows,
        seconds=time.monotonic() - started,
        files=tally.deleted if tally is not None else None,
        files_failed=tally.failed if tally is not None else 0,
    )


def rows_delete(
    queryset: QuerySet,
    *,
    batch_size: int,
    dry_run: bool = False,
    before_delete: Callable[[QuerySet], None] | None = None,
    raw: bool = False,
    progress: Progress | None = None,
    files: Callable[[QuerySet], Iterable[str]] | None = None,
    files_in_use: Callable[[set[str]], Iterable[str]] | None = None,
    file_tally: FileTally | None = None,
) -> int:
    """Delete the queryset's rows in primary-key batches (see the module docstring); the stored
    files `files` names go after each batch commits, counted in `file_tally`."""
    queryset = queryset.order_by()
    if dry_run:
        return queryset.count()
    model = queryset.model
    using = queryset.db
    total = 0
    last = None
    table = model._base_manager.using(using)
    keys = table.order_by("pk").values_list("pk", flat=True)
    # Integer keys are unique, so the next batch_size key values hold at most batch_size rows: the
    # range needs no read of the index to find its upper key, which cost a quarter of the DELETE
    # (docs/performance.md, `cleanup`). After a batch that removed under half of that, the keys
    # ahead may be sparse (or mostly kept): the next range is then found in the index as below,
    # so a stretch of few rows is crossed in one batch rather than many nearly empty ones.
    top = None
    if isinstance(model._meta.pk, IntegerField):
        ends = table.aggregate(first=Min("pk"), top=Max("pk"))
        if ends["top"] is None:
            return 0
        last, top = ends["first"] - 1, ends["top"]
    # A batch that reads file names or runs a step before its delete needs them in the delete's
    # transaction. Otherwise the bound is only a key (the DELETE tests the filter itself) and the
    # DELETE is one statement, or Django's collector with its own transaction: in autocommit each
    # is its own short transaction, without a BEGIN and a COMMIT of its own to wait for.
    together = files is not None or before_delete is not None
    removed = batch_size
    # Not waiting for each batch's WAL flush (core.commits): a crash may forget the last deletes,
    # still due on the next run. Each batch's commit otherwise waits for a disk flush, which on a
    # busy disk cost more than the DELETE itself (docs/performance.md, `cleanup`). Not when the
    # batches delete stored files: a forgotten delete would leave rows naming removed files.
    with commits_without_flush_wait(using=using, enabled=files is None):
        while True:
            with transaction.atomic(using=using) if together else nullcontext():
                if top is not None and removed * 2 >= batch_size:
                    # Past the highest key at the start: the last batch takes whatever is left.
                    bound = last + batch_size if last + batch_size < top else None
                else:
                    ahead = keys if last is None else keys.filter(pk__gt=last)
                    bound = next(iter(ahead[batch_size - 1 : batch_size]), None)
                removed = _batch(
                    queryset,
                    last=last,
                    bound=bound,
                    model=model,
                    using=using,
                    raw=raw,
                    before_delete=before_delete,
                    files=files,
                    files_in_use=files_in_use,
                    file_tally=file_tally,
                )
            total += removed
            if progress is not None and removed:
                progress(total)
            if bound is None:
                return total
            last = bound


def _batch(
    queryset: QuerySet,
    *,
    last,
    bound,
    model,
    using: str,
    raw: bool,
    before_delete,
    files,
    files_in_use,
    file_tally,
) -> int:
    """Delete the matching rows with keys after `last` up to `bound` (None: all of them)."""
    batch = queryset if last is None else queryset.filter(pk__gt=last)
    if bound is not None:
        batch = batch.filter(pk__lte=bound)
    # Read (and lock) the names first: once the rows are gone nothing says which files
    # were theirs. The lock keeps a row from changing before the DELETE tests it again.
    names = set() if files is None else {n for n in files(batch.select_for_update(of=("self",))) if n}
    if before_delete is not None:
        before_delete(batch)
    removed = _batch_delete(batch, model=model, using=using, raw=raw)
    if names and files_in_use is not None:
        names -= set(files_in_use(names))
    if names:
        stored_files_delete_on_commit(names=names, tally=file_tally, using=using)
    return removed


def _batch_delete(batch: QuerySet, *, model, using: str, raw: bool) -> int:
    if Collector(using=using, origin=None).can_fast_delete(batch):
        return batch._raw_delete(using)
    listened = signals.pre_delete.has_listeners(model) or signals.post_delete.has_listeners(model)
    if raw and not listened:
        return batch._raw_delete(using)
    _deleted, per_model = batch.delete()
    return per_model.get(model._meta.label, 0)


# --- core's own policies ----------------------------------------------------------------------


def _q_success_run(*, batch_size: int, dry_run: bool, now: datetime, progress: Progress | None = None) -> int:
    """Keep the newest RETENTION_Q_SUCCESS_KEEP django-q2 success records, delete the rest."""
    from django.db.models import Q
    from django_q.models import Success

    keep = max(int(_Q_SUCCESS.age() or 0), 0)
    newest = Success.objects.order_by("-stopped", "-pk").values_list("stopped", "pk")
    boundary = next(iter(newest[keep - 1 : keep]), None) if keep else None
    if keep and boundary is None:
        return 0  # fewer records than the limit
    older = Success.objects.all()
    if boundary is not None:
        stopped, pk = boundary
        older = older.filter(Q(stopped__lt=stopped) | Q(stopped=stopped, pk__lt=pk))
    return rows_delete(older, batch_size=batch_size, dry_run=dry_run, progress=progress)


_Q_SUCCESS = RetentionPolicy(
    name="core.q_success",
    description="django-q2 success records beyond the newest RETENTION_Q_SUCCESS_KEEP",
    run=_q_success_run,
    setting="RETENTION_Q_SUCCESS_KEEP",
    default=1000,
)

POLICIES = [_Q_SUCCESS]
