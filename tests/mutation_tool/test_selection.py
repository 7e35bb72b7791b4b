"""Which tests the mutation tool runs for a mutant: those whose run reaches its statement."""

import importlib
import sys
import textwrap
from types import SimpleNamespace

from tests.mutation.operators import find_mutants
from tests.mutation.runner import _LineTracer, _tests_for, mutant_lines, statement_lines

SOURCE = textwrap.dedent(
    """\
    LIMIT = 3


    def small(n):
        if (
            n
            < LIMIT
        ):
            return True
        return False


    def never(n):
        return n + 1
    """
)


def test_a_token_inside_a_multi_line_header_counts_with_the_whole_header():
    comparison = next(m for m in find_mutants(SOURCE) if m.description == "`<` -> `<=`")
    assert comparison.line == 7
    assert mutant_lines(comparison, statement_lines(SOURCE)) == {5, 6, 7, 8}


def test_tests_are_chosen_by_the_lines_they_ran_and_import_lines_choose_all(tmp_path, monkeypatch):
    (tmp_path / "mutation_selection_sample.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("mutation_selection_sample")
    try:
        tracer = _LineTracer(module)
        tracer.start(0)
        module.small(1)
        tracer.start(1)
        module.small(5)
        tracer.stop()
        coverage = {**tracer.result(), "statements": statement_lines(SOURCE)}
    finally:
        sys.modules.pop("mutation_selection_sample", None)
    items = [SimpleNamespace(name="first"), SimpleNamespace(name="second")]
    by_line = {}
    for mutant in find_mutants(SOURCE):
        by_line.setdefault(mutant.line, [item.name for item in _tests_for(mutant, items, coverage)])
    assert by_line[1] == ["first", "second"]  # LIMIT = 3: runs at import
    assert by_line[7] == ["first", "second"]  # the comparison: both tests run it
    assert by_line[9] == ["first"]  # return True
    assert by_line[10] == ["second"]  # return False
    assert by_line[14] == []  # no test calls never()
