"""core.queue_broker: django-q2's ORM broker with a one-statement dequeue on PostgreSQL."""

import queue
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.pusher import pusher
from django_q.signing import SignedPackage

from core.queue_broker import DatabaseBroker, notify_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(Conf, "BULK", 2)
    monkeypatch.setattr(Conf, "RETRY", 360)
    return DatabaseBroker(list_key="socialdesk")


def queued(*, key: str = "socialdesk", lock=None, name: str = "task") -> OrmQ:
    task = {"id": name, "name": name, "func": "math.floor", "args": (1.5,), "kwargs": {}}
    payload = SignedPackage.dumps(task)
    return OrmQ.objects.create(key=key, payload=payload, lock=lock or timezone.now() - timedelta(seconds=1))


def test_the_cluster_uses_it():
    assert isinstance(get_broker(), DatabaseBroker)


def test_dequeue_hands_out_the_oldest_due_rows_of_its_cluster_and_locks_them_for_the_retry_time(broker):
    first, second, third = queued(name="first"), queued(name="second"), queued(name="third")
    held = queued(name="held", lock=timezone.now() + timedelta(minutes=5))
    other = queued(name="other", key="another-cluster")

    before = timezone.now()
    handed = broker.dequeue()

    assert [pk for pk, _payload in handed] == [first.pk, second.pk]  # bulk 2, oldest first
    assert [SignedPackage.loads(payload)["name"] for _pk, payload in handed] == ["first", "second"]
    for row in (first, second):
        row.refresh_from_db()
        assert before + timedelta(seconds=359) < row.lock <= timezone.now() + timedelta(seconds=360)
    for row in (third, held, other):
        lock = row.lock
        row.refresh_from_db()
        assert row.lock == lock
    # the locked rows are not handed out again until their lock expires
    assert [pk for pk, _payload in broker.dequeue()] == [third.pk]


def test_an_empty_queue_waits_the_poll_interval_and_hands_out_nothing(broker, monkeypatch):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL waits on a NOTIFY instead (the tests below)")
    slept = []
    monkeypatch.setattr("django_q.brokers.orm.sleep", slept.append)
    monkeypatch.setattr(Conf, "POLL", 0.25)
    queued(key="another-cluster")

    assert not broker.dequeue()
    assert slept == [0.25]


def test_django_q2s_pusher_queues_what_it_hands_out(broker):
    first, second = queued(name="first"), queued(name="second")
    tasks = queue.Queue()
    done = threading.Event()
    done.set()  # one pass

    pusher(tasks, done, broker=broker)

    pushed = [tasks.get_nowait(), tasks.get_nowait()]
    assert [(task["ack_id"], task["name"]) for task in pushed] == [(first.pk, "first"), (second.pk, "second")]
    broker.acknowledge(first.pk)
    assert list(OrmQ.objects.values_list("pk", flat=True)) == [second.pk]


def test_acknowledge_deletes_its_row_only(broker):
    done, other = queued(name="done"), queued(name="other")
    broker.acknowledge(done.pk)
    broker.acknowledge(done.pk)  # twice (a task delivered again): nothing else goes
    assert list(OrmQ.objects.values_list("pk", flat=True)) == [other.pk]


@pytest.mark.django_db(transaction=True)
def test_acknowledge_is_one_statement_outside_a_transaction(broker):
    row = queued(name="done")
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    broker.acknowledge(row.pk)  # the statement is built once per process
    row = queued(name="again")
    with connection.execute_wrapper(record):
        broker.acknowledge(row.pk)

    assert len(seen) == 1
    sql, in_transaction = seen[0]
    assert sql.startswith("DELETE") and not in_transaction
    assert not OrmQ.objects.exists()


@pytest.mark.postgres
def test_on_postgresql_a_dequeue_is_one_statement_after_one_connection_check(broker):
    queued(name="first"), queued(name="second")
    broker.dequeue()  # the statement is built once per process
    queued(name="third"), queued(name="fourth")

    with CaptureQueriesContext(connection) as statements:
        assert len(broker.dequeue()) == 2

    assert len(statements) == 1
    assert "FOR UPDATE SKIP LOCKED" in statements[0]["sql"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_row_another_pusher_is_locking_is_skipped_not_waited_for(broker):
    first, second, third = queued(name="first"), queued(name="second"), queued(name="third")
    locked, release = threading.Event(), threading.Event()

    def another_pusher():
        try:
            with transaction.atomic():
                OrmQ.objects.select_for_update().get(pk=first.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=another_pusher)
    thread.start()
    try:
        assert locked.wait(10)
        assert [pk for pk, _payload in broker.dequeue()] == [second.pk, third.pk]
    finally:
        release.set()
        thread.join(10)
    assert [pk for pk, _payload in broker.dequeue()] == [first.pk]


def payload(name: str) -> str:
    return SignedPackage.dumps({"id": name, "name": name, "func": "math.floor", "args": (1.5,), "kwargs": {}})


def test_enqueue_queues_a_due_row_for_its_cluster(broker):
    pk = broker.enqueue(payload("queued"))

    row = OrmQ.objects.get(pk=pk)
    assert (row.key, SignedPackage.loads(row.payload)["name"]) == ("socialdesk", "queued")
    assert row.lock <= timezone.now()
    assert [pk for pk, _payload in broker.dequeue()] == [row.pk]


@pytest.mark.postgres
def test_on_postgresql_an_enqueue_is_one_statement_that_also_notifies(broker):
    broker.enqueue(payload("first"))  # the statement is built once per process

    with CaptureQueriesContext(connection) as statements:
        broker.enqueue(payload("second"))

    assert len(statements) == 1
    assert "pg_notify" in statements[0]["sql"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_an_empty_queue_listens_and_waits_at_most_the_poll_interval(broker, monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 0.05)
    queued(key="another-cluster")

    assert broker.dequeue() is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_listening_channels()")
        assert [row[0] for row in cursor.fetchall()] == [notify_channel("socialdesk")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_waiting_pusher_takes_a_task_when_it_is_committed_not_after_the_poll(
    broker, monkeypatch
):
    # With a poll of a minute, only the NOTIFY can end the wait within the test's patience.
    monkeypatch.setattr(Conf, "POLL", 60)
    handed = []
    waiting = threading.Event()
    await_work = DatabaseBroker._await_work

    def signalled_await_work(self, connection):
        waiting.set()  # listening already: a NOTIFY from now on reaches this connection
        return await_work(self, connection)

    monkeypatch.setattr(DatabaseBroker, "_await_work", signalled_await_work)

    def waiting_pusher():
        try:
            handed.append(DatabaseBroker(list_key="socialdesk").dequeue())
        finally:
            connections.close_all()

    thread = threading.Thread(target=waiting_pusher)
    thread.start()
    try:
        assert waiting.wait(10), "the pusher never waited"
        with transaction.atomic():
            pk = broker.enqueue(payload("urgent"))
            assert thread.is_alive()  # not before the commit: the row is not visible yet
    finally:
        thread.join(20)
    assert not thread.is_alive()
    assert [[row_pk for row_pk, _payload in rows] for rows in handed] == [[pk]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_task_queued_just_before_the_first_listen_does_not_wait_for_the_poll(
    broker, monkeypatch
):
    # Queued after the pusher found nothing and before it listened: its NOTIFY reached nobody.
    monkeypatch.setattr(Conf, "POLL", 60)
    listen = DatabaseBroker._listen
    queued_meanwhile = []

    def listen_after_a_task_is_queued(self, connection):
        if not queued_meanwhile:
            queued_meanwhile.append(broker.enqueue(payload("meanwhile")))  # autocommit: committed
        return listen(self, connection)

    monkeypatch.setattr(DatabaseBroker, "_listen", listen_after_a_task_is_queued)
    handed = []

    def pusher():
        try:
            handed.append(DatabaseBroker(list_key="socialdesk").dequeue())
        finally:
            connections.close_all()

    thread = threading.Thread(target=pusher, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the task waited for the poll interval"
    assert [[row_pk for row_pk, _payload in rows] for rows in handed] == [queued_meanwhile]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_notices_from_a_busy_queue_do_not_pile_up(broker, monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 0.05)
    assert broker.dequeue() is None  # now listening
    for name in ("first", "second", "third"):
        broker.enqueue(payload(name))  # each one notifies this connection too

    assert len(broker.dequeue()) == 2

    assert list(connection.connection.notifies(timeout=0)) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_broker_unpickled_in_a_spawned_process_still_waits_and_listens(monkeypatch):
    import pickle

    monkeypatch.setattr(Conf, "POLL", 0.05)
    broker = pickle.loads(pickle.dumps(DatabaseBroker(list_key="socialdesk")))  # noqa: S301 (our own bytes)

    assert broker.dequeue() is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_listening_channels()")
        assert [row[0] for row in cursor.fetchall()] == [notify_channel("socialdesk")]


def test_the_channel_is_a_short_plain_identifier_whatever_the_cluster_name():
    for name in ("socialdesk", "x" * 200, "clüster name; DROP TABLE"):
        channel = notify_channel(name)
        assert len(channel.encode()) < 64 and channel.isidentifier() and channel == channel.lower()
    assert notify_channel("one") != notify_channel("two")
