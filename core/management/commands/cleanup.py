"""`manage.py cleanup`: apply the retention policies (core.retention) batch by batch."""

import time

from django.core.management.base import CommandError
from django.utils import timezone

from core.audit import audit_log_write
from core.management.base import ProjectCommand
from core.retention import DEFAULT_BATCH_SIZE, policies, policy_run


class Command(ProjectCommand):
    help = (
        "Delete rows past their retention age, policy by policy, in batches of one short\n"
        "transaction each, and the stored files of the deleted rows once each batch commits.\n"
        "Every app declares its policies; --list shows them with the setting that holds each age\n"
        "(a policy whose setting is unset is off). A terminal gets a progress line per policy,\n"
        "other output one line per policy when it is done; a table of rows, seconds and files\n"
        "ends the run, and a maintenance.cleanup audit log row records it. A failing policy does\n"
        "not stop the others (the command then exits non-zero); a file the storage fails to\n"
        "delete is logged and counted. The schedule core.cleanup runs it daily.\n\n"
        "Examples:\n"
        "  python manage.py cleanup --list\n"
        "  python manage.py cleanup --dry-run\n"
        "  python manage.py cleanup --only accounts.sessions captions.images_rejected\n"
        "  python manage.py cleanup --batch-size 2000"
    )

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="List the policies and exit.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; change nothing.")
        parser.add_argument(
            "--only", nargs="+", action="extend", metavar="NAME", help="Run only these policies."
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Rows per batch (default 5000)."
        )

    def handle(self, *args, **options):
        known = policies()
        if options["list"]:
            for policy in known:
                age = policy.age()
                limit = f"{policy.setting}={'off (unset)' if age is None else age}" if policy.setting else ""
                self.stdout.write(f"{policy.name:36} {limit:42} {policy.description}")
            return
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1 (got {batch_size}).")
        selected = known
        if options["only"]:
            names = {policy.name for policy in known}
            unknown = [name for name in options["only"] if name not in names]
            if unknown:
                raise CommandError(
                    f"Unknown policy: {', '.join(unknown)}. Known: {', '.join(sorted(names))}."
                )
            selected = [policy for policy in known if policy.name in options["only"]]

        dry_run = options["dry_run"]
        now = timezone.now()
        results: dict[str, dict] = {}
        failed: list[str] = []
        for policy in selected:
            progress = PolicyProgress(self.stdout, name=policy.name, dry_run=dry_run)
            try:
                result = policy_run(
                    name=policy.name,
                    batch_size=batch_size,
                    dry_run=dry_run,
                    now=now,
                    progress=progress.update,
                )
            except Exception as exc:  # one policy's failure must not stop the rest
                progress.end()
                failed.append(policy.name)
                results[policy.name] = {"error": type(exc).__name__}
                self.stderr.write(f"{policy.name}: failed ({type(exc).__name__}: {exc})")
                continue
            if result.off:
                progress.off()
                results[policy.name] = {"off": True, "rows": 0}
                continue
            progress.done(rows=result.rows, seconds=result.seconds, files=result.files)
            results[policy.name] = {"rows": result.rows, "seconds": round(result.seconds, 3)}
            if result.files is not None:
                results[policy.name].update(files=result.files, files_failed=result.files_failed)

        self._summary(results, dry_run=dry_run)
        audit_log_write(
            action="maintenance.cleanup",
            resource_type="retention",
            details={"dry_run": dry_run, "batch_size": batch_size, "policies": results},
        )
        if failed:
            raise CommandError(f"{len(failed)} policies failed: {', '.join(failed)}.")

    def _summary(self, results: dict[str, dict], *, dry_run: bool) -> None:
        heading = "rows (would go)" if dry_run else "rows"
        self.stdout.write(f"{'policy':36} {heading:>16} {'seconds':>9} {'files deleted':>14}")
        total = files = failed = 0
        for name, outcome in results.items():
            if "error" in outcome:
                self.stdout.write(f"{name:36} {'failed':>16}")
                continue
            if outcome.get("off"):
                self.stdout.write(f"{name:36} {'off':>16}")
                continue
            total += outcome["rows"]
            cell = ""
            if "files" in outcome:
                files += outcome["files"]
                failed += outcome["files_failed"]
                cell = str(outcome["files"])
                if outcome["files_failed"]:
                    cell += f" ({outcome['files_failed']} failed)"
            self.stdout.write(
                f"{name:36} {outcome['rows']:>16} {outcome['seconds']:>9.3f} {cell:>14}".rstrip()
            )
        self.stdout.write(f"{'total':36} {total:>16} {'':>9} {files if not dry_run else '':>14}".rstrip())
        if failed:
            # The rows are gone: these files stay until someone removes them (their names are logged).
            self.stderr.write(
                f"{failed} stored files could not be deleted; their names are logged (core.stored_files)."
            )


class PolicyProgress:
    """On a terminal, one line per policy rewritten after every batch (rows so far, batches, time);
    elsewhere (cron, a log file) one plain line per policy when it is done."""

    WIDTH = 79

    def __init__(self, out, *, name: str, dry_run: bool):
        self.out = out
        self.name = name
        self.verb = "would go" if dry_run else "removed"
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.batches = 0
        self.shown = False

    def update(self, rows: int) -> None:
        self.batches += 1
        if self.tty:
            elapsed = time.monotonic() - self.started
            self._rewrite(
                f"{self.name:36} {rows:>10} rows {self.verb}, {self.batches} batches, {elapsed:.1f} s"
            )

    def done(self, *, rows: int, seconds: float, files: int | None = None) -> None:
        deleted = f", {files} files deleted" if files is not None else ""
        line = f"{self.name}: {rows} rows {self.verb}{deleted} in {seconds:.2f} s"
        if self.tty:
            self._rewrite(line)
            self.end()
        else:
            self.out.write(line)

    def off(self) -> None:
        line = f"{self.name}: off (its setting is unset)"
        if self.tty:
            self._rewrite(line)
            self.end()
        else:
            self.out.write(line)

    def end(self) -> None:
        """Finish the terminal's progress line, so what follows starts on a line of its own."""
        if self.shown:
            self.out.write("")
            self.shown = False

    def _rewrite(self, line: str) -> None:
        self.out.write("\r" + line.ljust(self.WIDTH), ending="")
        self.out.flush()
        self.shown = True
