"""The README's quick start, run for real: clone the repository, `make run DEMO=1`, wait for
`/health/ready`, sign in through the API with the printed demo credentials, list the demo images,
then stop it with Ctrl-C (SIGINT to the process group, as a terminal sends it) and check that
nothing is left running or listening.

The clone gets its own `.env` (written by `make run`) and its own SQLite database: the child's
environment keeps only what a shell would have, so neither this suite's settings module nor its
DATABASE_URL reaches it. It uses this suite's virtualenv (`VENV=`), which make leaves as it is.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 120
STOP_SECONDS = 30
# The demo instance's images without alt text (console.demo.instance), captioned by bootstrap --demo.
DEMO_IMAGES = 7
CREDENTIALS = re.compile(r"^\s+(demo-\S+)\s+(\S+)\s+role (\w+)$", re.MULTILINE)
# What a login shell would pass on; everything else (DJANGO_SETTINGS_MODULE, DATABASE_URL, the
# test settings' SECRET_KEY, DEBUG=false, ...) would override the clone's own .env.
SHELL_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def left_running(pgid: int, directory: Path) -> list[str]:
    """Live processes of `make run`: those of its process group, and any that left the group (a
    child started in a session of its own) but still work in the clone. Zombies left unreaped by
    a container's init are dead and do not count."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [f"process group {pgid}"]
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cwd = Path(os.readlink(entry / "cwd"))
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended meanwhile, or is not ours to inspect
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z" and (int(pgrp) == pgid or cwd == directory):
            found.append(f"{entry.name} {command.strip()}")
    return found


def shell_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in SHELL_VARIABLES if name in os.environ}


@pytest.fixture
def clone(tmp_path) -> Path:
    for tool in ("git", "make"):
        if shutil.which(tool) is None:
            pytest.skip(f"the quick start needs `{tool}`, which is not installed here")
    target = tmp_path / "socialdesk"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    return target.resolve()  # as /proc shows a process's working directory


def wait_until_ready(process: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited with {process.returncode} before it was ready:\n{log.read_text()}")
        try:
            response = httpx.get(f"{base_url}/health/ready", timeout=5, trust_env=False)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:500]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(1)
    pytest.fail(f"/health/ready was not 200 within {READY_SECONDS} s (last: {last}):\n{log.read_text()}")


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_quick_start_runs_the_demo_and_stops_cleanly(clone):
    web_port, demo_port = free_ports(2)
    base_url = f"http://127.0.0.1:{web_port}"
    log = clone / "make-run.log"
    command = [
        "make",
        "run",
        "DEMO=1",
        f"PORT={web_port}",
        f"DEMO_PORT={demo_port}",
        f"VENV={sys.prefix}",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=clone,
            env=shell_environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, signalled as a terminal would
            # Ctrl-C as a terminal delivers it: a suite started in the background by a shell
            # without job control ignores SIGINT, make inherits that and keeps ignoring it (then
            # reports its recipe "Interrupt" and exits 2 rather than ending by the signal).
            preexec_fn=_sigint_default,
        )
    try:
        wait_until_ready(process, base_url, log)
        printed = log.read_text()
        shown = {username: password for username, password, _ in CREDENTIALS.findall(printed)}
        assert set(shown) == {"demo-user", "demo-reviewer"}, printed

        with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
            for username, password in shown.items():
                login = client.post("/api/v1/auth/login/", json={"username": username, "password": password})
                assert login.status_code == 200, login.text
            token = client.post(
                "/api/v1/auth/login/", json={"username": "demo-user", "password": shown["demo-user"]}
            ).json()["token"]
            bearer = {"Authorization": f"Bearer {token}"}
            listed = client.get("/api/v1/captions/images/", params={"status": "pending"}, headers=bearer)
            assert listed.status_code == 200, listed.text
            body = listed.json()
            images = body["results"] if isinstance(body, dict) else body
            assert len(images) == DEMO_IMAGES
            assert all(image["generated_caption"] for image in images)
            # The copy downloaded from the demo instance while captioning is served to its owner.
            picture = client.get(images[0]["image_url"], headers=bearer)
            assert picture.status_code == 200, picture.text
            assert picture.headers["content-type"].startswith("image/")

        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=STOP_SECONDS)
        deadline = time.monotonic() + STOP_SECONDS
        while left_running(process.pid, clone) and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text()
        # make passes Ctrl-C on: once its recipe has stopped, it ends itself by the same signal.
        assert process.returncode in (0, -signal.SIGINT), text
        left = left_running(process.pid, clone)
        assert not left, f"still running after Ctrl-C: {left}\n{text}"
        assert not listening(web_port) and not listening(demo_port)
        assert "stopped unexpectedly" not in text, text
        assert not re.search(r"^make: \*\*\* .* Error \d+$", text, re.MULTILINE), "serve exited non-zero"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for leftover in left_running(process.pid, clone):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(leftover.split()[0]), signal.SIGKILL)
        process.wait(timeout=STOP_SECONDS)
