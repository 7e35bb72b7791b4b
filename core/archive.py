"""Archival policies and the batch loop they share (`manage.py archive`).

A policy moves rows that have aged out of the live working set: completed workflows to
`archived` (workflows/archive.py) and generated images into their archive table
(generation/archive.py); each app declares its own. For a run, a policy's `batches(cutoff)` gives
the run's step: it moves at most one batch in one short transaction and returns how many rows it
moved; `batches_run` calls it until a batch comes back short, so a run stops by itself and a
re-run after a failure simply continues. A step may remember where its run got to (the generated
images continue their index where the previous batch stopped), so each run asks for a new one.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.declarations import app_declarations, refuse_duplicate_names

MAX_BATCH_SIZE = 50_000
# Smaller than cleanup's 5000: an archived image is a delete plus an insert into a table with five
# indexes, and at a million rows the batches that follow a checkpoint wrote full-page images of
# every index page they touched. 5000 rows then took up to 460 ms holding their locks; 2000 stays
# under 200 ms for the same total time (docs/performance.md, `archive`).
DEFAULT_BATCH_SIZE = 2_000
DEFAULT_OLDER_THAN_DAYS = 90


@dataclass
class BatchRun:
    """What one policy did: rows moved, batches run, total and worst-batch wall time."""

    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    worst_batch_seconds: float = 0.0


@dataclass(frozen=True)
class ArchivePolicy:
    """`count(cutoff)` says how many rows are due (for --dry-run and the progress bar);
    `batches(cutoff)` is one run's step: `step(batch_size)` moves one batch and returns its row
    count."""

    name: str
    description: str
    count: Callable[[datetime], int]
    batches: Callable[[datetime], Callable[[int], int]]


def batches_run(
    *,
    step: Callable[[int], int],
    batch_size: int,
    on_batch: Callable[[BatchRun], None] | None = None,
) -> BatchRun:
    """Run `step(batch_size)` until it moves fewer than `batch_size` rows."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    run = BatchRun()
    started = time.monotonic()
    while True:
        batch_started = time.monotonic()
        moved = step(batch_size)
        elapsed = time.monotonic() - batch_started
        run.worst_batch_seconds = max(run.worst_batch_seconds, elapsed)
        if moved:
            run.rows += moved
            run.batches += 1
        run.seconds = time.monotonic() - started
        if on_batch is not None and moved:
            on_batch(run)
        if moved < batch_size:
            return run


def archive_policies() -> list[ArchivePolicy]:
    """Every archival policy, in app order: each app declares its own in `<app>/archive.py` as
    `POLICIES = [ArchivePolicy(...)]` (found like `<app>/retention.py`)."""
    found = app_declarations(module="archive", attribute="POLICIES")
    return refuse_duplicate_names(found, kind="Archive policies")
