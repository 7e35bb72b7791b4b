"""Mutation testing of the rule modules (issue 19): `make mutation`, or `python -m tests.mutation`.

operators.py finds the mutants, patching.py puts one into the live module, runner.py runs a
module's tests once per mutant in forked children, cli.py reports against equivalent.toml;
config.py says which tests exercise which module. docs/testing.md ("Mutation testing") has the
rules. No test_*.py here: pytest does not collect this package; its own tests are in
tests/mutation_tool/.
"""
