"""Row locks for the services' read-check-write steps.

A service that checks a row's state before changing it must check the row as it is now, not as
the caller loaded it: it reads the row again with SELECT ... FOR UPDATE inside its transaction, so
two requests changing the same row take turns. One helper, so every service does it the same way.
"""

from collections.abc import Sequence
from typing import TypeVar

from django.db.models import Model

M = TypeVar("M", bound=Model)


def row_lock(*, row: M, related: Sequence[str] = ()) -> M:
    """Lock `row` until the transaction ends and return it read again (with `related` joined and,
    on PostgreSQL, locked too). Must run inside `transaction.atomic()`; a row deleted meanwhile
    raises the model's DoesNotExist."""
    queryset = type(row)._default_manager.select_for_update()
    if related:
        queryset = queryset.select_related(*related)
    return queryset.get(pk=row.pk)
