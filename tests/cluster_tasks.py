"""Task functions the clusters of tests/core/test_multi_cluster.py run: each reports at a local
server that it ran (so the test counts runs where they land) and answers which cluster ran it."""

import os

import httpx


def report(url: str) -> str:
    """GET `url` (the test's server counts it); the running cluster's name (its PGAPPNAME)."""
    httpx.get(url, timeout=10).raise_for_status()
    return os.environ.get("PGAPPNAME", "")
