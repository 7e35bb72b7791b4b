"""`python -m bench [NAME ...] [--scale small|full]`: run benchmarks on PostgreSQL.

Each benchmark runs the project's way and its baseline alternately for several rounds in a
database of its own (created from BENCH_DATABASE_URL's server and dropped afterwards) and prints
one line per target:

    BENCH <name> ours=<value><unit> baseline=<value><unit> ratio=<x> target=<op><y> ok|MISS

A line held to a fixed budget rather than a measured baseline (`*_worst_batch`) prints the budget
as its baseline, ours / budget as its ratio and `target=<=1` (bench.report.budget_line).

It exits 0 even when a target is missed: benchmarks report, they do not gate.
"""

import argparse
import os
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

BENCHMARKS = {
    "caption_pipeline": "bench.caption_pipeline",
    "cleanup": "bench.cleanup",
    "archive": "bench.archive",
}


def _scratch_database() -> tuple[str, str, callable]:
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    name = f"socialdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
    }
    if parts.password:
        admin["password"] = parts.password
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        from django.db import connections

        connections.close_all()
        with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", "")), name, drop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS and name != "all"]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    names = [name for name in BENCHMARKS if not args.names or "all" in args.names or name in args.names]

    url, db_name, drop = _scratch_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django
    from django.core.management import call_command

    started = time.monotonic()
    try:
        # Inside the try: a project that fails to load must not leave the scratch database behind.
        django.setup()
        call_command("migrate", verbosity=0)
        import importlib

        for name in names:
            importlib.import_module(BENCHMARKS[name]).run(scale=args.scale)
    finally:
        drop()
    print(
        f"# {len(names)} benchmark(s) in {time.monotonic() - started:.0f} s on database {db_name} (dropped)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
