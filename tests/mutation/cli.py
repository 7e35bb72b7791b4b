"""The command line: pick modules, run each in its own process, report against the equivalents."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.mutation import equivalents
from tests.mutation.config import MODULES
from tests.mutation.operators import compiles, diff, find_mutants, mutate

ROOT = Path(__file__).resolve().parents[2]
THRESHOLD = 90.0


def _module_path(name: str) -> str:
    """`core/retry.py`, `core.retry` or `core/retry` -> `core/retry.py` (one of MODULES or a file)."""
    path = name if name.endswith(".py") else name.replace(".", "/") + ".py"
    if path not in MODULES and not (ROOT / path).is_file():
        raise SystemExit(f"unknown module {name!r}; known: {', '.join(MODULES)}")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutation",
        description="Mutation testing of the rule modules (docs/testing.md, 'Mutation testing').",
    )
    parser.add_argument("modules", nargs="*", help="paths or dotted names; default: all of config.MODULES")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", type=int, metavar="N", help="print the diff of mutant N (one module)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run in parallel (default 1)")
    parser.add_argument("--only", default="", metavar="N,N", help="run only these mutant numbers")
    parser.add_argument("--tests", nargs="+", metavar="FILE", help="test files instead of config.MODULES'")
    parser.add_argument("--add-tests", nargs="+", default=[], metavar="FILE", help="more test files")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="only the table at the end (for docs/testing.md), no survivor lists",
    )
    parser.add_argument("--json", metavar="FILE", help="write the full results as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per mutant")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.chdir(ROOT)
    paths = [_module_path(name) for name in args.modules] or list(MODULES)
    known = equivalents.index(equivalents.load())

    if args.show is not None:
        if len(paths) != 1:
            raise SystemExit("--show needs exactly one module")
        source = (ROOT / paths[0]).read_text(encoding="utf-8")
        mutants = {m.number: m for m in find_mutants(source)}
        if args.show not in mutants:
            raise SystemExit(f"{paths[0]} has mutants 1 to {len(mutants)}")
        mutant = mutants[args.show]
        print(f"#{mutant.number} [{mutant.key}] {mutant.title}")
        print(diff(source, mutant, paths[0]), end="")
        return 0

    if args.list:
        for path in paths:
            source = (ROOT / path).read_text(encoding="utf-8")
            mutants = find_mutants(source)
            print(f"{path}: {len(mutants)} mutants")
            for mutant in mutants:
                flags = []
                if not compiles(mutate(source, mutant), path):
                    flags.append("does not compile")
                if equivalents.mutant_key(path, mutant.line_text, mutant.description) in known:
                    flags.append("listed as equivalent")
                suffix = f"  ({', '.join(flags)})" if flags else ""
                print(f"  #{mutant.number:<4} [{mutant.key}] {mutant.title}{suffix}")
        return 0

    started = time.monotonic()
    results = []
    for path in paths:
        tests = args.tests or [*MODULES.get(path, []), *args.add_tests]
        if not tests:
            raise SystemExit(f"no tests for {path}: add it to tests/mutation/config.py or pass --tests")
        print(f"== {path} ({', '.join(tests)})", flush=True)
        results.append(_run_worker(path, tests, args))
    total = time.monotonic() - started

    summaries = [summarise(result, known) for result in results]
    _warn_stale(results, known)
    failed = False
    for summary in summaries:
        if summary["error"]:
            failed = True
            print(f"\n{summary['module']}: ERROR: {summary['error']}")
            continue
        if summary["unexplained"] and not args.markdown:
            print(f"\n{summary['module']}: {len(summary['unexplained'])} unexplained survivors")
            for m in summary["unexplained"]:
                note = f" ({m['note']})" if m.get("note") else ""
                print(f"  #{m['number']} line {m['line']}: {m['description']}  | {m['line_text']}{note}")
        for m in summary["equivalent_killed"]:
            print(f"\n{summary['module']}: #{m['number']} line {m['line']} ({m['description']}) is listed as "
                  "equivalent but a test kills it: remove its entry from equivalent.toml")  # fmt: skip
        if summary["unexplained"] or summary["equivalent_killed"] or summary["score"] < THRESHOLD:
            failed = True
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print()
    print(markdown_table(summaries, total))
    print(f"\n{len(paths)} module(s) in {total:.0f} s; " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


def _run_worker(path: str, tests: list[str], args) -> dict:
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        result_file = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "tests.mutation.runner",
            path,
            "--result",
            str(result_file),
            "--jobs",
            str(args.jobs),
            "--tests",
            *tests,
        ]
        if args.only:
            command += ["--only", args.only]
        if args.verbose:
            command.append("--verbose")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        env.pop("DATABASE_URL", None)
        completed = subprocess.run(command, cwd=ROOT, env=env, check=False)
        if not result_file.exists():
            return {
                "module": path,
                "error": f"the runner exited with {completed.returncode} without results",
                "mutants": [],
                "seconds": 0,
                "invalid": 0,
            }
        return json.loads(result_file.read_text(encoding="utf-8"))


def _warn_stale(results: list[dict], known: dict) -> None:
    """Entries of equivalent.toml for a module that was run, whose line and mutation it no longer has."""
    for result in results:
        if result.get("error") or not result["mutants"] or len(result["mutants"]) < result.get("total", 0):
            continue
        seen = {
            equivalents.mutant_key(result["module"], m["line_text"], m["description"])
            for m in result["mutants"]
        }
        for key, entry in known.items():
            if entry.module == result["module"] and key not in seen:
                where = f"{entry.module}: no mutant {entry.mutation} on `{entry.line}`"
                print(f"warning: equivalent.toml: {where}")


def summarise(result: dict, known: dict) -> dict:
    """Counts of one module's run; survivors split into listed equivalents and unexplained ones."""
    mutants = result["mutants"]
    killed = [m for m in mutants if m["status"] in ("killed", "timeout")]
    survived = [m for m in mutants if m["status"] == "survived"]
    other = [m for m in mutants if m["status"] not in ("killed", "timeout", "survived")]
    key = lambda m: equivalents.mutant_key(result["module"], m["line_text"], m["description"])  # noqa: E731
    equivalent = [m for m in survived if key(m) in known]
    unexplained = [m for m in survived if key(m) not in known] + other
    counted = len(mutants) - len(equivalent)
    return {
        "module": result["module"],
        "error": result.get("error"),
        "mutants": len(mutants),
        "killed": len(killed),
        "timeouts": sum(m["status"] == "timeout" for m in mutants),
        "equivalent": len(equivalent),
        "unexplained": unexplained,
        "equivalent_killed": [m for m in killed if key(m) in known],
        "score": 100.0 * len(killed) / counted if counted else 100.0,
        "invalid": result.get("invalid", 0),
        "seconds": result.get("seconds", 0),
        "tests": result.get("test_count", 0),
    }


def markdown_table(summaries: list[dict], total_seconds: float) -> str:
    lines = [
        f"Mutation run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {total_seconds:.0f} s in all:",
        "",
        "| Module | Tests | Mutants | Killed | Equivalent | Unexplained | Score | Time |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in summaries:
        if s["error"]:
            lines.append(f"| `{s['module']}` | | | | | | error | |")
            continue
        lines.append(
            f"| `{s['module']}` | {s['tests']} | {s['mutants']} | {s['killed']} | {s['equivalent']} "
            f"| {len(s['unexplained'])} | {s['score']:.1f} % | {s['seconds']:.0f} s |"
        )
    return "\n".join(lines)
