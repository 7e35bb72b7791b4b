"""The mutation tool's operators (tests/mutation/operators.py) on small sources."""

import ast
import textwrap

from tests.mutation.operators import compiles, find_mutants, mutate

SNIPPET = textwrap.dedent(
    '''\
    """Docstring with < and 1: never mutated."""
    import logging

    logger = logging.getLogger(__name__)
    LIMIT = 50


    def check(value: int = 3) -> bool:
        """Docstring: 2 < 3."""
        logger.info("checking %d", value + 1)
        total = value + 1
        if total < LIMIT and value is not None:
            raise ValueError(f"over {LIMIT + 1}")
        return not total == 7
    '''
)


def found(source):
    return {(m.line, m.description) for m in find_mutants(source)}


def test_the_snippet_gets_exactly_these_mutants():
    assert found(SNIPPET) == {
        (5, "`50` -> `51`"),
        (5, "`50` -> `49`"),
        (8, "`3` -> `4`"),
        (8, "`3` -> `2`"),
        (11, "removed `total = value + 1`"),
        (11, "`+` -> `-`"),
        (11, "`1` -> `2`"),
        (11, "`1` -> `0`"),
        (12, "`<` -> `<=`"),
        (12, "`and` -> `or`"),
        (12, "`is not` -> `is`"),
        (13, 'removed `raise ValueError(f"over {LIMIT + 1}")`'),
        (14, "`return …` -> `return None`"),
        (14, "removed `not`"),
        (14, "`==` -> `!=`"),
        (14, "`7` -> `8`"),
        (14, "`7` -> `6`"),
    }


def test_docstrings_logs_fstrings_annotations_and_module_statements_are_left_alone():
    lines = {line for line, _ in found(SNIPPET)}
    # 1: module docstring, 4: module-level assignment (no removal, no constant), 9: function
    # docstring, 10: a logging call with arithmetic inside; the annotation `int`/`bool` on line 8
    # and the f-string's `LIMIT + 1` on line 13 give nothing either.
    assert lines.isdisjoint({1, 2, 4, 9, 10})
    assert not any("LIMIT + 1" in d and "`+`" in d for _, d in found(SNIPPET))


def test_every_mutant_compiles_keeps_the_line_count_and_changes_only_its_lines():
    original = SNIPPET.splitlines()
    for mutant in find_mutants(SNIPPET):
        mutated = mutate(SNIPPET, mutant)
        assert compiles(mutated), mutant
        assert len(mutated.splitlines()) == len(original), mutant
        changed = [
            n for n, (a, b) in enumerate(zip(original, mutated.splitlines(), strict=True), 1) if a != b
        ]
        assert changed == [mutant.line], mutant
        assert ast.dump(ast.parse(mutated)) != ast.dump(ast.parse(SNIPPET))


def test_the_replacements_read_as_described():
    by_description = {m.description: m for m in find_mutants(SNIPPET)}
    line = lambda d: mutate(SNIPPET, by_description[d]).splitlines()[by_description[d].line - 1]  # noqa: E731
    assert line("`<` -> `<=`") == "    if total <= LIMIT and value is not None:"
    assert line("`is not` -> `is`") == "    if total < LIMIT and value is None:"
    assert line("removed `not`") == "    return total == 7"
    assert line("`return …` -> `return None`") == "    return None"
    assert line("removed `total = value + 1`") == "    pass"


def test_a_multi_line_statement_removed_keeps_the_lines_below_in_place():
    source = "def f(a):\n    a.append(\n        1,\n    )\n    return a\n"
    removal = next(m for m in find_mutants(source) if m.description.startswith("removed"))
    mutated = mutate(source, removal)
    assert mutated.splitlines()[1] == "    pass"
    assert mutated.splitlines()[4] == "    return a"
    assert compiles(mutated)


def test_columns_are_characters_not_bytes():
    source = 'def f(c):\n    return "é" < c <= "ü"\n'
    mutated = {m.description: mutate(source, m) for m in find_mutants(source)}
    assert 'return "é" <= c <= "ü"' in mutated["`<` -> `<=`"]
    assert 'return "é" < c < "ü"' in mutated["`<=` -> `<`"]


def test_not_in_and_is_not_become_their_negation():
    source = "def f(a, b):\n    return a not in b or a is not None\n"
    mutated = {m.description: mutate(source, m) for m in find_mutants(source)}
    assert "return a in b or a is not None" in mutated["`not in` -> `in`"]
    assert "return a not in b or a is None" in mutated["`is not` -> `is`"]


def test_a_boolean_chain_flips_as_a_whole_and_negative_numbers_are_one_literal():
    source = "def f(a, b, c, s):\n    return a and b and c and s[-1]\n"
    mutants = {m.description: mutate(source, m) for m in find_mutants(source)}
    assert "return a or b or c or s[-1]" in mutants["`and` -> `or`"]
    assert "s[-2]" in mutants["`-1` -> `-2`"]
    assert "s[0]" in mutants["`-1` -> `0`"]


def test_augmented_assignments_true_false_and_floats():
    source = "def f(x, flag=True):\n    x += 0.5\n    return x if flag else False\n"
    descriptions = {d for _, d in found(source)}
    assert {
        "`True` -> `False`",
        "`+=` -> `-=`",
        "`0.5` -> `1.5`",
        "`0.5` -> `-0.5`",
        "`False` -> `True`",
    } <= (descriptions)


def test_decorators_are_not_mutated():
    source = "import functools\n\n\n@functools.lru_cache(maxsize=64)\ndef f(x):\n    return x\n"
    assert found(source) == {(6, "`return …` -> `return None`")}


def test_the_key_survives_edits_elsewhere_and_repeats_are_numbered():
    source = "def f(a, b):\n    return a < 1 or b < 1\n"
    shifted = "import os\n\n\n" + source
    first, second = (m for m in find_mutants(source) if m.operator == "comparison")
    assert (first.description, second.description) == ("`<` -> `<=`", "`<` -> `<=` (2nd on the line)")
    moved = {m.key: m for m in find_mutants(shifted)}
    assert moved[first.key].line == first.line + 3
    assert first.key != second.key
