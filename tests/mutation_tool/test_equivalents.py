"""Equivalent mutants (tests/mutation/equivalent.toml) and the report's counts."""

import pytest

from tests.mutation import equivalents
from tests.mutation.cli import _warn_stale, summarise

TOML = """
[[equivalent]]
module = "core/retry.py"
line = "if wait > 0:"
mutation = "`>` -> `>=`"
reason = '''sleep(0) waits
  nothing.'''
"""


def result(*mutants):
    return {"module": "core/retry.py", "mutants": list(mutants), "invalid": 0, "seconds": 1}


def mutant(number, status, line_text="if wait > 0:", description="`>` -> `>=`"):
    return {"number": number, "line": 10 + number, "status": status, "line_text": line_text,
            "description": description}  # fmt: skip


@pytest.fixture
def known(tmp_path):
    path = tmp_path / "equivalent.toml"
    path.write_text(TOML)
    entries = equivalents.load(path)
    assert entries[0].reason == "sleep(0) waits nothing."
    return equivalents.index(entries)


def test_a_listed_survivor_is_equivalent_whatever_its_line_number_and_indentation(known):
    summary = summarise(result(mutant(1, "survived", line_text="if  wait > 0:"), mutant(2, "killed")), known)
    assert (summary["mutants"], summary["killed"], summary["equivalent"]) == (2, 1, 1)
    assert summary["unexplained"] == []
    assert summary["score"] == 100.0


def test_an_unlisted_survivor_is_unexplained_and_lowers_the_score(known):
    other = mutant(3, "survived", description="`0` -> `1`")
    summary = summarise(result(other, mutant(4, "killed", line_text="x = 1"), mutant(5, "timeout")), known)
    assert summary["unexplained"] == [other]
    assert summary["killed"] == 2
    assert summary["timeouts"] == 1
    assert summary["score"] == pytest.approx(200 / 3)


def test_a_listed_mutant_that_a_test_kills_counts_as_killed_and_is_reported(known):
    summary = summarise(result(mutant(1, "killed")), known)
    assert (summary["killed"], summary["equivalent"], summary["score"]) == (1, 0, 100.0)
    assert [m["number"] for m in summary["equivalent_killed"]] == [1]


def test_the_same_line_in_another_module_does_not_match(known):
    summary = summarise({**result(mutant(1, "survived")), "module": "core/crypto.py"}, known)
    assert len(summary["unexplained"]) == 1


def test_an_entry_without_a_reason_is_refused(tmp_path):
    path = tmp_path / "equivalent.toml"
    path.write_text(TOML.replace("reason", "why"))
    with pytest.raises(ValueError, match="lacks reason"):
        equivalents.load(path)


def test_the_projects_equivalent_file_loads():
    for entry in equivalents.load():
        assert entry.reason


def test_an_entry_whose_line_is_gone_is_reported_after_a_full_run(known, capsys):
    _warn_stale([{**result(mutant(1, "killed", line_text="if wait >= 0:")), "total": 1}], known)
    assert "core/retry.py: no mutant `>` -> `>=` on `if wait > 0:`" in capsys.readouterr().out
    _warn_stale([{**result(mutant(1, "killed", line_text="if wait >= 0:")), "total": 5}], known)  # --only
    assert capsys.readouterr().out == ""
