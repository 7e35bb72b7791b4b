"""Run one module's mutants: one pytest session, one fork per mutant.

`python -m tests.mutation.runner <module.py> --result out.json [--jobs N] [--tests ...]`, started
by the command line (`python -m tests.mutation`) once per module.

pytest collects the module's test files once. The parent process then creates the test database
(SQLite in memory: pytest-django's `django_db_setup`, migrations included) without running a
test, and forks: the baseline first, then one child per mutant. A child patches the live module
(`patching.Patcher`), runs the collected tests in order through pytest's own protocol (fixtures,
markers, warnings as in a normal run), and exits 1 at the first failure, 0 when all pass. Each child
starts from the parent's state: a fresh copy of the migrated in-memory database, empty caches, its
own MEDIA_ROOT. A child slower than 10 x the baseline (+ 5 s) is killed and the mutant counts as
killed ("timeout").
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EXIT_SURVIVED = 0
EXIT_KILLED = 1
EXIT_LOAD_ERROR = 3  # the mutated module raised while executing: it would not import
EXIT_INTERNAL = 4  # the tool itself failed in the child
EXIT_SURVIVED_NO_CHANGE = 10  # survived, and the patcher found nothing to change

TIMEOUT_FACTOR = 10
TIMEOUT_EXTRA = 5.0


NOT_RUN = "no test runs this line"


class _LineTracer:
    """The module's lines each test runs (setup and teardown included), and those its import runs.

    A mutant inside a function changes nothing for a test that never reaches its line, so only
    the tests that do are run for it; a mutant on a line that runs at import (module constants,
    class bodies, default values, functions called to build a constant) gets every test.
    """

    def __init__(self, module):
        import threading

        self.threading = threading
        self.filename = module.__file__
        self.current: set[int] = set()
        self.per_test: dict[int, set[int]] = {}
        # The import's lines: the patcher executes the whole mutated module, so they count for all.
        self.import_lines: set[int] = set()
        self.current = self.import_lines
        self._install()
        source = Path(self.filename).read_text(encoding="utf-8")
        namespace = {
            "__name__": module.__name__,
            "__file__": self.filename,
            "__package__": module.__package__,
        }
        exec(compile(source, self.filename, "exec", dont_inherit=True), namespace)  # noqa: S102
        self._uninstall()

    def _trace(self, frame, event, arg):
        if frame.f_code.co_filename != self.filename:
            return None
        sink = self.current

        def local(frame, event, arg):
            if event == "line":
                sink.add(frame.f_lineno)
            return local

        sink.add(frame.f_lineno)
        return local

    def _install(self) -> None:
        sys.settrace(self._trace)
        self.threading.settrace(self._trace)

    def _uninstall(self) -> None:
        sys.settrace(None)
        self.threading.settrace(None)

    def start(self, index: int) -> None:
        self.current = self.per_test.setdefault(index, set())
        self._install()

    def stop(self) -> None:
        self._uninstall()

    def result(self) -> dict:
        return {
            "import": sorted(self.import_lines),
            "tests": {str(index): sorted(lines) for index, lines in self.per_test.items()},
        }


def statement_lines(source: str) -> list[tuple[int, int]]:
    """(first, last) line of every statement, of a compound statement its header only.

    Running a statement reports at least one of its lines to the tracer, whichever line of a
    multi-line statement the mutated token is on; so a mutant counts as reached by a test that ran
    any line of its innermost statement.
    """
    import ast

    ranges = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            ranges.append((node.lineno, max(node.lineno, body[0].lineno - 1)))
        else:
            ranges.append((node.lineno, node.end_lineno))
    return ranges


def mutant_lines(mutant, ranges: list[tuple[int, int]]) -> set[int]:
    first, last = mutant.start[0], mutant.end[0]
    inner = [(a, b) for a, b in ranges if a <= first <= b]
    lines = set(range(first, last + 1))
    if inner:
        a, b = min(inner, key=lambda r: r[1] - r[0])
        lines |= set(range(a, b + 1))
    return lines


def _tests_for(mutant, items: list, coverage: dict | None) -> list:
    """The tests that run the mutant's lines, in collection order; all of them without coverage."""
    if coverage is None:
        return items
    lines = mutant_lines(mutant, coverage["statements"])
    if lines & set(coverage["import"]):
        return items
    return [item for index, item in enumerate(items) if lines & set(coverage["tests"].get(str(index), ()))]


def _die_with_parent() -> None:
    """Linux: the kernel kills this child when the runner dies (Ctrl-C, kill), so none is left over."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _uses_db(item) -> bool:
    if item.get_closest_marker("django_db"):
        return True
    if "django_db_setup" in getattr(item, "fixturenames", ()):
        return True
    cls = getattr(item, "cls", None)
    if cls is not None:
        from django.test import TransactionTestCase

        return issubclass(cls, TransactionTestCase)
    return False


class MutationPlugin:
    def __init__(
        self, *, module_name: str, source: str, mutants: list, jobs: int, verbose: bool, select: bool = True
    ):
        self.module_name = module_name
        self.select = select
        self.source = source
        self.mutants = mutants
        self.jobs = max(1, jobs)
        self.verbose = verbose
        self.results: dict[int, dict] = {}
        self.baseline_seconds: float | None = None
        self.error: str | None = None
        self.tests = 0
        self._in_child = False
        self._quiet = False
        self._failed = False

    # --- hooks -------------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report) -> None:
        if not self._in_child or not report.failed:
            return
        self._failed = True
        if self._quiet:
            os._exit(EXIT_KILLED)
        sys.__stderr__.write(f"\nFAILED {report.nodeid} ({report.when})\n{report.longreprtext}\n")

    def pytest_runtestloop(self, session) -> bool:
        if session.testsfailed:
            self.error = "collecting the tests failed (see above)"
            return True
        items = list(session.items)
        self.tests = len(items)
        if not items:
            self.error = "no tests collected"
            return True
        self._prepare_database(session, items)
        media = tempfile.mkdtemp(prefix="mutation-media-")
        try:
            self._run(session, items, media)
        finally:
            shutil.rmtree(media, ignore_errors=True)
        if self.error is None:
            # Its closing "no tests ran" would be about the parent, which runs none.
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                session.config.pluginmanager.unregister(reporter)
        return True

    # --- the parent --------------------------------------------------------------------------

    def _prepare_database(self, session, items) -> None:
        """Create the test database once, in the parent, so every child starts with a copy."""
        db_items = [item for item in items if _uses_db(item)]
        if not db_items:
            return
        from _pytest.fixtures import TopRequest

        class SessionRequest(TopRequest):
            """A request made on the session's behalf: no test is set up, the session is."""

            @property
            def node(self):
                return self.session

        session._setupstate.setup(session)
        SessionRequest(db_items[0], _ispytest=True).getfixturevalue("django_db_setup")

    def _run(self, session, items, media: str) -> None:
        import threading

        if threading.active_count() > 1:
            print(f"warning: {threading.active_count()} threads before forking", file=sys.stderr)
        gc.collect()
        gc.freeze()  # fewer copied pages in the children

        print(f"baseline: {len(items)} tests ...", flush=True)
        started = time.monotonic()
        pid = self._fork(items, None, quiet=False, media=media)
        _, status = os.waitpid(pid, 0)
        self.baseline_seconds = time.monotonic() - started
        code = os.waitstatus_to_exitcode(status)
        if code != EXIT_SURVIVED:
            self.error = f"the unmutated tests fail (exit {code}): fix them first"
            return
        coverage = None
        if self.select:
            coverage = json.loads(Path(media, "coverage.json").read_text())
            coverage["statements"] = statement_lines(self.source)
        timeout = TIMEOUT_FACTOR * self.baseline_seconds + TIMEOUT_EXTRA
        print(
            f"baseline passed in {self.baseline_seconds:.2f} s; {len(self.mutants)} mutants, "
            f"{self.jobs} at a time, timeout {timeout:.1f} s",
            flush=True,
        )

        queue = deque(self.mutants)
        running: dict[int, tuple[object, float]] = {}
        done = 0

        def stop(signum, frame):
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while queue or running:
            while queue and len(running) < self.jobs:
                mutant = queue.popleft()
                chosen = _tests_for(mutant, items, coverage)
                if not chosen:
                    self.results[mutant.number] = {"status": "survived", "seconds": 0.0, "note": NOT_RUN}
                    done += 1
                    self._progress(done, mutant)
                    continue
                running[self._fork(chosen, mutant, quiet=True, media=media)] = (mutant, time.monotonic())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid and pid in running:
                mutant, began = running.pop(pid)
                self._record(mutant, os.waitstatus_to_exitcode(status), time.monotonic() - began)
                done += 1
                self._progress(done, mutant)
                continue
            now = time.monotonic()
            for pid, (mutant, began) in list(running.items()):
                if now - began > timeout:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    del running[pid]
                    self.results[mutant.number] = {"status": "timeout", "seconds": now - began}
                    done += 1
                    self._progress(done, mutant)
            time.sleep(0.005)

    def _record(self, mutant, code: int, seconds: float) -> None:
        status = {
            EXIT_SURVIVED: "survived",
            EXIT_SURVIVED_NO_CHANGE: "survived",
            EXIT_KILLED: "killed",
            EXIT_LOAD_ERROR: "killed",
        }.get(code, "killed" if code < 0 else "error")
        result = {"status": status, "seconds": round(seconds, 3)}
        if code == EXIT_LOAD_ERROR:
            result["note"] = "the mutated module does not execute"
        elif code == EXIT_SURVIVED_NO_CHANGE:
            result["note"] = "the tool found nothing to change in the live module"
        elif code < 0:
            result["note"] = f"crashed (signal {-code})"
        elif status == "error":
            result["note"] = f"the tool failed in the child (exit {code})"
        self.results[mutant.number] = result

    def _progress(self, done: int, mutant) -> None:
        result = self.results[mutant.number]
        if self.verbose or result["status"] not in ("killed", "timeout"):
            note = f" ({result['note']})" if "note" in result else ""
            print(
                f"  [{done}/{len(self.mutants)}] {result['status']:8} #{mutant.number} {mutant.title}{note}"
            )
        elif done % 25 == 0:
            print(f"  [{done}/{len(self.mutants)}]", flush=True)
        sys.stdout.flush()

    def _fork(self, items, mutant, *, quiet: bool, media: str) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        try:
            self._child(items, mutant, quiet=quiet, media=media)
        except BaseException:  # whatever happens, the child must not return
            try:
                traceback.print_exc()
            finally:
                os._exit(EXIT_INTERNAL)
        os._exit(EXIT_INTERNAL)

    # --- the child ---------------------------------------------------------------------------

    def _child(self, items, mutant, *, quiet: bool, media: str) -> None:
        os.setpgid(0, 0)  # so a timeout kills whatever the tests started too
        _die_with_parent()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if quiet:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
        from django.test.utils import override_settings

        override_settings(MEDIA_ROOT=tempfile.mkdtemp(dir=media)).enable()
        unchanged = False
        if mutant is not None:
            from tests.mutation.operators import mutate
            from tests.mutation.patching import Patcher

            patcher = Patcher(sys.modules[self.module_name], ROOT)
            try:
                patcher.apply(mutate(self.source, mutant))
            except Exception:  # any error while executing the mutant kills it
                os._exit(EXIT_LOAD_ERROR)
            unchanged = not patcher.changes
        self._in_child = True
        self._quiet = quiet
        tracer = _LineTracer(sys.modules[self.module_name]) if mutant is None and self.select else None
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else None
            if tracer is not None:
                tracer.start(index)
            item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        if self._failed:
            os._exit(EXIT_KILLED)
        if tracer is not None:
            tracer.stop()
            Path(media, "coverage.json").write_text(json.dumps(tracer.result()))
        os._exit(EXIT_SURVIVED_NO_CHANGE if unchanged else EXIT_SURVIVED)


def run_module(path: str, *, tests: list[str], jobs: int, only: set[int] | None, verbose: bool) -> dict:
    """Run one module's mutants in this process (pytest session and forks); the results as a dict."""
    import pytest

    from tests.mutation.config import module_name
    from tests.mutation.operators import compiles, find_mutants, mutate

    source = (ROOT / path).read_text(encoding="utf-8")
    all_mutants = find_mutants(source)
    valid = [m for m in all_mutants if compiles(mutate(source, m), path)]
    invalid = len(all_mutants) - len(valid)
    selected = [m for m in valid if only is None or m.number in only]
    plugin = MutationPlugin(
        module_name=module_name(path), source=source, mutants=selected, jobs=jobs, verbose=verbose
    )
    started = time.monotonic()
    exit_code = pytest.main(
        [*tests, "-q", "-p", "no:cacheprovider", "--capture=sys", "-o", "addopts=--strict-markers"],
        plugins=[plugin],
    )
    if plugin.error is None and exit_code not in (0, 5) and plugin.baseline_seconds is None:
        plugin.error = f"pytest exited with {exit_code} before the baseline"
    return {
        "module": path,
        "tests": tests,
        "test_count": plugin.tests,
        "invalid": invalid,
        "total": len(valid),
        "baseline_seconds": plugin.baseline_seconds,
        "seconds": round(time.monotonic() - started, 1),
        "error": plugin.error,
        "mutants": [
            {
                "number": m.number,
                "line": m.line,
                "description": m.description,
                "line_text": m.line_text,
                "key": m.key,
                **plugin.results.get(m.number, {"status": "not run"}),
            }
            for m in selected
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.runner")
    parser.add_argument("module")
    parser.add_argument("--result", required=True)
    parser.add_argument("--tests", nargs="+", required=True)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    only = {int(n) for n in args.only.split(",") if n} or None
    result = run_module(args.module, tests=args.tests, jobs=args.jobs, only=only, verbose=args.verbose)
    Path(args.result).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    # SQLite in memory: every child gets its own copy of the database with the fork.
    os.environ.pop("DATABASE_URL", None)
    sys.exit(main())
