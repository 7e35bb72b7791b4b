"""The django-q2 broker: its ORM broker, with one statement per dequeue on PostgreSQL and one per
acknowledgement.

django-q2's `ORM.dequeue` reads up to `bulk` queued rows and then locks them one UPDATE at a time,
and every statement it makes first re-checks the connection (`close_old_connections`, which with
CONN_HEALTH_CHECKS costs a `SELECT 1`): 2 + 2 * bulk round trips to hand out `bulk` tasks. On a
queue of short tasks the pusher spends most of its time there (benchmark `queue_drain`).

On PostgreSQL `dequeue` is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING`, after one connection check: the same rows (queued for this cluster, lock expired),
locked for the same `retry` seconds, oldest first, and two clusters never take the same row (the
inner SELECT skips rows another pusher has locked and not yet committed). Everything else, and
every other database, is django-q2's own code.

`acknowledge` (the monitor deletes a task's queued row once its result is saved) is one `DELETE`
in autocommit after the same connection check: django-q2 deletes through the ORM's collector,
inside a transaction, so `BEGIN`, `DELETE`, `COMMIT`: three round trips where one does, for every
task the cluster runs, in the monitor, the one process every result passes through.
"""

from datetime import timedelta
from functools import cache
from time import sleep

from django import db
from django.db import connections, transaction
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from core.sql import names


@cache
def _dequeue_sql(vendor: str) -> str:
    del vendor  # the cache key: the statement is quoted for one backend
    queue = names(OrmQ, using=Conf.ORM)
    # The model's own table and column names only; every value is a parameter.
    return (
        f"UPDATE {queue.table} SET {queue['lock']} = %s WHERE {queue['id']} IN ("  # noqa: S608
        f"SELECT {queue['id']} FROM {queue.table} WHERE {queue['key']} = %s AND {queue['lock']} < %s "
        f"ORDER BY {queue['id']} LIMIT %s FOR UPDATE SKIP LOCKED"
        f") RETURNING {queue['id']}, {queue['payload']}"
    )


@cache
def _acknowledge_sql(vendor: str) -> str:
    del vendor  # the cache key: the statement is quoted for one backend
    queue = names(OrmQ, using=Conf.ORM)
    return f"DELETE FROM {queue.table} WHERE {queue['id']} = %s"  # noqa: S608 (the model's own names)


class DatabaseBroker(ORM):
    def acknowledge(self, task_id):
        if transaction.get_autocommit(using=Conf.ORM):
            db.close_old_connections()
        connection = connections[Conf.ORM]
        with connection.cursor() as cursor:
            cursor.execute(_acknowledge_sql(connection.vendor), [task_id])

    def dequeue(self):
        connection = connections[Conf.ORM]
        if connection.vendor != "postgresql":
            return super().dequeue()
        if transaction.get_autocommit(using=Conf.ORM):
            db.close_old_connections()
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _dequeue_sql(connection.vendor),
                [now + timedelta(seconds=Conf.RETRY), self.list_key, now, Conf.BULK],
            )
            rows = cursor.fetchall()
        if rows:
            # RETURNING keeps no order; hand them out oldest first, as they were queued.
            return sorted(rows)
        # An empty queue: spare the CPU, as django-q2 does.
        sleep(Conf.POLL)
        return None
