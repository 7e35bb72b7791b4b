import operator

OPS = {">=": operator.ge, "<=": operator.le}


def bench_line(
    *, name: str, ours: float, baseline: float, unit: str, ratio: float, op: str, target: float
) -> str:
    verdict = "ok" if OPS[op](ratio, target) else "MISS"
    return (
        f"BENCH {name} ours={ours:.2f}{unit} baseline={baseline:.2f}{unit} ratio={ratio:.2f} "
        f"target={op}{target:g} {verdict}"
    )
