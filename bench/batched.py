"""What the batched-maintenance benchmarks (cleanup, archive) share: rounds that alternate the
project's batched path with the single raw statement on reloaded data, and the two lines they print.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.report import emit, emit_budget

WORST_BATCH_BUDGET_MS = 250.0
WARM_UP_ROWS = 20_000


@dataclass
class Timings:
    ours: list[float] = field(default_factory=list)  # seconds per run
    baseline: list[float] = field(default_factory=list)
    worst: list[float] = field(default_factory=list)  # our longest batch per run, seconds


def alternating_rounds(
    *,
    rounds: int,
    reload: Callable[..., None],
    ours: Callable[[], tuple[int, float, float]],
    baseline: Callable[[], tuple[int, float]],
    check: Callable[[str, int], None],
) -> Timings:
    """An untimed warm-up of each side on a slice (the first run pays for imports and query
    compiling), then `rounds` rounds alternating which side goes first (give an even number, so
    each side goes first in half of them), reloading the same data
    before every run. `ours()` returns (rows, seconds, worst batch seconds), `baseline()` (rows,
    seconds); `check(side, rows)` raises when a run did not do the expected work."""
    for side in (ours, baseline):
        reload(limit=WARM_UP_ROWS)
        side()
    timings = Timings()
    for round_number in range(rounds):
        sides = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
        for side in sides:
            reload()
            if side == "ours":
                rows, seconds, worst_batch = ours()
                timings.ours.append(seconds)
                timings.worst.append(worst_batch)
            else:
                rows, seconds = baseline()
                timings.baseline.append(seconds)
            check(side, rows)
    return timings


def paired(timings: Timings) -> list[float]:
    """Each round's ours / baseline: the two runs of a round are back to back."""
    return [ours / baseline for ours, baseline in zip(timings.ours, timings.baseline, strict=True)]


def print_results(*, name: str, timings: Timings, note: str, target: float) -> None:
    """The median of the rounds' paired ratios (the best run of each side until late on
    2026-12-07: on a machine whose speed drifts within a run, two best runs minutes apart compare
    the minutes), then the longest batch (median over the rounds: one round's outlier on a shared
    machine says more about the machine than about the batches)."""
    emit(
        name=name,
        ours=statistics.median(timings.ours),
        baseline=statistics.median(timings.baseline),
        unit="s",
        ratio=statistics.median(paired(timings)),
        op="<=",
        target=target,
        note=f"{note}, median of {len(timings.ours)} rounds, the ratio of each round's pair",
    )
    emit_budget(
        name=f"{name}_worst_batch",
        ours=statistics.median(timings.worst) * 1000,
        budget=WORST_BATCH_BUDGET_MS,
        unit="ms",
        note="longest batch of a run, median over the rounds, against a fixed budget",
    )
