import argparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services.audit import audit_log_write
from core.key_rotation import DEFAULT_BATCH_SIZE, encryption_key_rotate

COLUMNS = ("model", "field", "scanned", "rotated", "current", "unreadable", "changed")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field and sensitive system setting with the first key of\n"
        "FIELD_ENCRYPTION_KEYS, in batches by primary key. Safe to stop and run again: values\n"
        "already under the first key are left alone. When it reports no 'rotated' or 'unreadable'\n"
        "values left, the old keys can be removed from FIELD_ENCRYPTION_KEYS.\n\n"
        "Examples:\n"
        "  FIELD_ENCRYPTION_KEYS=new,old python manage.py rotate_encryption_key --dry-run\n"
        "  FIELD_ENCRYPTION_KEYS=new,old python manage.py rotate_encryption_key --batch-size 500"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would change; write nothing")
        parser.add_argument(
            "--batch-size",
            type=_positive_int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows read and updated per transaction (default {DEFAULT_BATCH_SIZE})",
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        results = encryption_key_rotate(batch_size=batch_size, dry_run=dry_run)
        rows = [
            (r.model, r.field, r.scanned, r.rotated, r.current, r.unreadable, r.changed_meanwhile)
            for r in results
        ]
        self._table(rows)
        rotated = sum(r.rotated for r in results)
        unreadable = sum(r.unreadable for r in results)
        if dry_run:
            self.stdout.write(f"Dry run: {rotated} value(s) would be re-encrypted; nothing was written.")
        else:
            self.stdout.write(f"Re-encrypted {rotated} value(s) with the first key.")
            audit_log_write(
                action="encryption_key.rotated",
                resource_type="encryption_key",
                details={
                    "keys_configured": len(settings.FIELD_ENCRYPTION_KEYS),
                    "batch_size": batch_size,
                    "fields": [
                        {"model": r.model, "field": r.field, "rotated": r.rotated, "unreadable": r.unreadable}
                        for r in results
                    ],
                },
            )
        if unreadable:
            raise CommandError(
                f"{unreadable} value(s) could not be decrypted with any configured key and were left "
                "as they are. Do not remove an old key until they are dealt with."
            )
        if dry_run:
            return
        if any(r.changed_meanwhile for r in results):
            # Another process wrote those values meanwhile, possibly still configured with the old key.
            self.stdout.write("Some values changed while this ran: run the command again to check them.")
        elif len(settings.FIELD_ENCRYPTION_KEYS) > 1:
            self.stdout.write("Every value now reads with the first key alone; the old keys can be removed.")

    def _table(self, rows: list[tuple]) -> None:
        cells = [COLUMNS, *[tuple(str(cell) for cell in row) for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        for row in cells:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
