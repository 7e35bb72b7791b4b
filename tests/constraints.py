"""Asserting that a particular database constraint, and not some other, rejected a row."""

import re
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction

_SQLITE_NAMED_CHECK = re.compile(r"CHECK constraint failed: (\w+)$")


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
    named = _SQLITE_NAMED_CHECK.search(message)
    if named:
        assert named.group(1) == constraint, f"expected {constraint!r} to be violated, got: {message}"
