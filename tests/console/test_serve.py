"""`manage.py serve` runs the web server and a worker together and stops both on Ctrl-C."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from config.keys import generate_key

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_env(database: Path, var_dir: Path, keys: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "serve-test-" + "x" * 40,
        "FIELD_ENCRYPTION_KEYS": keys,
        "DATABASE_URL": f"sqlite:///{database}",
        "CACHE_URL": "locmemcache://",
        "VAR_DIR": str(var_dir),
        "DEBUG": "true",
    }


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> tuple[Path, str]:
    """One `migrate` per module (it takes seconds); each test serves from a copy of its file."""
    directory = tmp_path_factory.mktemp("serve-migrated")
    keys = generate_key()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=serve_env(directory / "db.sqlite3", directory, keys),
        check=True,
        timeout=300,
    )
    return directory / "db.sqlite3", keys


@pytest.fixture
def project_env(tmp_path, migrated_database):
    template, keys = migrated_database
    shutil.copyfile(template, tmp_path / "db.sqlite3")
    return serve_env(tmp_path / "db.sqlite3", tmp_path, keys)


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            seen.append(line)
            if needle in line:
                return seen
        elif process.poll() is not None:
            break
    raise AssertionError(f"'{needle}' never printed; output: {''.join(seen)}")


def kill_process_group(process: subprocess.Popen) -> None:
    """Kill what a test started, children included: a test failing half-way must not leave a web
    server or a worker running (each Popen here starts its own session, so its group is its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def children_of(pid: int) -> list[int]:
    result = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def test_serve_prints_the_admin_url_and_ctrl_c_stops_web_and_worker(project_env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_line(process, f"http://localhost:{port}/admin/", timeout=60)
        children = children_of(process.pid)
        assert len(children) == 2, "a web server and a worker"
        # The first request loads the application: on a busy machine that takes seconds.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=60) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == -signal.SIGINT  # ended by the signal: the shell shows 130
        for child in children:
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
    finally:
        kill_process_group(process)


def test_serve_refuses_a_port_in_use(project_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=project_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "already in use" in result.stderr


def test_serve_with_a_demo_instance_runs_and_stops_a_third_process(project_env):
    port, demo_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--demo-instance", str(demo_port)],
        cwd=ROOT,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_line(process, f"http://localhost:{port}/admin/", timeout=60)
        # serve announces the demo instance with the web server (the child says so too, earlier).
        wait_for_line(process, f"Demo instance: http://127.0.0.1:{demo_port}", timeout=5)
        children = children_of(process.pid)
        assert len(children) == 3, "a web server, a worker and the demo instance"
        answer = httpx.get(
            f"http://127.0.0.1:{demo_port}/api/v1/accounts/verify_credentials",
            headers={"Authorization": "Bearer demo-instance-token"},
            timeout=10,
        )
        assert answer.json()["username"] == "demo"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == -signal.SIGINT  # ended by the signal: the shell shows 130
        for child in children:
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", demo_port)) != 0
    finally:
        kill_process_group(process)


def test_serve_refuses_a_demo_instance_port_in_use_or_equal_to_the_web_port(project_env):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        in_use = subprocess.run(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--demo-instance", str(busy_port)],
            cwd=ROOT,
            env=project_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    same = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--demo-instance", str(port)],
        cwd=ROOT,
        env=project_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert in_use.returncode != 0 and f"127.0.0.1:{busy_port} is already in use" in in_use.stderr
    assert same.returncode != 0 and "other than --port" in same.stderr


_VALUE = r'(?:"(?:\\.|[^"\\])*"|[^\s"]*)'
LOGFMT_LINE = re.compile(rf"^ts=\S+ level=[a-z]+ logger=[\w.-]+ msg={_VALUE}(?: [\w.-]+={_VALUE})*$")


def test_gunicorn_writes_every_line_in_the_project_format_without_the_query(project_env):
    """The command serve runs, run for real: gunicorn's own lines and its access lines are the
    project's logfmt lines, and a token in a query string reaches neither."""
    from console.management.commands.serve import gunicorn_command

    port = free_port()
    process = subprocess.Popen(
        gunicorn_command(host="127.0.0.1", port=port, web_workers=1),
        cwd=ROOT,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # One request only (its access line is counted below): a slow first answer is
                # waited for, not asked for again.
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/health/live?access_token=sekrit-token-0017", timeout=60
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        assert answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/nowhere/", timeout=5).status_code == 404
        time.sleep(0.5)  # the access lines are written after the responses
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=30)
        finally:
            kill_process_group(process)
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert LOGFMT_LINE.match(line), line
    assert any("logger=gunicorn.error" in line and "Starting gunicorn" in line for line in lines), lines
    (access,) = [line for line in lines if "logger=gunicorn.access" in line and "/health/live" in line]
    assert 'msg="GET /health/live 200"' in access
    assert "path=/health/live" in access and "status=200" in access and "method=GET" in access
    assert any("logger=gunicorn.access" in line and "status=404" in line for line in lines)
    assert "sekrit" not in stdout + stderr


# serve's supervision loop with stand-in processes, in a process of its own (it ends by a signal).
SUPERVISE = """
import os, signal, sys, threading
import django
django.setup()
from console.management.commands import serve

SCENARIO = sys.argv[1]
polls = {"n": 0}


class FakeProcess:
    def __init__(self, args, **kwargs):
        self.name = "worker" if "qcluster" in args else "web"
        self.returncode = None

    def poll(self):
        if self.returncode is None and self.name == "web":
            polls["n"] += 1
            if polls["n"] == 3:
                # The web server ends first. "ctrl-c": it ended on the terminal's SIGINT, which
                # reaches this process a moment later; "crash": nothing follows.
                self.returncode = 0 if SCENARIO == "ctrl-c" else 3
                if SCENARIO == "ctrl-c":
                    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
        return self.returncode

    def terminate(self):
        if self.returncode is None:
            self.returncode = -signal.SIGTERM
        print(f"stopped {self.name}", flush=True)

    def wait(self, timeout=None):
        return self.returncode


serve.subprocess.Popen = FakeProcess
serve._port_in_use = lambda host, port: False
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "serve", "--port", "8999"])
"""


def run_supervise(project_env, scenario: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SUPERVISE, scenario],
        cwd=ROOT,
        env=project_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ctrl_c_that_a_child_handles_first_still_ends_serve_by_sigint(project_env):
    """The race: the terminal's SIGINT reaches the whole process group, and the web server may
    exit on it before serve has run its own handler. That is a requested stop (ended by SIGINT,
    the shell shows 130), not "A process stopped unexpectedly" with exit 1."""
    result = run_supervise(project_env, "ctrl-c")
    assert result.returncode == -signal.SIGINT, (result.returncode, result.stdout, result.stderr)
    assert "unexpectedly" not in result.stderr
    assert "exited with code" not in result.stderr
    assert "stopped worker" in result.stdout, "the other process was still stopped"


def test_a_process_that_really_stops_on_its_own_is_still_an_error(project_env):
    result = run_supervise(project_env, "crash")
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "The web process exited with code 3; stopping." in result.stderr
    assert "A process stopped unexpectedly" in result.stderr
    assert "stopped worker" in result.stdout


def test_sigterm_ends_serve_by_sigterm(project_env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--no-worker"],
        cwd=ROOT,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_line(process, f"http://localhost:{port}/admin/", timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == -signal.SIGTERM  # the shell shows 143
        assert "unexpectedly" not in process.stdout.read()
    finally:
        kill_process_group(process)
