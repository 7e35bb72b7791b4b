"""`manage.py reap_stale_work`: what the 5-minute schedule does, on demand (core.reaper)."""

from django.core.management.base import CommandError

from core.management.base import ProjectCommand
from core.reaper import reap_stale_work, reapers


class Command(ProjectCommand):
    help = (
        "Take back background work whose worker went silent: each kind is queued again to resume,\n"
        "or failed with the reason once it has used up its runs. The schedule core.reap_stale_work\n"
        "does the same every 5 minutes.\n\n"
        "Examples:\n"
        "  python manage.py reap_stale_work --list\n"
        "  python manage.py reap_stale_work"
    )

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="List the reapers and exit.")

    def handle(self, *args, **options):
        if options["list"]:
            for reaper in reapers():
                self.stdout.write(f"{reaper.name:28} {reaper.description}")
            return
        results = reap_stale_work()
        self.stdout.write(f"{'reaper':28} outcome")
        for result in results:
            if result.error:
                outcome = f"failed ({result.error})"
            else:
                outcome = ", ".join(f"{key} {value}" for key, value in result.counts.items())
            self.stdout.write(f"{result.name:28} {outcome}")
        failed = [result.name for result in results if result.error]
        if failed:
            raise CommandError(f"{len(failed)} reaper(s) failed: {', '.join(failed)}; see the log.")
