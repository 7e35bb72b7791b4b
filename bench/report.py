"""The one line format every benchmark prints, the results table the run ends with, and the small
statistics they share."""

import datetime
import operator
import os
import statistics
import time
from dataclasses import dataclass

OPS = {">=": operator.ge, "<=": operator.le}
SCALES = ("small", "full")
# The size the running benchmarks were asked for (`python -m bench --scale`); see `holds_at`.
scale = "full"


@dataclass(frozen=True)
class Result:
    name: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    op: str
    target: float
    note: str = ""
    holds_at: str | None = None
    scale: str = "full"

    @property
    def ok(self) -> bool:
        return OPS[self.op](self.ratio, self.target)

    @property
    def verdict(self) -> str:
        """`ok`, `MISS`, or `n/a`: a target set for another size than this run's, missed here."""
        if self.ok:
            return "ok"
        if self.holds_at is not None and self.holds_at != self.scale:
            return "n/a"
        return "MISS"

    def line(self) -> str:
        return (
            f"BENCH {self.name} ours={self.ours:.2f}{self.unit} baseline={self.baseline:.2f}{self.unit} "
            f"ratio={self.ratio:.2f} target={self.op}{self.target:g} {self.verdict}"
        )


# Every result emitted in this process, in order, for the table printed at the end of the run.
RESULTS: list[Result] = []


def emit(
    *,
    name: str,
    ours: float,
    baseline: float,
    unit: str,
    ratio: float,
    op: str,
    target: float,
    note: str = "",
    holds_at: str | None = None,
) -> Result:
    """Print one BENCH line and keep it for the closing table. `note` says, in a few words, what
    was compared (it goes in the table, not on the line).

    `holds_at="full"`: the target is set for the full size only, because a fixed cost that the full
    size dilutes (a scan, starting a cluster) weighs on the small one; a small run that misses it
    prints `n/a` instead of `MISS`, and the note must say why."""
    if holds_at is not None and holds_at not in SCALES:
        raise ValueError(f"holds_at must be one of {SCALES}, not {holds_at!r}")
    result = Result(name, ours, baseline, unit, ratio, op, target, note, holds_at, scale)
    RESULTS.append(result)
    print(result.line(), flush=True)
    return result


def emit_budget(
    *, name: str, ours: float, budget: float, unit: str, note: str = "", holds_at: str | None = None
) -> Result:
    """A measurement against a fixed budget rather than a measured baseline (e.g. worst batch).

    Printed in the same shape so one parser reads every line: `baseline` is the budget, `ratio`
    is ours / budget and the target is `<=1`.
    """
    return emit(
        name=name,
        ours=ours,
        baseline=budget,
        unit=unit,
        ratio=ours / budget,
        op="<=",
        target=1,
        note=note,
        holds_at=holds_at,
    )


def python_speed_ms(*, rounds: int = 5) -> float:
    """Milliseconds a fixed pure-Python loop takes, best of `rounds`: how fast this machine runs
    interpreted code right now. A line held to a fixed floor (`workflow_engine`, against the AI's
    latency) moves with it; the same machine ran ~2x slower on one day than the day before
    (docs/performance.md). Lower is faster."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for number in range(300_000):
            total += number * number % 7
        best = min(best, time.perf_counter() - started)
    return best * 1000


def machine_description(connection, *, python_ms: tuple[float, float] | None = None) -> str:
    """Cores, load, PostgreSQL version and, when measured, the reference loop's time at the start
    and the end of the run: what a reader needs to compare two tables."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    speed = ""
    if python_ms is not None:
        start, end = python_ms
        speed = f", reference Python loop {start:.0f} ms at the start and {end:.0f} ms at the end"
    return f"{os.cpu_count()} cores (load average {load} at the end){speed}, PostgreSQL {version}"


def results_table(*, scale: str, machine: str, results: list[Result] | None = None) -> str:
    """The markdown table docs/performance.md keeps, headed by the machine and the date."""
    rows = [
        f"Scale `{scale}`, {datetime.date.today().isoformat()}, {machine}.",
        "",
        "| benchmark | ours | baseline | ratio | target | result | compared |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in RESULTS if results is None else results:
        rows.append(
            f"| `{result.name}` | {result.ours:.2f} {result.unit} | {result.baseline:.2f} {result.unit} "
            f"| {result.ratio:.2f} | {result.op} {result.target:g} | {_verdict_cell(result)} "
            f"| {result.note} |"
        )
    return "\n".join(rows)


def _verdict_cell(result: Result) -> str:
    if result.verdict == "n/a":
        return f"n/a (target for `{result.holds_at}`)"
    return "ok" if result.ok else "**MISS**"


def spread(seconds: list[float]) -> str:
    """`best/median/worst` of a list of timings, in seconds, for the comment lines."""
    return f"{min(seconds):.2f}/{statistics.median(seconds):.2f}/{max(seconds):.2f} s"
