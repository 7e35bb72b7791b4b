"""core.commits: commits that do not wait for their WAL flush, only where asked and only for a while."""

import pytest
from django.db import connection, transaction

from core.commits import commits_without_flush_wait


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_off_inside_the_block_and_what_it_was_after_even_on_an_error():
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = local")
    with commits_without_flush_wait():
        assert _setting() == "off"
    assert _setting() == "local"
    with pytest.raises(ZeroDivisionError), commits_without_flush_wait():
        1 / 0  # noqa: B018
    assert _setting() == "local"
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_callers_transaction_and_a_disabled_block_keep_their_durability():
    with transaction.atomic(), commits_without_flush_wait():
        assert _setting() == "on"
    with commits_without_flush_wait(enabled=False):
        assert _setting() == "on"


@pytest.mark.django_db
def test_other_databases_run_the_block_unchanged():
    ran = []
    with commits_without_flush_wait():
        ran.append(True)
    assert ran == [True]
