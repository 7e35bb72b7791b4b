"""The mutation tool's patcher (tests/mutation/patching.py): a mutant reaches the live module."""

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from tests.mutation.operators import find_mutants, mutate
from tests.mutation.patching import Patcher

SAMPLE = textwrap.dedent(
    """\
    import functools
    from dataclasses import dataclass

    LIMIT = 500


    @functools.lru_cache(maxsize=8)
    def cached(x):
        return x + 1


    def over(n):
        return n > LIMIT


    @dataclass(frozen=True)
    class Policy:
        attempts: int = 3

        def more(self, n):
            return n + self.attempts

        @property
        def double(self):
            return self.attempts * 2
    """
)
IMPORTER = "from mutation_sample import LIMIT, over\n\n\ndef limit():\n    return LIMIT\n"


@pytest.fixture
def sample(tmp_path, monkeypatch):
    (tmp_path / "mutation_sample.py").write_text(SAMPLE)
    (tmp_path / "mutation_importer.py").write_text(IMPORTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("mutation_sample")
    importer = importlib.import_module("mutation_importer")
    yield module, importer, Patcher(module, tmp_path)
    for name in ("mutation_sample", "mutation_importer"):
        sys.modules.pop(name, None)


def apply(patcher, description, line_text):
    mutant = next(
        m for m in find_mutants(SAMPLE) if m.description == description and m.line_text == line_text
    )
    patcher.apply(mutate(SAMPLE, mutant))
    return patcher.changes


def test_the_unmutated_source_changes_nothing(sample):
    module, _, patcher = sample
    patcher.apply(SAMPLE)
    assert patcher.changes == []
    assert module.over(501) is True


def test_a_function_keeps_its_identity_and_takes_the_mutant(sample):
    module, importer, patcher = sample
    over = module.over
    assert apply(patcher, "`>` -> `>=`", "return n > LIMIT") == ["over"]
    assert module.over is over
    assert importer.over(500) is True  # the name imported elsewhere runs the mutant too


def test_a_module_constant_reaches_the_modules_that_imported_it(sample):
    module, importer, patcher = sample
    apply(patcher, "`500` -> `501`", "LIMIT = 500")
    assert module.LIMIT == 501
    assert importer.limit() == 501
    assert module.over(501) is False


def test_a_cached_function_is_patched_behind_its_cache_and_the_cache_cleared(sample):
    module, _, patcher = sample
    assert module.cached(1) == 2  # cached by the original
    apply(patcher, "`+` -> `-`", "return x + 1")
    assert module.cached(1) == 0


def test_dataclass_defaults_methods_and_properties(sample):
    module, _, patcher = sample
    policy_class = module.Policy
    apply(patcher, "`3` -> `4`", "attempts: int = 3")
    assert module.Policy is policy_class
    assert module.Policy().attempts == 4

    second = Patcher(module, Path(patcher.project_root))
    mutant = next(m for m in find_mutants(SAMPLE) if m.line_text == "return self.attempts * 2")
    second.apply(mutate(SAMPLE, mutant))  # `return ...` -> `return None`; the default is 3 again
    assert policy_class().double is None
    assert policy_class().attempts == 3


def test_a_mutant_that_raises_while_executing_raises(sample):
    _, _, patcher = sample
    with pytest.raises(ZeroDivisionError):
        patcher.apply(SAMPLE.replace("LIMIT = 500", "LIMIT = 1 / 0"))
