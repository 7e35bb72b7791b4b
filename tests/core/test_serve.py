"""`manage.py serve` runs the web server and a worker together and stops both on Ctrl-C."""

import os
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

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def project_env(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "serve-test-" + "x" * 40,
        "FIELD_ENCRYPTION_KEYS": generate_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": "locmemcache://",
        "VAR_DIR": str(tmp_path),
        "DEBUG": "true",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return env


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
    )
    try:
        wait_for_line(process, f"http://localhost:{port}/admin/", timeout=60)
        children = children_of(process.pid)
        assert len(children) == 2, "a web server and a worker"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        for child in children:
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
    finally:
        if process.poll() is None:
            process.kill()


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
        assert process.wait(timeout=30) == 0
        for child in children:
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", demo_port)) != 0
    finally:
        if process.poll() is None:
            process.kill()


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


def test_the_access_log_line_leaves_the_query_string_out():
    """gunicorn renders ACCESS_LOG_FORMAT; a token in the query string must not reach the line."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from core.management.commands.serve import ACCESS_LOG_FORMAT

    logger = Logger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/captions/images/?access_token=sekrit-token",
        "PATH_INFO": "/api/v1/captions/images/",
        "QUERY_STRING": "access_token=sekrit-token",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    request = SimpleNamespace(
        headers=[],
        method="GET",
        path="/api/v1/captions/images/",
        query="access_token=sekrit-token",
        uri=environ["RAW_URI"],
        version=(1, 1),
    )
    response = SimpleNamespace(status="200 OK", status_code=200, sent=120, response_length=120, headers=[])
    line = ACCESS_LOG_FORMAT % logger.atoms(response, request, environ, timedelta(milliseconds=12))
    assert "sekrit" not in line
    assert 'path="/api/v1/captions/images/"' in line and "status=200" in line and "method=GET" in line
