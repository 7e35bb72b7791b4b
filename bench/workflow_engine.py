"""workflow_engine: workflows through generate -> evaluate -> review on a real django-q2 cluster,
against the AI latency floor.

N workflows, each for X, LinkedIn and Mastodon, are created with `workflow_create` (the service the
API calls: it writes the workflow and its pending platform states and queues each platform's first
step) while a django-q2 cluster with the project's worker count (Q_CLUSTER["workers"], 2) runs in
this process's children against the scratch database, with the ORM broker and poll interval of
config/settings.py. The engine's steps then run as they do in production, each step one task that
queues the next, until every platform awaits review.

The AI is a fake OpenAI-compatible chat server on loopback (threaded, so calls overlap) that takes
LATENCY_SECONDS per call and answers a generation with a post within every platform's limit and an
evaluation with a score of 90, above the default threshold of 70: each platform costs exactly one
generation and one evaluation. The server counts both kinds and the bench checks the counts.

Baseline: the AI latency floor, (AI calls x latency) / workers, the wall time the AI alone needs
when every worker always has a call in flight. Ours: wall seconds from the first `workflow_create`
until the last platform state reached awaiting review (its `updated_at`, written by the worker).
Target: at most 1.2x the floor (1.5x until issue 23), i.e. at most a fifth of a call's latency of
engine, queue and database time per step and worker. Each round starts from an empty set of
workflows and an idle cluster; the best round is reported, the spread goes in the comment line.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field

from django.db import connections
from django.db.models import Count, Max
from django.test import override_settings
from pytest_httpserver import HTTPServer
from werkzeug import Response

from bench.report import emit, spread

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


def _completion(content: str, model: str) -> dict:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@dataclass
class _SlowChat:
    """A chat-completions handler that answers after LATENCY_SECONDS and counts what it served."""

    generations: int = 0
    evaluations: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request) -> Response:
        body = json.loads(request.data or b"{}")
        system = next((m.get("content") or "" for m in body.get("messages", []) if m["role"] == "system"), "")
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(LATENCY_SECONDS)
        finally:
            with self.lock:
                self.in_flight -= 1
        # The evaluation prompt asks for criteria_scores (workflows.stored_settings); else a draft.
        if "criteria_scores" in system:
            content = json.dumps(
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
            with self.lock:
                self.evaluations += 1
        else:
            content = DRAFT
            with self.lock:
                self.generations += 1
        return Response(
            json.dumps(_completion(content, body.get("model", "bench"))), content_type="application/json"
        )

    def reset(self) -> None:
        with self.lock:
            self.generations = self.evaluations = self.most_in_flight = 0


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


def _check(*, workflow_ids: list, chat: _SlowChat) -> None:
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
    if (chat.generations, chat.evaluations) != (platforms, platforms):
        raise RuntimeError(
            f"workflow_engine: the AI served {chat.generations} generations and {chat.evaluations} "
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


def _round(*, user, count: int, chat: _SlowChat) -> _Round:
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
    _check(workflow_ids=workflow_ids, chat=chat)
    calls = chat.generations + chat.evaluations
    return _Round(
        wall=wall,
        created=created,
        calls=calls,
        most_in_flight=chat.most_in_flight,
        queries_per_step=transactions / calls,
    )


def run(*, scale: str) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from django.conf import settings

    from accounts.models import User

    count, rounds = (200, 2) if scale == "full" else (40, 2)
    workers = int(settings.Q_CLUSTER["workers"])
    chat = _SlowChat()
    server = HTTPServer(threaded=True)
    server.start()
    cluster = None
    try:
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(chat)
        user = User.objects.create_user(
            username="bench-workflows", email="bench-wf@example.test", password=None
        )
        ai = {"AI_BACKEND": "openai", "AI_BASE_URL": server.url_for("/v1"), "AI_API_KEY": "bench"}
        with override_settings(**ai):
            cluster = _cluster_start()
            _round(user=user, count=max(2, count // 20), chat=chat)  # warm-up: imports, connections
            results = [_round(user=user, count=count, chat=chat) for _ in range(rounds)]
    finally:
        if cluster is not None:
            cluster.stop()
        server.stop()
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
