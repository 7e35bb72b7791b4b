from datetime import timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from core.archive import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_OLDER_THAN_DAYS,
    MAX_BATCH_SIZE,
    BatchRun,
    archive_policies,
    batches_run,
)
from core.audit import audit_log_write
from core.management.base import ProjectCommand

MAX_OLDER_THAN_DAYS = 36_500


class Command(ProjectCommand):
    help = (
        "Archive what has aged out of the working set, in atomic batches; safe to re-run.\n\n"
        "Completed workflows idle (not updated) for more than --older-than days move to status\n"
        "'archived'; generated images created more than --older-than days ago move into\n"
        "generated_images_archive (same id, same columns, plus archived_at). A failed run leaves\n"
        "every row in exactly one table; running it again continues where it stopped.\n\n"
        "A terminal gets a progress bar per policy, other output one line per policy when it is\n"
        "done; a table (rows, batches, seconds) ends the run, and a maintenance.archive audit log\n"
        "row records it. The schedule core.archive runs it daily.\n\n"
        "Examples:\n"
        "  python manage.py archive --dry-run\n"
        "  python manage.py archive --older-than 180 --batch-size 2000"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would move; change nothing.")
        parser.add_argument(
            "--older-than",
            type=int,
            default=DEFAULT_OLDER_THAN_DAYS,
            metavar="DAYS",
            help=f"Age in days past which rows are archived (default {DEFAULT_OLDER_THAN_DAYS}).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Rows per batch, 1 to {MAX_BATCH_SIZE} (default {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args, dry_run: bool, older_than: int, batch_size: int, **options):
        if not 1 <= older_than <= MAX_OLDER_THAN_DAYS:
            raise CommandError(
                f"--older-than must be between 1 and {MAX_OLDER_THAN_DAYS} days, got {older_than}."
            )
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}.")

        cutoff = timezone.now() - timedelta(days=older_than)
        results: dict[str, BatchRun] = {}
        error: Exception | None = None
        for policy in archive_policies():
            due = policy.count(cutoff)
            if dry_run:
                results[policy.name] = BatchRun(rows=due)
                continue
            try:
                results[policy.name] = self._run_policy(policy, cutoff, batch_size, due)
            except Exception as exc:  # audited and reported below, then the command fails
                error = exc
                break

        self._summary(results, dry_run=dry_run)
        audit_log_write(
            action="maintenance.archive",
            resource_type="maintenance",
            details={
                "dry_run": dry_run,
                "older_than_days": older_than,
                "batch_size": batch_size,
                "cutoff": cutoff.isoformat(),
                "policies": {
                    name: {"rows": run.rows, "batches": run.batches, "seconds": round(run.seconds, 3)}
                    for name, run in results.items()
                },
                **({"error": f"{type(error).__name__}: {error}"} if error else {}),
            },
        )
        if error is not None:
            raise CommandError(
                f"Archiving stopped: {type(error).__name__}: {error}. Batches already done are kept; "
                "run the command again to continue."
            ) from error

    def _run_policy(self, policy, cutoff, batch_size: int, due: int) -> BatchRun:
        tty = self.stdout.isatty()

        def progress(run: BatchRun) -> None:
            if tty:
                done = min(run.rows, due) if due else run.rows
                width = 30
                filled = width * done // due if due else width
                self.stdout.write(
                    f"\r{policy.name:<18} [{'#' * filled}{'.' * (width - filled)}] {run.rows}/{due}",
                    ending="",
                )
                self.stdout.flush()

        run = batches_run(step=policy.batches(cutoff), batch_size=batch_size, on_batch=progress)
        if tty and run.rows:
            self.stdout.write("")
        elif not tty:
            self.stdout.write(
                f"{policy.name}: {run.rows} rows archived in {run.batches} batches, {run.seconds:.2f} s"
            )
        return run

    def _summary(self, results: dict[str, BatchRun], *, dry_run: bool) -> None:
        heading = "would archive" if dry_run else "archived"
        self.stdout.write(f"{'policy':<18} {heading:>14} {'batches':>8} {'seconds':>9}")
        for name, run in results.items():
            self.stdout.write(f"{name:<18} {run.rows:>14} {run.batches:>8} {run.seconds:>9.2f}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
