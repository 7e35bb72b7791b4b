"""`manage.py cleanup`: apply the retention policies (core.retention) batch by batch."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services.audit import audit_log_write
from core.retention import DEFAULT_BATCH_SIZE, policies, policy_run


class Command(BaseCommand):
    help = "Delete rows past their retention age (see --list), in batches, one transaction each."

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
                limit = f"{policy.setting}={policy.age()}" if policy.setting else ""
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
            try:
                result = policy_run(
                    name=policy.name,
                    batch_size=batch_size,
                    dry_run=dry_run,
                    now=now,
                    progress=self._progress(policy.name),
                )
            except Exception as exc:  # one policy's failure must not stop the rest
                failed.append(policy.name)
                results[policy.name] = {"error": type(exc).__name__}
                self.stderr.write(f"{policy.name}: failed ({type(exc).__name__}: {exc})")
                continue
            results[policy.name] = {"rows": result.rows, "seconds": round(result.seconds, 3)}

        self._summary(results, dry_run=dry_run)
        audit_log_write(
            action="maintenance.cleanup",
            resource_type="retention",
            details={"dry_run": dry_run, "batch_size": batch_size, "policies": results},
        )
        if failed:
            raise CommandError(f"{len(failed)} policies failed: {', '.join(failed)}.")

    def _progress(self, name: str):
        if not self.stdout.isatty():
            return None

        def report(rows: int) -> None:
            self.stdout.write(f"  {name}: {rows} rows removed so far")

        return report

    def _summary(self, results: dict[str, dict], *, dry_run: bool) -> None:
        heading = "rows (would go)" if dry_run else "rows"
        self.stdout.write(f"{'policy':36} {heading:>16} {'seconds':>9}")
        total = 0
        for name, outcome in results.items():
            if "error" in outcome:
                self.stdout.write(f"{name:36} {'failed':>16} {'':>9}")
                continue
            total += outcome["rows"]
            self.stdout.write(f"{name:36} {outcome['rows']:>16} {outcome['seconds']:>9.3f}")
        self.stdout.write(f"{'total':36} {total:>16}")
