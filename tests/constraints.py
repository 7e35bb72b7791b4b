"""Asserting that a particular database constraint, and not some other, rejected a row."""

import re
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

_SQLITE_NAMED_CHECK = re.compile(r"CHECK constraint failed: (\w+)$")


def _declared_constraint_names() -> set[str]:
    return {constraint.name for model in apps.get_models() for constraint in model._meta.constraints}


@contextmanager
def violates(constraint: str):
    """Expect an IntegrityError from the named constraint, inside its own savepoint.

    PostgreSQL names the violated constraint in every message. SQLite names a check
    constraint (unless a column-level check such as PositiveIntegerField's fires first) but
    reports a unique one by its columns; there the name is checked when SQLite gives one.
    """
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    message = str(excinfo.value).strip()
    if connection.vendor == "postgresql":
        assert f'"{constraint}"' in message, f"expected {constraint!r} to be violated, got: {message}"
        return
    # SQLite reports a column-level check (PositiveIntegerField's) under the column's name.
    named = _SQLITE_NAMED_CHECK.search(message)
    if named and named.group(1) in _declared_constraint_names():
        assert named.group(1) == constraint, f"expected {constraint!r} to be violated, got: {message}"


def drop_column_check(model, field_name: str) -> None:
    """On PostgreSQL, drop the column's own check (a positive-integer field's `>= 0`).

    PostgreSQL tests check constraints in name order, so `<table>_<column>_check` fires before a
    named `ck_...` with the same condition; only without it can the named one be seen to work. The drop
    is DDL inside the test's transaction and is rolled back with it. SQLite cannot drop a check.
    """
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table
    column = model._meta.get_field(field_name).column
    declared = {constraint.name for constraint in model._meta.constraints}
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
        names = [
            name
            for name, info in found.items()
            if info["check"] and info["columns"] == [column] and name not in declared
        ]
        assert names, f"no column check on {table}.{column}"
        for name in names:
            quote = connection.ops.quote_name
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
