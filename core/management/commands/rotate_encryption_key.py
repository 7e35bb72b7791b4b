import argparse

from django.conf import settings
from django.core.management.base import CommandError

from core.audit import audit_log_write
from core.key_rotation import DEFAULT_BATCH_SIZE, FieldRotation, encrypted_fields, field_rotate
from core.management.base import ProjectCommand

COLUMNS = ("model", "field", "scanned", "rotated", "current", "unreadable", "changed")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


class Command(ProjectCommand):
    help = (
        "Re-encrypt every encrypted field and sensitive system setting with the first key of\n"
        "FIELD_ENCRYPTION_KEYS, in batches by primary key. Safe to stop and run again: values\n"
        "already under the first key are left alone. When it reports no 'rotated' or 'unreadable'\n"
        "values left, the old keys can be removed from FIELD_ENCRYPTION_KEYS.\n\n"
        "A terminal gets a progress line per field, other output one line per field when it is\n"
        "done; a table of the counts per model and field ends the run.\n\n"
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
        # Field by field (not encryption_key_rotate) so each field's progress line can be finished.
        results = [
            self._rotate_field(model, field, batch_size=batch_size, dry_run=dry_run)
            for model, field in encrypted_fields()
        ]
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

    def _rotate_field(self, model, field, *, batch_size: int, dry_run: bool) -> FieldRotation:
        label = f"{model._meta.label}.{field.name}"
        tty = self.stdout.isatty()
        verb = "would re-encrypt" if dry_run else "re-encrypted"

        def progress(counts: FieldRotation) -> None:
            if tty:
                line = f"{label}: {counts.scanned} scanned, {counts.rotated} {verb}"
                self.stdout.write("\r" + line.ljust(79), ending="")
                self.stdout.flush()

        result = field_rotate(
            model=model, field=field, batch_size=batch_size, dry_run=dry_run, progress=progress
        )
        done = f"{label}: {result.scanned} scanned, {result.rotated} {verb}"
        self.stdout.write(("\r" + done.ljust(79)) if tty else done)
        return result

    def _table(self, rows: list[tuple]) -> None:
        cells = [COLUMNS, *[tuple(str(cell) for cell in row) for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        for row in cells:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
