"""The benchmark line format is a contract (tools parse it), so it is pinned here; the timings
themselves are never asserted in tests."""

import re

import pytest

from bench import report

LINE = re.compile(
    r"^BENCH (?P<name>\w+) ours=(?P<ours>[\d.]+)(?P<unit>\S*) baseline=(?P<baseline>[\d.]+)(?P=unit) "
    r"ratio=(?P<ratio>[\d.]+) target=(?P<op><=|>=)(?P<target>[\d.]+) (?P<verdict>ok|MISS|n/a)$"
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


@pytest.mark.parametrize(
    ("scale", "ratio", "verdict"),
    [("small", 6.5, "n/a"), ("small", 7.5, "ok"), ("full", 6.5, "MISS"), ("full", 7.5, "ok")],
)
def test_a_target_for_the_full_size_is_not_applicable_to_a_small_run_that_misses_it(
    capsys, monkeypatch, scale, ratio, verdict
):
    monkeypatch.setattr(report, "scale", scale)

    report.emit(
        name="caption_pipeline_8",
        ours=1,
        baseline=1,
        unit="img/s",
        ratio=ratio,
        op=">=",
        target=7.2,
        holds_at="full",
    )

    assert LINE.match(capsys.readouterr().out.strip())["verdict"] == verdict
    row = report.results_table(scale=scale, machine="m").splitlines()[4]
    assert row.split(" | ")[5] == {"n/a": "n/a (target for `full`)", "ok": "ok", "MISS": "**MISS**"}[verdict]


def test_a_line_without_holds_at_misses_at_any_size(capsys, monkeypatch):
    monkeypatch.setattr(report, "scale", "small")

    report.emit(name="x", ours=1, baseline=1, unit="s", ratio=0.4, op=">=", target=0.5)

    assert capsys.readouterr().out.strip().endswith(" MISS")


def test_holds_at_names_a_known_size():
    with pytest.raises(ValueError, match="holds_at"):
        report.emit(name="x", ours=1, baseline=1, unit="s", ratio=1, op=">=", target=1, holds_at="huge")


@pytest.mark.django_db
@pytest.mark.postgres  # the server's version comes from `SHOW server_version`
def test_the_machine_is_described_with_the_reference_loop_when_measured():
    from django.db import connection

    described = report.machine_description(connection, python_ms=(41.6, 58.2))
    assert "reference Python loop 42 ms at the start and 58 ms at the end" in described
    assert "reference Python loop" not in report.machine_description(connection)
