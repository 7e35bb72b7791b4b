"""queue_drain: how fast a django-q2 cluster of 2 workers drains the project's own background jobs,
against the same cluster draining no-op tasks.

Baseline: N django-q2 tasks whose function is `noop` below (returns its argument), queued with
`async_task`. Ours: N persona tasks (`generation.tasks.run_avatar_task`, queued by the service's
own `_queue`, the path `avatar_task_create` takes after commit) whose work is already done: each
task row is pending with one persona that already holds its images, so the run goes through what
the job wrapper does for every task (claim pending -> generating-data with attempts + 1, read what
is left, completed with the data step's count and the last heartbeat) and nothing else; no writer
or image backend is even built. Persona tasks are the fit because their wrapper covers two steps
and can find both done; the other apps' tasks need a fake outside service to have "nothing to do". After every
run all N tasks must be `completed` with their personas' images untouched (no backend was
called), and the queue empty with no failure saved (with `ack_failures` a failed task is
acknowledged too, so an empty queue alone proves nothing).

Both sides are drained by the project's Q_CLUSTER (bench.settings: the ORM broker on the scratch
database, `workers` and every other option as configured) through an in-process
`django_q.cluster.Cluster`, forked from this process after its connection is closed, so both
start equally warm (imports done, nothing compiled per child). Fair by construction: the same
broker, the same options, the same number of rows queued before the cluster starts.

Each run starts from what a running deployment holds: RETENTION_Q_SUCCESS_KEEP success records
(the daily cleanup's steady state), which django-q2 reads when it prunes by `save_limit` itself.

Measured: wall time from `Cluster.start()` (forking sentinel, workers, pusher and monitor; a few
ms, the same for both) until this process sees the queue empty. The monitor acknowledges (deletes)
a queued row only after saving its result, so an empty queue means every result is saved. Polled
every 10 ms with one indexed EXISTS. The rate is N / that time. Rounds alternate which side goes
first, each on a freshly queued set; the best round of each counts.

Targets: ours at least 0.85x the no-op rate (0.7x until issue 23); the no-op rate itself at least
300 tasks/s.
"""

import signal
import statistics
import time

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.report import emit

RAW_FLOOR = 300.0
RATIO_TARGET = 0.85
POLL_SECONDS = 0.01
IMAGES_PER_PERSONA = 4


def noop(number: int) -> int:
    """The baseline's task: nothing to do."""
    return number


def _broker():
    from django_q.brokers import get_broker

    return get_broker()


def _queue_empty(*, list_key: str) -> bool:
    from django_q.models import OrmQ

    return not OrmQ.objects.filter(key=list_key).exists()


def _results_reset(*, history: int = 0) -> None:
    """An empty queue and `history` success records: what the daily cleanup leaves in a running
    deployment (RETENTION_Q_SUCCESS_KEEP), which django-q2's own `save_limit` pruning reads."""
    from django_q.humanhash import uuid
    from django_q.models import OrmQ, Task

    OrmQ.objects.all().delete()
    Task.objects.all().delete()
    now = timezone.now()
    tags = (uuid() for _ in range(history))
    Task.objects.bulk_create(
        Task(
            id=tag[1],
            name=tag[0],
            func="bench.queue_drain.noop",
            args=(number,),
            kwargs={},
            started=now,
            stopped=now,
            result=number,
            group="bench-history",
            success=True,
            attempt_count=1,
        )
        for number, tag in enumerate(tags)
    )


def _drain(*, count: int) -> float:
    """Start a cluster, wait until the queue is empty, stop it; the seconds from start to empty."""
    from django_q.cluster import Cluster

    broker = _broker()
    # The cluster forks: a connection open here would be shared with the children, and a child
    # closing it would close ours.
    connections.close_all()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    cluster = Cluster(broker)  # installs its own SIGTERM/SIGINT handlers on this process
    deadline = time.monotonic() + 60 + count / 20
    try:
        started = time.monotonic()
        cluster.start()
        while not _queue_empty(list_key=broker.list_key):
            if time.monotonic() > deadline:
                raise RuntimeError(f"queue_drain: {count} tasks not drained in {deadline - started:.0f} s")
            time.sleep(POLL_SECONDS)
        elapsed = time.monotonic() - started
    finally:
        connections.close_all()
        cluster.stop()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return elapsed


def _failures_check(*, side: str) -> None:
    from django_q.models import Failure

    failed = Failure.objects.count()
    if failed:
        first = Failure.objects.values_list("func", "result").first()
        raise RuntimeError(f"queue_drain {side}: {failed} task(s) failed, e.g. {first}")


# --- the baseline --------------------------------------------------------------------------------


def _baseline_queue(*, count: int) -> None:
    from django_q.tasks import async_task

    _results_reset(history=settings.RETENTION_Q_SUCCESS_KEEP)
    with transaction.atomic():
        for number in range(count):
            async_task("bench.queue_drain.noop", number)


def _baseline_run(*, count: int) -> float:
    _baseline_queue(count=count)
    seconds = _drain(count=count)
    _failures_check(side="baseline")
    return count / seconds


# --- ours ----------------------------------------------------------------------------------------


def _ours_prepare(*, user, count: int, queue: bool = True) -> list[str]:
    """`count` pending persona tasks whose one persona already has all its images, queued."""
    from generation.models import GeneratedPersona, GenerationTask, ImagesPerPersona, TaskStatus
    from generation.services.avatar_tasks import _queue, avatar_task_id_new

    _results_reset(history=settings.RETENTION_Q_SUCCESS_KEEP if queue else 0)
    GenerationTask.objects.all().delete()
    with transaction.atomic():
        tasks = GenerationTask.objects.bulk_create(
            GenerationTask(
                task_id=avatar_task_id_new(),
                user=user,
                persona_description="Bench personas: nothing left to generate.",
                bio_language="English",
                number_to_generate=1,
                images_per_persona=ImagesPerPersona(IMAGES_PER_PERSONA),
                status=TaskStatus.PENDING,
            )
            for _ in range(count)
        )
        GeneratedPersona.objects.bulk_create(
            GeneratedPersona(
                task=task,
                position=0,
                first_name="Bench",
                last_name=f"Persona {number}",
                # Keys only: the image step sees them recorded and never reads the files.
                images=[f"personas/{task.task_id}/0/{n}.png" for n in range(1, IMAGES_PER_PERSONA + 1)],
            )
            for number, task in enumerate(tasks)
        )
        if queue:
            for task in tasks:
                _queue(task.task_id)
    return [task.task_id for task in tasks]


def _ours_check(*, count: int) -> None:
    from generation.models import GeneratedPersona, GenerationTask, TaskStatus

    completed = GenerationTask.objects.filter(status=TaskStatus.COMPLETED, attempts=1).count()
    if completed != count:
        statuses = dict(GenerationTask.objects.values_list("status").annotate(n=Count("pk")).order_by())
        raise RuntimeError(f"queue_drain ours: {completed} of {count} tasks completed once: {statuses}")
    images = GeneratedPersona.objects.values_list("images", flat=True)
    touched = GeneratedPersona.objects.exclude(image_errors=[]).count() + sum(
        1 for keys in images if len(keys) != IMAGES_PER_PERSONA
    )
    if touched:
        raise RuntimeError(f"queue_drain ours: {touched} personas changed; the tasks had work to do")


def _ours_run(*, user, count: int) -> float:
    _ours_prepare(user=user, count=count)
    seconds = _drain(count=count)
    _failures_check(side="ours")
    _ours_check(count=count)
    return count / seconds


def _queries_per_task(*, user) -> int:
    """Queries one no-op persona task spends in the worker, run in this process."""
    from generation.models import GenerationTask, TaskStatus
    from generation.tasks import run_avatar_task

    (task_id,) = _ours_prepare(user=user, count=1, queue=False)
    with CaptureQueriesContext(connection) as queries:
        status = run_avatar_task(task_id)
    if status != TaskStatus.COMPLETED:
        raise RuntimeError(f"queue_drain: the in-process task ended {status}")
    GenerationTask.objects.all().delete()
    return len(queries)


def run(*, scale: str) -> None:
    from django.contrib.auth.hashers import make_password
    from django_q.conf import Conf

    from accounts.models import User
    from generation.models import GenerationTask

    count, rounds = (3000, 3) if scale == "full" else (600, 3)
    user = User.objects.create(
        username="bench-queue", email="bench-queue@example.test", password=make_password(None)
    )
    try:
        queries = _queries_per_task(user=user)
        # Warm-up: the first drain pays for the database's caches and the first plans.
        _baseline_run(count=min(count, 200))
        _ours_run(user=user, count=min(count, 200))
        ours: list[float] = []
        baseline: list[float] = []
        for round_number in range(rounds):
            sides = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
            for side in sides:
                if side == "ours":
                    ours.append(_ours_run(user=user, count=count))
                else:
                    baseline.append(_baseline_run(count=count))
    finally:
        _results_reset()
        GenerationTask.objects.all().delete()
        user.delete()

    best_ours, best_baseline = max(ours), max(baseline)
    emit(
        name="queue_drain",
        ours=best_ours,
        baseline=best_baseline,
        unit="tasks/s",
        ratio=best_ours / best_baseline,
        op=">=",
        target=RATIO_TARGET,
        note=f"{count} no-op persona tasks (claim, heartbeats, complete) vs {count} no-op django-q2 tasks, "
        f"{Conf.WORKERS} workers, best of {rounds}",
    )
    emit(
        name="queue_drain_raw",
        ours=best_baseline,
        baseline=RAW_FLOOR,
        unit="tasks/s",
        ratio=best_baseline / RAW_FLOOR,
        op=">=",
        target=1,
        note=f"{count} no-op django-q2 tasks drained by {Conf.WORKERS} workers vs a fixed floor",
    )
    print(
        f"# queue_drain: {count} tasks a round, {rounds} rounds each, {Conf.WORKERS} workers, "
        f"bulk {Conf.BULK}, poll {Conf.POLL} s, save_limit {Conf.SAVE_LIMIT}; "
        f"ours {', '.join(f'{rate:.0f}' for rate in ours)} tasks/s "
        f"(median {statistics.median(ours):.0f}), "
        f"no-op {', '.join(f'{rate:.0f}' for rate in baseline)} tasks/s "
        f"(median {statistics.median(baseline):.0f}); "
        f"{queries} queries per persona task in the worker"
    )
