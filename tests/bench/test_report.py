"""The benchmark line format is a contract (tools parse it), so it is pinned here; the timings
themselves are never asserted in tests."""

import re

import pytest

from bench import report

LINE = re.compile(
    r"^BENCH (?P<name>\w+) ours=(?P<ours>[\d.]+)(?P<unit>\S*) baseline=(?P<baseline>[\d.]+)(?P=unit) "
    r"ratio=(?P<ratio>[\d.]+) target=(?P<op><=|>=)(?P<target>[\d.]+) (?P<verdict>ok|MISS)$"
)


@pytest.fixture(autouse=True)
def _fresh_results(monkeypatch):
    monkeypatch.setattr(report, "RESULTS", [])


def test_emit_prints_the_exact_line_and_keeps_the_result(capsys):
    result = report.emit(
        name="api_list", ours=812.456, baseline=1203.2, unit="req/s", ratio=0.675, op=">=", target=0.5
    )

    line = capsys.readouterr().out.strip()
    assert line == ("BENCH api_list ours=812.46req/s baseline=1203.20req/s ratio=0.68 target=>=0.5 ok")
    assert LINE.match(line)
    assert [result] == report.RESULTS


@pytest.mark.parametrize(
    ("op", "ratio", "target", "verdict"),
    [(">=", 0.49, 0.5, "MISS"), (">=", 0.5, 0.5, "ok"), ("<=", 2.6, 2.5, "MISS"), ("<=", 2.5, 2.5, "ok")],
)
def test_the_verdict_follows_the_operator(capsys, op, ratio, target, verdict):
    report.emit(name="x", ours=1, baseline=1, unit="s", ratio=ratio, op=op, target=target)

    assert LINE.match(capsys.readouterr().out.strip())["verdict"] == verdict


def test_a_budget_line_prints_the_budget_as_baseline_and_the_share_as_ratio(capsys):
    report.emit_budget(name="archive_worst_batch", ours=300.0, budget=250.0, unit="ms")

    assert capsys.readouterr().out.strip() == (
        "BENCH archive_worst_batch ours=300.00ms baseline=250.00ms ratio=1.20 target=<=1 MISS"
    )


def test_the_table_has_a_row_per_result_with_the_machine_and_date(capsys):
    report.emit(name="cleanup", ours=1.0, baseline=0.5, unit="s", ratio=2.0, op="<=", target=2.5, note="a")
    report.emit(name="queue_drain", ours=2, baseline=4, unit="tasks/s", ratio=0.5, op=">=", target=0.7)

    table = report.results_table(scale="small", machine="2 cores, PostgreSQL 15.20").splitlines()

    assert "2 cores, PostgreSQL 15.20" in table[0]
    assert re.search(r"\d{4}-\d{2}-\d{2}", table[0])
    assert table[2].startswith("| benchmark |")
    assert table[4] == "| `cleanup` | 1.00 s | 0.50 s | 2.00 | <= 2.5 | ok | a |"
    assert table[5].startswith("| `queue_drain` | 2.00 tasks/s | 4.00 tasks/s | 0.50 | >= 0.7 | **MISS** |")
