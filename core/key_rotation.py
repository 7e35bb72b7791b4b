"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS.

Used by `manage.py rotate_encryption_key`. Every concrete `EncryptedTextField` of every installed
model is found by introspection (platform credentials, sensitive `SystemConfig` values, and any
added later), then read in primary-key order, `batch_size` rows at a time, straight from the
column (the ORM would decrypt it).

Why it is safe to stop and run again:
- A value the first key alone already decrypts is left as it is ("current"), so a second run
  writes nothing and a run cut short resumes where it stopped.
- Each batch is one short transaction; a row's update is conditional on its ciphertext being the
  one read, so a secret the application changed meanwhile is not overwritten with an older value
  (it was written with the first key anyway).
- A value no configured key decrypts is counted as "unreadable" and left untouched: the old key
  must not be removed while any remain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction

from core import crypto
from core.fields import EncryptedTextField

DEFAULT_BATCH_SIZE = 1000


@dataclass
class FieldRotation:
    """Counts for one model field."""

    model: str  # "app_label.ModelName"
    field: str
    scanned: int = 0
    rotated: int = 0  # re-encrypted with the first key (or, in a dry run, would be)
    current: int = 0  # already encrypted with the first key
    unreadable: int = 0  # no configured key decrypts it
    changed_meanwhile: int = 0  # rewritten by the application between read and update


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every concrete EncryptedTextField of every installed, managed, non-proxy model."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        for field in meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return sorted(found, key=lambda pair: (pair[0]._meta.label, pair[1].name))


def _raw_batches(model, field, *, batch_size: int) -> Iterator[list[tuple]]:
    """(pk, ciphertext) rows with a non-null value, in primary-key order (keyset pagination)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk_col = quote(model._meta.pk.column)
    col = quote(field.column)
    last = None
    while True:
        where = f"{col} IS NOT NULL" + (f" AND {pk_col} > %s" if last is not None else "")
        sql = f"SELECT {pk_col}, {col} FROM {table} WHERE {where} ORDER BY {pk_col} LIMIT %s"  # noqa: S608
        params = ([last] if last is not None else []) + [batch_size]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _is_current(primary: Fernet, token: str) -> bool:
    try:
        primary.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def field_rotate(
    *,
    model: type[models.Model],
    field: EncryptedTextField,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Callable[[FieldRotation], None] | None = None,
) -> FieldRotation:
    """Re-encrypt one field's values that the first key cannot read; counts per outcome."""
    primary = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode("ascii"))
    result = FieldRotation(model=model._meta.label, field=field.name)
    quote = connection.ops.quote_name
    update_sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {quote(field.column)} = %s "  # noqa: S608
        f"WHERE {quote(model._meta.pk.column)} = %s AND {quote(field.column)} = %s"
    )
    for rows in _raw_batches(model, field, batch_size=batch_size):
        updates = []
        for pk, token in rows:
            result.scanned += 1
            if _is_current(primary, token):
                result.current += 1
                continue
            try:
                updates.append((crypto.rotate(token), pk, token))
            except crypto.DecryptionError:
                result.unreadable += 1
        if dry_run:
            result.rotated += len(updates)
        elif updates:
            with transaction.atomic(), connection.cursor() as cursor:
                for params in updates:
                    cursor.execute(update_sql, params)
                    if cursor.rowcount == 1:
                        result.rotated += 1
                    else:
                        result.changed_meanwhile += 1
        if progress is not None:
            progress(result)
    return result


def encryption_key_rotate(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Callable[[FieldRotation], None] | None = None,
) -> list[FieldRotation]:
    """Rotate every encrypted field of every model; one FieldRotation per model field."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    return [
        field_rotate(model=model, field=field, batch_size=batch_size, dry_run=dry_run, progress=progress)
        for model, field in encrypted_fields()
    ]
