"""Commits that do not wait for their WAL flush, for work that is safe to redo.

`synchronous_commit = off` makes a commit return before its WAL record is on disk: a database
crash may then forget the last fraction of a second of such commits (never part of one: each
transaction is kept or lost whole). It is worth it where a commit's flush costs more than the work
it records (a busy disk: docs/performance.md, `cleanup`) and where a forgotten commit is simply
done again: a retention batch whose rows are still due. Persona tasks used it too, until their
runs made few enough statements that the two to set and restore it cost what it saved.
"""

from contextlib import contextmanager

from django.db import DatabaseError, connections


@contextmanager
def commits_without_flush_wait(*, using: str = "default", enabled: bool = True):
    """`synchronous_commit = off` for this connection until the block ends (then what it was).

    Only on PostgreSQL and outside a transaction: inside one the setting would reach the caller's
    other writes, whose durability is theirs to choose."""
    connection = connections[using]
    if not enabled or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('synchronous_commit'), set_config('synchronous_commit', 'off', false)"
        )
        (previous, _off) = cursor.fetchone()
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [previous])
        except DatabaseError:
            # The connection broke in the block (its own error is on its way up): a broken
            # connection is discarded, and the setting with it.
            if connection.connection is not None and not connection.is_usable():
                connection.close()
            else:
                raise
