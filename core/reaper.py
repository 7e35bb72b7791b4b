"""The reaper: one pass over background work of every kind whose worker went silent.

Each app declares how its own work is taken back in `<app>/reapers.py` as
`REAPERS = [Reaper(...)]` (found like `<app>/schedules.py` and `<app>/retention.py`). Every kind
follows the same rule: a row left `running` with no heartbeat for longer than its timeout is
queued again to resume, and once it has used up its runs it is failed with the reason in its
error field. The app's own function decides what "resume" means (a caption scan continues from
its cursor, a workflow step from its checkpoint, a scraping job from its items) and makes each
take-back a conditional UPDATE, so a worker that sends a heartbeat meanwhile keeps its row.

`reap_stale_work()` runs them all, every 5 minutes (core.schedules) or from
`manage.py reap_stale_work`. One reaper raising does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.declarations import app_declarations, refuse_duplicate_names

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reaper:
    name: str
    description: str
    # Takes back the stale rows of one kind; returns how many, or counts by outcome.
    run: Callable[[], int | dict[str, int]]


@dataclass(frozen=True)
class ReaperResult:
    name: str
    counts: dict[str, int]
    error: str | None = None


def reapers() -> list[Reaper]:
    """Every declared reaper, in app order."""
    return refuse_duplicate_names(app_declarations(module="reapers", attribute="REAPERS"), kind="Reapers")


def _counts(outcome: int | dict[str, int]) -> dict[str, int]:
    if isinstance(outcome, dict):
        return {key: int(value) for key, value in outcome.items()}
    return {"taken_back": int(outcome)}


def reap_stale_work() -> list[ReaperResult]:
    """Run every reaper once; a failing one is logged and reported, the rest still run."""
    results = []
    for reaper in reapers():
        try:
            counts = _counts(reaper.run())
        except Exception as exc:
            logger.exception("Reaper %s failed", reaper.name)
            results.append(ReaperResult(name=reaper.name, counts={}, error=type(exc).__name__))
            continue
        results.append(ReaperResult(name=reaper.name, counts=counts))
    touched = {result.name: result.counts for result in results if any(result.counts.values())}
    if touched:
        logger.warning("Reaper took back stale work: %s", touched)
    return results
