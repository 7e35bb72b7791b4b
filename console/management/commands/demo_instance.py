import signal
import threading

from django.core.management.base import CommandError

from console.demo.instance import DEFAULT_HOST, DEFAULT_PORT, DEMO_TOKEN, DemoInstance, is_loopback
from core.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Run the built-in demo Mastodon instance (and its demo website under /site/) in the\n"
        "foreground until Ctrl-C or SIGTERM.\n\n"
        "It is a fake with a public token: one account `demo` whose posts have images without alt\n"
        "text, all in memory (a restart resets it). `make run` starts it next to the web server, and\n"
        "`bootstrap --demo` points the demo connection at it (DEMO_INSTANCE_URL). It listens on\n"
        "loopback only, unless --allow-remote.\n\n"
        "Examples:\n"
        "  python manage.py demo_instance\n"
        "  python manage.py demo_instance --port 8101\n"
        "  python manage.py demo_instance -v 2          # log every request"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--host", default=DEFAULT_HOST, help=f"Address to listen on (default {DEFAULT_HOST})."
        )
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port (default {DEFAULT_PORT}).")
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="Listen on a non-loopback address. Anyone who reaches it can use its public token.",
        )

    def handle(self, *args, host, port, allow_remote, verbosity, **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        if not is_loopback(host) and not allow_remote:
            raise CommandError(
                f"{host} is not a loopback address. The demo instance is a fake whose token is public; "
                "listen on 127.0.0.1, or pass --allow-remote if you really mean to expose it."
            )
        instance = DemoInstance(host=host, port=port, log_requests=verbosity >= 2)
        try:
            instance.start()
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None

        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.stdout.write(self.style.SUCCESS(f"Demo instance: {instance.base_url}"))
            self.stdout.write(f"Access token: {DEMO_TOKEN}  (public: a loopback fake)")
            self.stdout.write(f"Demo site:    {instance.base_url}/site/")
            self.stdout.write("Stop with Ctrl-C.")
            self.stdout.flush()
            instance.serve_until(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Demo instance stopped.")
