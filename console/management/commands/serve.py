import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from core.management.base import ProjectCommand

DEMO_HOST = "127.0.0.1"

# After a process exits on its own: how long to wait for a stop signal that may be on its way. A
# Ctrl-C reaches the whole foreground process group, and a child can exit on it before this
# process has run its own handler; that exit is a requested stop, not a failure.
SIGNAL_GRACE_SECONDS = 1.0
POLL_SECONDS = 0.3


class Command(ProjectCommand):
    help = (
        "Run the web server and a django-q2 worker together; Ctrl-C stops both.\n\n"
        "Uses gunicorn when it is installed (the `server` extra), Django's runserver otherwise.\n"
        "If either process exits, the other is stopped and the command exits non-zero; after Ctrl-C\n"
        "(SIGINT) or SIGTERM it stops both and ends by that signal (exit status 130 or 143).\n\n"
        "With --demo-instance PORT it also runs the built-in demo Mastodon instance on 127.0.0.1:PORT\n"
        "(`manage.py demo_instance`) as a third process, stopped with the others.\n\n"
        "Examples:\n"
        "  python manage.py serve\n"
        "  python manage.py serve --port 9000 --no-worker\n"
        "  python manage.py serve --demo-instance 8001"
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="Start only the web server.")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes.")
        parser.add_argument(
            "--demo-instance",
            type=int,
            metavar="PORT",
            default=None,
            help="Also run the built-in demo Mastodon instance on 127.0.0.1:PORT.",
        )

    def handle(self, *args, host, port, no_worker, web_workers, demo_instance, **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        if _port_in_use(host, port):
            raise CommandError(f"{host}:{port} is already in use; stop the other server or pass --port.")
        if demo_instance is not None:
            if not 0 < demo_instance < 65536 or demo_instance == port:
                raise CommandError(
                    "--demo-instance must be a port between 1 and 65535 other than --port, "
                    f"not {demo_instance}."
                )
            if _port_in_use(DEMO_HOST, demo_instance):
                raise CommandError(
                    f"{DEMO_HOST}:{demo_instance} is already in use; stop the other server or pass "
                    "another --demo-instance port."
                )

        received: list[int] = []

        def stop(signum, _frame):
            # SIGINT too: a handler rather than KeyboardInterrupt, which could fire in the middle
            # of the loop (or of the clean-up below) and leave a child running.
            received.append(signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        processes: dict[str, subprocess.Popen] = {}
        if demo_instance is not None:
            # First, so that the web server and worker find it when they start.
            demo_command = ["manage.py", "demo_instance", "--host", DEMO_HOST, "--port", str(demo_instance)]
            processes["demo instance"] = subprocess.Popen([sys.executable, *demo_command])
        processes["web"] = self._start_web(host, port, web_workers)
        if not no_worker:
            # A session of its own: Ctrl-C in a terminal signals the whole foreground group, and a
            # second signal (our SIGTERM) arriving while django-q2 is already stopping can
            # deadlock it on its stop event and orphan its worker processes. It gets ours only.
            processes["worker"] = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], start_new_session=True
            )

        announced = False
        exited: tuple[str, int] | None = None  # a process that ended on its own: name, code
        try:
            while not received and exited is None:
                exited = next(
                    (
                        (name, process.returncode)
                        for name, process in processes.items()
                        if process.poll() is not None
                    ),
                    None,
                )
                if exited is not None:
                    _wait_until(lambda: bool(received), SIGNAL_GRACE_SECONDS)
                    break
                demo_ready = demo_instance is None or _port_in_use(DEMO_HOST, demo_instance)
                if not announced and demo_ready and _port_in_use(host, port):
                    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host  # noqa: S104
                    self.stdout.write(self.style.SUCCESS(f"Admin:    http://{shown}:{port}/admin/"))
                    worker = "not started (--no-worker)" if no_worker else "django-q2 cluster running"
                    self.stdout.write(f"Worker:   {worker}")
                    if demo_instance is not None:
                        self.stdout.write(f"Demo instance: http://{DEMO_HOST}:{demo_instance}")
                    self.stdout.write("Stop with Ctrl-C.")
                    announced = True
                time.sleep(POLL_SECONDS)
            if exited is not None and not received:
                self.stderr.write(f"The {exited[0]} process exited with code {exited[1]}; stopping.")
        finally:
            _stop_all(processes)
        if received:
            _end_by_signal(received[0])
        code = exited[1] if exited and exited[1] and exited[1] > 0 else 1
        raise CommandError("A process stopped unexpectedly; see its output above.", returncode=code)

    def _start_web(self, host: str, port: int, web_workers: int) -> subprocess.Popen:
        if importlib.util.find_spec("gunicorn") is not None:
            if not settings.DEBUG:
                call_command("collectstatic", interactive=False, verbosity=0)
            return subprocess.Popen(gunicorn_command(host=host, port=port, web_workers=web_workers))
        return subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"{host}:{port}"])


def gunicorn_command(*, host: str, port: int, web_workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(web_workers),
        # Both of gunicorn's logs (its own lines and one per request, path without the query
        # string) in the project's format, on stderr, secrets masked: core.gunicorn_logging.
        "--logger-class",
        "core.gunicorn_logging.StructuredLogger",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "5",
    ]


def _wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)  # signal handlers run here


def _end_by_signal(signum: int) -> None:
    """End the way the signal would have ended us (the shell shows 130 for SIGINT, 143 for
    SIGTERM; make and service managers see a process stopped by a signal, not a failure)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    raise SystemExit(128 + signum)  # not reached where the default action ends the process


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) == 0  # noqa: S104


def _stop_all(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(process)
            process.wait()


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL the process, and its whole group when it leads one, so no child is orphaned."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
            return
    except ProcessLookupError:
        return
    process.kill()
