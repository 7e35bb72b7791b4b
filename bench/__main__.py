"""`python -m bench [NAME ...] [--scale small|full]`: run benchmarks on PostgreSQL.

Each benchmark runs the project's way and its baseline alternately for several rounds, in a
scratch database the run shares (created from BENCH_DATABASE_URL's server and dropped afterwards;
`api_list` and `admin_changelist` read the same generated rows), and prints one line per target:

    BENCH <name> ours=<value><unit> baseline=<value><unit> ratio=<x> target=<op><y> ok|MISS

A line held to a fixed budget rather than a measured baseline (`*_worst_batch`) prints the budget
as its baseline, ours / budget as its ratio and `target=<=1` (bench.report.emit_budget).

Between two benchmarks the server is settled: `VACUUM (ANALYZE)` and `CHECKPOINT`, so that the
dead rows and dirty pages one leaves (a million images archived, say) are not cleaned up by
autovacuum and the checkpointer while the next one is measured. The rows themselves stay, as a
large account's would on a real server.

The run ends with a markdown table of every line (for docs/performance.md), headed by the
machine and the date. It exits 0 even when a target is missed: benchmarks report, they do not
gate. A benchmark that fails outright is reported, the others still run, and the exit is 1.
"""

import argparse
import importlib
import os
import sys
import time
import traceback
import uuid
from urllib.parse import urlsplit, urlunsplit

# In the order `all` runs them: the two that share the generated images come first, so the
# second reuses the first's rows (bench.data).
BENCHMARKS = {
    "api_list": "bench.api_list",
    "admin_changelist": "bench.admin_changelist",
    "artifact_search": "bench.artifact_search",
    "cleanup": "bench.cleanup",
    "archive": "bench.archive",
    "caption_pipeline": "bench.caption_pipeline",
    "queue_drain": "bench.queue_drain",
    "workflow_engine": "bench.workflow_engine",
    "persona_export": "bench.persona_export",
    "scrape_many_hosts": "bench.scrape_many_hosts",
    "clusters_scale": "bench.clusters_scale",
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


def _settle(connection) -> None:
    """Leave the server as autovacuum and the checkpointer would in time: no dead rows, current
    statistics, no dirty pages waiting to be written."""
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    print(f"# settled in {time.monotonic() - started:.1f} s (VACUUM (ANALYZE), CHECKPOINT)", flush=True)


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
    failed: list[str] = []
    try:
        # Inside the try: a project that fails to load must not leave the scratch database behind.
        django.setup()
        call_command("migrate", verbosity=0)
        from django.db import connection

        from bench import report
        from bench.report import machine_description, python_speed_ms, results_table

        report.scale = args.scale
        python_at_start = python_speed_ms()

        for index, name in enumerate(names):
            if index:
                _settle(connection)
            print(f"# {name} ({args.scale})", flush=True)
            try:
                importlib.import_module(BENCHMARKS[name]).run(scale=args.scale)
            except Exception:
                failed.append(name)
                print(f"# {name} FAILED:", flush=True)
                traceback.print_exc()
        machine = machine_description(connection, python_ms=(python_at_start, python_speed_ms()))
    finally:
        drop()
    print()
    print(results_table(scale=args.scale, machine=machine))
    print()
    print(
        f"# {len(names)} benchmark(s) in {time.monotonic() - started:.0f} s on database {db_name} (dropped)"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
