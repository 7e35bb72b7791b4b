"""Benchmarks: the project's way beside a baseline, in one process run. Not tests; see __main__."""
