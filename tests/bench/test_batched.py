"""The batched-maintenance lines (cleanup, archive) compare each round's two back-to-back runs;
no timing is measured here, the rule is applied to given numbers."""

import pytest

from bench import report
from bench.batched import Timings, paired, print_results


@pytest.fixture(autouse=True)
def _fresh_results(monkeypatch):
    monkeypatch.setattr(report, "RESULTS", [])


def test_the_line_is_the_median_of_each_rounds_pair_not_the_two_best_runs(capsys):
    # Ours is 1.1x its neighbour in three rounds; the baseline's best run (0.5 s) came in a minute
    # of its own. Best against best would read 1.1 / 0.5 = 2.2, a MISS of a 1.2 target.
    timings = Timings(ours=[1.1, 2.2, 3.3, 4.4], baseline=[1.0, 2.0, 3.0, 0.5], worst=[0.01] * 4)

    assert paired(timings) == pytest.approx([1.1, 1.1, 1.1, 8.8])
    print_results(name="archive", timings=timings, note="test", target=1.2)

    archive, worst = report.RESULTS
    assert archive.ratio == pytest.approx(1.1)
    assert (archive.ours, archive.baseline) == (pytest.approx(2.75), pytest.approx(1.5))
    assert "ratio=1.10 target=<=1.2 ok" in capsys.readouterr().out
    assert worst.name == "archive_worst_batch"
