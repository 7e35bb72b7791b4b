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

On PostgreSQL an idle pusher does not sleep the poll interval blind: `enqueue` inserts the row and
sends a NOTIFY on the cluster's channel in one statement (delivered when the enqueuing transaction
commits, so never before the row is visible), and a `dequeue` that found nothing waits on its
connection for that NOTIFY, at most `poll` seconds, then takes the row at once. A task queued on an
idle cluster starts in milliseconds instead of half a poll interval on average; the poll interval
remains the bound for what sends no NOTIFY (a lock that expired, a row written by other code). A
connection's first LISTEN is followed by another take before any wait: a task queued between the
take that found nothing and the LISTEN sent its NOTIFY to nobody.
"""

import hashlib
from datetime import timedelta
from functools import cache

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
def _enqueue_sql(vendor: str) -> str:
    del vendor  # the cache key: the statement is quoted for one backend
    queue = names(OrmQ, using=Conf.ORM)
    return (
        f"WITH queued AS (INSERT INTO {queue.table} ({queue['key']}, {queue['payload']}, {queue['lock']}) "  # noqa: S608
        f"VALUES (%s, %s, %s) RETURNING {queue['id']}) SELECT {queue['id']}, pg_notify(%s, '') FROM queued"
    )


def notify_channel(list_key: str) -> str:
    """The cluster's NOTIFY channel: a plain identifier (no quoting) well under PostgreSQL's 63
    bytes, whatever the cluster's name."""
    return "django_q_" + hashlib.sha256(list_key.encode()).hexdigest()[:16]


@cache
def _acknowledge_sql(vendor: str) -> str:
    del vendor  # the cache key: the statement is quoted for one backend
    queue = names(OrmQ, using=Conf.ORM)
    return f"DELETE FROM {queue.table} WHERE {queue['id']} = %s"  # noqa: S608 (the model's own names)


class DatabaseBroker(ORM):
    # The psycopg connection this broker LISTENs on. A class attribute: django-q2 pickles a broker
    # into a spawned process with its list key only (Broker.__getstate__), and no __init__ runs.
    _listening_on = None

    def enqueue(self, task):
        connection = connections[Conf.ORM]
        if connection.vendor != "postgresql":
            return super().enqueue(task)
        if transaction.get_autocommit(using=Conf.ORM):
            db.close_old_connections()
        key = self.list_key or Conf.CLUSTER_NAME
        with connection.cursor() as cursor:
            cursor.execute(_enqueue_sql(connection.vendor), [key, task, timezone.now(), notify_channel(key)])
            return cursor.fetchone()[0]

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
        rows = self._take(connection)
        if not rows and self._listen(connection):
            # A task queued between the take and the LISTEN sent its NOTIFY to nobody.
            rows = self._take(connection)
        if not rows and self._await_work(connection):
            rows = self._take(connection)
        if not rows:
            return None
        self._forget_notices(connection)
        # RETURNING keeps no order; hand them out oldest first, as they were queued.
        return sorted(rows)

    def _take(self, connection) -> list:
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _dequeue_sql(connection.vendor),
                [now + timedelta(seconds=Conf.RETRY), self.list_key, now, Conf.BULK],
            )
            return cursor.fetchall()

    def _listen(self, connection) -> bool:
        """LISTEN on the cluster's channel unless this connection already does; True when it just
        started to (the caller takes again before waiting)."""
        raw = connection.connection
        if self._listening_on is raw:
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {notify_channel(self.list_key)}")
        self._listening_on = raw
        return True

    def _await_work(self, connection) -> bool:
        """Wait on the connection, which listens, for a NOTIFY of a queued task, at most the poll
        interval. True when one came."""
        return bool(list(connection.connection.notifies(timeout=Conf.POLL, stop_after=1)))

    def _forget_notices(self, connection) -> None:
        """Drop the NOTIFYs that arrived while the pusher was busy. psycopg keeps them for the next
        wait, which a busy queue never reaches: they would pile up by one per task queued. Safe:
        the pusher dequeues again before it waits again, and sees those tasks then."""
        raw = connection.connection
        if self._listening_on is raw:
            list(raw.notifies(timeout=0))
