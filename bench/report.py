"""The one line format every benchmark prints, and the small statistics they share."""

import operator
import statistics

OPS = {">=": operator.ge, "<=": operator.le}


def bench_line(
    *, name: str, ours: float, baseline: float, unit: str, ratio: float, op: str, target: float
) -> str:
    verdict = "ok" if OPS[op](ratio, target) else "MISS"
    return (
        f"BENCH {name} ours={ours:.2f}{unit} baseline={baseline:.2f}{unit} ratio={ratio:.2f} "
        f"target={op}{target:g} {verdict}"
    )


def budget_line(*, name: str, ours: float, budget: float, unit: str) -> str:
    """A measurement against a fixed budget rather than a measured baseline (e.g. worst batch).

    Printed in the same shape so one parser reads every line: `baseline` is the budget, `ratio`
    is ours / budget and the target is `<=1`.
    """
    return bench_line(
        name=name, ours=ours, baseline=budget, unit=unit, ratio=ours / budget, op="<=", target=1
    )


def spread(seconds: list[float]) -> str:
    """`best/median/worst` of a list of timings, in seconds, for the comment lines."""
    return f"{min(seconds):.2f}/{statistics.median(seconds):.2f}/{max(seconds):.2f} s"
