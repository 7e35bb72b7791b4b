"""workflow_engine: workflows through generate -> evaluate -> review on a real django-q2 cluster,
against the AI latency floor.

N workflows, each for X, LinkedIn and Mastodon, are created with `workflow_create` (the service the
API calls: it writes the workflow and its pending platform states and queues each platform's first
step) while a django-q2 cluster with the project's worker count (Q_CLUSTER["workers"], 2) runs in
this process's children against the scratch database, with the ORM broker and poll interval of
config/settings.py. The engine's steps then run as they do in production, each step one task that
queues the next, until every platform awaits review.

The AI is a fake OpenAI-compatible chat server on loopback (bench.slow_ai: a process of its own,
threaded so calls overlap, keeping connections alive as real servers do) that takes
LATENCY_SECONDS per call and answers a generation with a post within every platform's limit and an
evaluation with a score of 90, above the default threshold of 70: each platform costs exactly one
generation and one evaluation. The server counts both kinds, and the most calls it held at once;
the bench checks the counts.

Baseline: the AI latency floor, (AI calls x latency) / workers, the wall time the AI alone needs
when every worker always has a call in flight. Ours: wall seconds from the first `workflow_create`
until the last platform state reached awaiting review (its `updated_at`, written by the worker).
Target: at most 1.2x the floor (1.5x until issue 23), i.e. at most a fifth of a call's latency of
engine, queue and database time per step and worker. Each round starts from an empty set of
workflows and an idle cluster; the best of three rounds is reported (interference only ever adds
time), the spread goes in the comment line.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass

from django.db import connections
from django.db.models import Count, Max
from django.test import override_settings

from bench.report import emit, spread
from bench.slow_ai import SlowChatServer

LATENCY_SECONDS = 0.1
PLATFORMS = ("x", "linkedin", "mastodon")
SCORE = 90
ROUND_TIMEOUT_SECONDS = 600
POLL_SECONDS = 0.25
RATIO_TARGET = 1.2
SOURCE = {
    "title": "Version 2",
    "text": (
        "Our team shipped version 2 of the app today. It starts twice as fast, uses half the memory "
        "and works offline. We rewrote the sync engine from scratch after a year of user feedback."
    ),
}
DRAFT = (
    "Version 2 of our app starts twice as fast, uses half the memory and works offline.\n\n"
    "We rebuilt the sync engine after a year of your feedback. What will you try first?\n\n"
    "#OpenSource #Release"
)


def _answer(body: dict) -> str:
    """A post within every platform's limit, or, to the evaluation prompt (it asks for
    criteria_scores, workflows.stored_settings), a score above the default threshold of 70."""
    if _kind(body) == "generation":
        return DRAFT
    return json.dumps(
        {
            "score": SCORE,
            "feedback": "Ready to publish.",
            "criteria_scores": {
                "platform_appropriateness": SCORE,
                "style_consistency": SCORE,
                "clarity": SCORE,
                "engagement": SCORE,
                "grammar": SCORE,
            },
        }
    )


def _kind(body: dict) -> str:
    system = next((m.get("content") or "" for m in body.get("messages", []) if m["role"] == "system"), "")
    return "evaluation" if "criteria_scores" in system else "generation"


@dataclass(frozen=True)
class _Round:
    wall: float
    created: float  # seconds spent in workflow_create, all N
    calls: int
    most_in_flight: int
    queries_per_step: float


def _cluster_start():
    """A django-q2 cluster in child processes (fork: they inherit the overridden AI settings)."""
    from django_q.brokers import get_broker
    from django_q.cluster import Cluster

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    connections.close_all()  # no connection may be shared with the forked children
    cluster = Cluster(get_broker())
    # Cluster() takes over SIGTERM/SIGINT to stop itself; the bench process keeps its own.
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    cluster.start()
    return cluster


def _wait_until_settled(*, workflow_ids: list, platforms: int, deadline: float) -> None:
    from workflows.models import PlatformState
    from workflows.services.status import WORKING

    expected = len(workflow_ids) * platforms
    while True:
        counts = PlatformState.objects.filter(workflow_id__in=workflow_ids).aggregate(
            total=Count("pk"), working=Count("pk", filter=_working_filter(WORKING))
        )
        if counts["total"] == expected and counts["working"] == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"workflow_engine: {counts['working']} of {counts['total']} platforms still working "
                f"after {ROUND_TIMEOUT_SECONDS} s"
            )
        time.sleep(POLL_SECONDS)


def _working_filter(working):
    from django.db.models import Q

    return Q(status__in=list(working))


def _check(*, workflow_ids: list, served: dict) -> None:
    """Every platform awaits review after exactly one draft and one evaluation; so does each workflow."""
    from workflows.models import Draft, Evaluation, PlatformState, Workflow, WorkflowCheckpoint

    platforms = len(workflow_ids) * len(PLATFORMS)
    states = PlatformState.objects.filter(workflow_id__in=workflow_ids)
    not_waiting = states.exclude(status="awaiting_review", iteration=0).count()
    workflows_not_waiting = (
        Workflow.objects.filter(pk__in=workflow_ids).exclude(status="awaiting_review").count()
    )
    drafts = Draft.objects.filter(workflow_id__in=workflow_ids).count()
    evaluations = Evaluation.objects.filter(draft__workflow_id__in=workflow_ids, score=SCORE).count()
    checkpoints = WorkflowCheckpoint.objects.filter(workflow_id__in=workflow_ids).count()
    found = (not_waiting, workflows_not_waiting, drafts, evaluations, checkpoints)
    expected = (0, 0, platforms, platforms, 2 * platforms)
    if found != expected:
        raise RuntimeError(
            "workflow_engine: (platforms not awaiting review at iteration 0, workflows not awaiting "
            f"review, drafts, evaluations, checkpoints) = {found}, expected {expected}"
        )
    generations, evaluations = served.get("generation", 0), served.get("evaluation", 0)
    if (generations, evaluations) != (platforms, platforms):
        raise RuntimeError(
            f"workflow_engine: the AI served {generations} generations and {evaluations} "
            f"evaluations, expected {platforms} of each"
        )


def _clear() -> None:
    from django_q.models import OrmQ, Task

    from workflows.models import Workflow

    Workflow.objects.all().delete()
    Task.objects.all().delete()
    OrmQ.objects.all().delete()


def _statement_count() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def _round(*, user, count: int, chat: SlowChatServer) -> _Round:
    from workflows.models import PlatformState
    from workflows.services.workflows import workflow_create

    _clear()
    chat.reset()
    transactions_before = _statement_count()
    from django.utils import timezone

    started_at = timezone.now()
    started = time.monotonic()
    workflow_ids = [
        workflow_create(user=user, mode="manual", platforms=list(PLATFORMS), source_content=SOURCE).pk
        for _ in range(count)
    ]
    created = time.monotonic() - started
    _wait_until_settled(
        workflow_ids=workflow_ids, platforms=len(PLATFORMS), deadline=started + ROUND_TIMEOUT_SECONDS
    )
    finished_at = PlatformState.objects.filter(workflow_id__in=workflow_ids).aggregate(
        last=Max("updated_at")
    )["last"]
    wall = (finished_at - started_at).total_seconds()
    transactions = _statement_count() - transactions_before
    served = chat.counts()
    _check(workflow_ids=workflow_ids, served=served)
    calls = sum(served.values())
    return _Round(
        wall=wall,
        created=created,
        calls=calls,
        most_in_flight=chat.most_in_flight(),
        queries_per_step=transactions / calls,
    )


def run(*, scale: str) -> None:
    from django.conf import settings

    from accounts.models import User

    count, rounds = (200, 3) if scale == "full" else (40, 3)
    workers = int(settings.Q_CLUSTER["workers"])
    user = User.objects.create_user(username="bench-workflows", email="bench-wf@example.test", password=None)
    cluster = None
    with SlowChatServer(latency=LATENCY_SECONDS, answer=_answer, answer_key=_kind) as chat:
        ai = {"AI_BACKEND": "openai", "AI_BASE_URL": chat.base_url, "AI_API_KEY": "bench"}
        try:
            with override_settings(**ai):
                cluster = _cluster_start()
                _round(user=user, count=max(2, count // 20), chat=chat)  # warm-up: imports, connections
                results = [_round(user=user, count=count, chat=chat) for _ in range(rounds)]
        finally:
            if cluster is not None:
                cluster.stop()
    _clear()

    best = min(results, key=lambda result: result.wall)
    floor = best.calls * LATENCY_SECONDS / workers
    emit(
        name="workflow_engine",
        ours=best.wall,
        baseline=floor,
        unit="s",
        ratio=best.wall / floor,
        op="<=",
        target=RATIO_TARGET,
        note=(
            f"{count} workflows x {len(PLATFORMS)} platforms on django-q2 with {workers} workers vs "
            f"the AI latency floor ({LATENCY_SECONDS * 1000:.0f} ms a call)"
        ),
    )
    print(
        f"# workflow_engine: {count} workflows x {len(PLATFORMS)} platforms, {best.calls} AI calls "
        f"(one generation and one evaluation each), {workers} workers, at most {best.most_in_flight} "
        f"calls in flight; {rounds} rounds, best/median/worst {spread([r.wall for r in results])}; "
        f"workflow_create x{count} took {best.created:.2f} s; "
        f"{best.queries_per_step:.1f} transactions per step"
    )
