"""clusters_scale: the same I/O-bound work through 3 `manage.py qcluster` processes against one
PostgreSQL, against 1 such cluster.

Each side starts real `qcluster` subprocesses (Q_WORKERS=2 each, bench.settings, the scratch
database, the ORM broker of config/settings.py) and queues, as the API would:

- caption tasks (`caption_task_create`), one per user and connection, IMAGES_PER_TASK images each,
  every user on a Mastodon instance of its own (tests/fakes/mastodon.py, one threaded
  pytest-httpserver each), captioned at CAPTION_CONCURRENCY=1 against a fake vision server that
  answers in 200 ms (two calls an image: classification and caption);
- then workflows (`workflow_create`) for X, LinkedIn and Mastodon against the same fake AI
  answering text in 100 ms (one generation and one evaluation a platform, as bench.workflow_engine).

Why this is fair: both sides run the same items in the same queue order through the same code and
settings; only the number of clusters differs (1 x 2 workers against 3 x 2). The unit of
parallelism is the worker: a caption task captions one image at a time and a workflow step makes
one AI call, so the threads inside a task add nothing and what can scale is how many workers take
from the queue. Caption tasks are short (IMAGES_PER_TASK x 0.4 s) and queued before the workflow
steps, so the run ends on 0.1 s steps: a cluster holding a few prefetched tasks (django-q2's
`queue_limit`, workers squared) cannot leave a long tail. The fake AI is `bench.slow_ai`: a
process of its own, threaded and keeping connections alive as real servers do, recording how many
calls it had in flight at once (the # line shows it reached every worker: it does not serialise).
Until late on 2026-12-07 it was a werkzeug server in this process, closing every connection: its work per
call competed with the benchmark's own threads (the 24 Mastodon fakes, the polling) for one
interpreter, and grew with the clusters' concurrency, which is what is measured.

Pacing: platform requests keep the shared per-host pacing (a row per host in PostgreSQL, one
statement a request), but PLATFORM_REQUESTS_PER_SECOND is raised to 1000 for the clusters: the
production default (5/s) is per instance and every user here is on an instance of their own, yet
a task's own requests (credentials, instance, statuses, downloads) would still wait 0.2 s each
and measure the pacing instead of the workers. The AI server is not paced.

Measured: wall seconds from the commit that queues the batch (every task and workflow is created
in one transaction, and both services queue on commit, so the clusters are handed the whole batch
at once rather than at the pace of one creating process; the clusters are started and warmed up
beforehand: their processes running and every worker past a first workflow) until the last caption
task finished or platform state settled (their `updated_at`, written by the workers). Ours and
baseline are items per second; ratio = ours / baseline, target >= 2.6 (ideal 3). Checked after
every side: every caption task completed with all its images captioned, each image sent to the AI
exactly twice (once per kind, counted at the fake by the image's bytes), every workflow platform
awaiting review after exactly one generation and one evaluation (counted per workflow at the
fake), no django-q2 failure and an empty queue. The # line adds the database connections the
clusters held (pg_stat_activity, by application_name, peak during the run).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, connections, transaction
from django.db.models import Max
from django.utils import timezone
from PIL import Image as PILImage
from pytest_httpserver import HTTPServer

from bench.report import emit
from bench.slow_ai import SlowChatServer

VISION_LATENCY = 0.2
TEXT_LATENCY = 0.1
IMAGES_PER_TASK = 5
WORKERS = 2
PLATFORMS = ("x", "linkedin", "mastodon")
APP_PREFIX = "bench-cluster-"
START_TIMEOUT = 120
ROUND_TIMEOUT = 900
CAPTION = (
    "A coloured rectangle fills the frame edge to edge, with no text, people or objects in it, "
    "photographed straight on in even light."
)
MARK = re.compile(r"\[wf-([0-9a-f]{12})\]")


def _parts(body: dict) -> tuple[str, str | None]:
    """A chat request's text and the hash of its image (None without one)."""
    texts, image = [], None
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            if part.get("type") == "image_url":
                image = hashlib.sha256(part["image_url"]["url"].encode()).hexdigest()
            else:
                texts.append(part.get("text") or "")
    return "\n".join(texts), image


def _latency(body: dict) -> float:
    return VISION_LATENCY if _parts(body)[1] else TEXT_LATENCY


def _key(body: dict) -> str:
    """What the fake counts a call under: `image:<hash of its bytes>`, or `generation:<mark>` and
    `evaluation:<mark>` by the workflow's mark in the prompt."""
    prompt, image = _parts(body)
    if image:
        return f"image:{image}"
    mark = MARK.search(prompt)
    kind = "evaluation" if "criteria_scores" in prompt else "generation"  # workflows.stored_settings
    return f"{kind}:{mark.group(1) if mark else '?'}"


def _answer(body: dict) -> str:
    kind, _, mark = _key(body).partition(":")
    if kind == "image":
        return CAPTION
    if kind == "evaluation":
        return json.dumps({"score": 90, "feedback": "Ready.", "criteria_scores": dict.fromkeys(CRITERIA, 90)})
    return f"[wf-{mark}] {DRAFT}"


@dataclass
class _Served:
    """The fake AI's calls per image (by its bytes) and per workflow (by the mark in its prompt)."""

    per_image: Counter
    generations: Counter
    evaluations: Counter
    most_in_flight: int

    @classmethod
    def of(cls, chat: SlowChatServer) -> _Served:
        kinds: dict[str, Counter] = {"image": Counter(), "generation": Counter(), "evaluation": Counter()}
        for key, calls in chat.counts().items():
            kind, _, name = key.partition(":")
            kinds[kind][name] += calls
        return cls(
            per_image=kinds["image"],
            generations=kinds["generation"],
            evaluations=kinds["evaluation"],
            most_in_flight=chat.most_in_flight(),
        )


CRITERIA = ("platform_appropriateness", "style_consistency", "clarity", "engagement", "grammar")
DRAFT = (
    "Version 2 of our app starts twice as fast and works offline. "
    "We rebuilt the sync engine after a year of your feedback. #Release"
)


def _png(seed: int) -> bytes:
    """A small PNG whose pixels differ for every seed (the fake AI tells images apart by bytes)."""
    buffer = io.BytesIO()
    # Noise: the captioner re-encodes images, and flat colours close to each other may come out alike.
    noise = random.Random(seed).randbytes(96 * 72 * 3)
    PILImage.frombytes("RGB", (96, 72), noise).save(buffer, "PNG")
    return buffer.getvalue()


# -- the clusters ------------------------------------------------------------------------------


def _cluster_env(*, ai_url: str, media_root: str) -> dict[str, str]:
    # os.environ holds the scratch DATABASE_URL and the generated FIELD_ENCRYPTION_KEYS the bench
    # process encrypted the access tokens with.
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_MEDIA_ROOT": media_root,
        "Q_WORKERS": str(WORKERS),
        "AI_BACKEND": "openai",
        "AI_BASE_URL": ai_url,
        "AI_API_KEY": "bench",
        "CAPTION_CONCURRENCY": "1",
        "PLATFORM_REQUESTS_PER_SECOND": "1000",
        "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true",  # the fakes listen on loopback
    }


def _clusters_start(count: int, *, env: dict[str, str]) -> list[subprocess.Popen]:
    root = Path(__file__).resolve().parent.parent
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=root,
            env={**env, "PGAPPNAME": f"{APP_PREFIX}{number}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its sentinel, pusher, monitor and workers: one group to stop
        )
        for number in range(count)
    ]


def _clusters_stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _connections_by_cluster() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s GROUP BY 1",
            [APP_PREFIX + "%"],
        )
        return dict(cursor.fetchall())


def _clusters_wait_running(processes: list[subprocess.Popen]) -> None:
    """Until every cluster's pusher polls the queue (a connection under the cluster's name)."""
    deadline = time.monotonic() + START_TIMEOUT
    while len(_connections_by_cluster()) < len(processes):
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"clusters_scale: a qcluster exited: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("clusters_scale: the clusters did not start")
        time.sleep(0.2)


# -- the work ----------------------------------------------------------------------------------


@dataclass
class _Captions:
    servers: list[HTTPServer]
    pairs: list  # (user, connection)
    images: int


def _captions_prepare(*, tasks: int, tag: str) -> _Captions:
    from accounts.models import User
    from captions.models import CaptionGenerationUserSettings
    from platforms.models import PlatformConnection
    from tests.fakes.mastodon import FakeMastodon

    servers, pairs = [], []
    for number in range(tasks):
        server = HTTPServer(threaded=True)
        server.start()
        servers.append(server)
        fake = FakeMastodon(server)
        for image in range(IMAGES_PER_TASK):
            status = fake.add_status(text=f"post {image}", media=[None])
            fake.files[status["media_attachments"][0]["id"]] = _png(number * IMAGES_PER_TASK + image)
        user = User.objects.create_user(
            username=f"bench-{tag}-{number}", email=f"bench-{tag}-{number}@example.test", password=None
        )
        platform = PlatformConnection.objects.create(
            user=user,
            name="bench",
            platform_type="mastodon",
            instance_url=fake.base_url,
            access_token=fake.token,
        )
        CaptionGenerationUserSettings.objects.create(
            user=user, platform_connection=platform, max_posts_per_run=50, processing_delay=0
        )
        pairs.append((user, platform))
    return _Captions(servers=servers, pairs=pairs, images=tasks * IMAGES_PER_TASK)


def _workflows_create(*, user, count: int) -> list:
    from workflows.services.workflows import workflow_create

    ids = []
    for _ in range(count):
        source = {"title": "Version 2", "text": f"[wf-{uuid.uuid4().hex[:12]}] We shipped version 2 today."}
        ids.append(
            workflow_create(user=user, mode="manual", platforms=list(PLATFORMS), source_content=source).pk
        )
    return ids


def _settled(*, task_ids: list, workflow_ids: list) -> bool:
    from captions.models import ACTIVE_TASK_STATUSES, CaptionGenerationTask
    from workflows.models import PlatformState
    from workflows.services.status import WORKING

    captions_busy = CaptionGenerationTask.objects.filter(pk__in=task_ids, status__in=ACTIVE_TASK_STATUSES)
    platforms_busy = PlatformState.objects.filter(workflow_id__in=workflow_ids, status__in=list(WORKING))
    states = PlatformState.objects.filter(workflow_id__in=workflow_ids).count()
    return not captions_busy.exists() and not platforms_busy.exists() and states == len(workflow_ids) * 3


def _finished_at(*, task_ids: list, workflow_ids: list):
    from captions.models import CaptionGenerationTask
    from workflows.models import PlatformState

    captions = CaptionGenerationTask.objects.filter(pk__in=task_ids).aggregate(last=Max("updated_at"))["last"]
    states = PlatformState.objects.filter(workflow_id__in=workflow_ids).aggregate(last=Max("updated_at"))[
        "last"
    ]
    return max(moment for moment in (captions, states) if moment is not None)


def _check(*, side: str, captions: _Captions, task_ids: list, workflow_ids: list, ai: _Served) -> None:
    """Nothing lost, nothing run twice: in the database and counted at the fake AI."""
    from django_q.models import Failure, OrmQ

    from bench.workflow_engine import _check as workflow_check
    from captions.models import CaptionGenerationTask, Image, TaskStatus

    completed = CaptionGenerationTask.objects.filter(pk__in=task_ids, status=TaskStatus.COMPLETED).count()
    connection_ids = [platform.pk for _, platform in captions.pairs]
    images = Image.objects.filter(platform_connection_id__in=connection_ids)
    captioned = images.exclude(generated_caption=None).exclude(generated_caption="").count()
    calls = sorted(Counter(ai.per_image.values()).items())
    example = (
        CaptionGenerationTask.objects.filter(pk__in=task_ids).values_list("status", "error_message").first()
    )
    if (completed, images.count(), captioned, calls) != (
        len(task_ids),
        captions.images,
        captions.images,
        [(2, captions.images)],
    ):
        raise RuntimeError(
            f"clusters_scale {side}: {completed}/{len(task_ids)} caption tasks completed, "
            f"{captioned}/{images.count()} images captioned of {captions.images}, AI calls per image "
            f"(calls, images) {calls}, expected two calls for each image; e.g. {example}"
        )
    marks = {
        MARK.search(source["text"]).group(1)
        for source in _sources(workflow_ids)  # each workflow's own mark
    }
    per_workflow = {mark: (ai.generations[mark], ai.evaluations[mark]) for mark in marks}
    wrong = {mark: counts for mark, counts in per_workflow.items() if counts != (3, 3)}
    if len(marks) != len(workflow_ids) or wrong or set(ai.generations) - marks or set(ai.evaluations) - marks:
        raise RuntimeError(f"clusters_scale {side}: AI calls per workflow not 3+3: {list(wrong.items())[:5]}")
    served = {"generation": sum(ai.generations.values()), "evaluation": sum(ai.evaluations.values())}
    workflow_check(workflow_ids=workflow_ids, served=served)
    failures = Failure.objects.count()
    if failures or OrmQ.objects.exists():
        raise RuntimeError(
            f"clusters_scale {side}: {failures} failed tasks, queue empty: {not OrmQ.objects.exists()}"
        )


def _sources(workflow_ids: list) -> list[dict]:
    from workflows.models import Workflow

    return list(Workflow.objects.filter(pk__in=workflow_ids).values_list("source_content", flat=True))


@dataclass(frozen=True)
class _Side:
    wall: float
    items: int
    created: float
    most_in_flight: int
    connections_peak: int
    connections_per_cluster: int


def _side(
    *, clusters: int, caption_tasks: int, workflows: int, chat: SlowChatServer, media_root: str, tag: str
) -> _Side:
    from django_q.models import Failure, OrmQ, Task

    from accounts.models import User
    from captions.services.tasks import caption_task_create
    from workflows.models import Workflow

    Workflow.objects.all().delete()
    OrmQ.objects.all().delete()
    Task.objects.all().delete()
    Failure.objects.all().delete()
    captions = _captions_prepare(tasks=caption_tasks, tag=tag)
    user = User.objects.create_user(
        username=f"bench-wf-{tag}", email=f"bench-wf-{tag}@example.test", password=None
    )
    connections.close_all()
    processes = _clusters_start(clusters, env=_cluster_env(ai_url=chat.base_url, media_root=media_root))
    try:
        _clusters_wait_running(processes)
        # Warm-up: every worker past its first task (imports, its connection), then a clean slate.
        warm = _workflows_create(user=user, count=clusters * WORKERS * 2)
        _wait(task_ids=[], workflow_ids=warm, processes=processes)
        Workflow.objects.all().delete()
        Task.objects.all().delete()
        chat.reset()  # every side counts from zero

        # Written in one transaction, queued at its commit (both services queue on commit): the
        # clusters get the whole batch at once, not at the pace one process creates it (20 s of
        # the 60 s three clusters need at full size, on a loaded machine).
        started = time.monotonic()
        with transaction.atomic():
            task_ids = [
                caption_task_create(user=owner, connection=platform).pk for owner, platform in captions.pairs
            ]
            workflow_ids = _workflows_create(user=user, count=workflows)
            created = time.monotonic() - started
            started_at = timezone.now()
        peak, per_cluster = _wait(task_ids=task_ids, workflow_ids=workflow_ids, processes=processes)
        wall = (_finished_at(task_ids=task_ids, workflow_ids=workflow_ids) - started_at).total_seconds()
    finally:
        _clusters_stop(processes)
        for server in captions.servers:
            server.stop()
    ai = _Served.of(chat)
    _check(side=tag, captions=captions, task_ids=task_ids, workflow_ids=workflow_ids, ai=ai)
    return _Side(
        wall=wall,
        items=captions.images + workflows * len(PLATFORMS),
        created=created,
        most_in_flight=ai.most_in_flight,
        connections_peak=peak,
        connections_per_cluster=per_cluster,
    )


def _wait(*, task_ids: list, workflow_ids: list, processes: list) -> tuple[int, int]:
    """Until everything settled; the peak connections of all clusters and of the busiest one."""
    deadline = time.monotonic() + ROUND_TIMEOUT
    peak = per_cluster = 0
    while not _settled(task_ids=task_ids, workflow_ids=workflow_ids):
        held = _connections_by_cluster()
        peak = max(peak, sum(held.values()))
        per_cluster = max(per_cluster, *held.values(), 0)
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"clusters_scale: a qcluster exited: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"clusters_scale: not settled after {ROUND_TIMEOUT} s")
        time.sleep(0.25)
    return peak, per_cluster


def run(*, scale: str) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    caption_tasks, workflows = (120, 200) if scale == "full" else (24, 40)
    media_root = tempfile.mkdtemp(prefix="socialdesk-bench-clusters-")
    try:
        with SlowChatServer(latency=_latency, answer=_answer, answer_key=_key) as chat:
            common = {"caption_tasks": caption_tasks, "workflows": workflows, "chat": chat}
            baseline = _side(clusters=1, media_root=media_root, tag="one", **common)
            ours = _side(clusters=3, media_root=media_root, tag="three", **common)
    finally:
        import shutil

        shutil.rmtree(media_root, ignore_errors=True)

    ours_rate, baseline_rate = ours.items / ours.wall, baseline.items / baseline.wall
    images = caption_tasks * IMAGES_PER_TASK
    emit(
        name="clusters_scale",
        ours=ours_rate,
        baseline=baseline_rate,
        unit="items/s",
        ratio=ours_rate / baseline_rate,
        op=">=",
        target=2.6,
        note=(
            f"{images} captions + {workflows}x{len(PLATFORMS)} workflow platforms through 3 qcluster x "
            f"{WORKERS} workers vs 1 x {WORKERS}, fake AI 200/100 ms"
        ),
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"# clusters_scale: {caption_tasks} caption tasks x {IMAGES_PER_TASK} images (concurrency 1) + "
        f"{workflows} workflows x {len(PLATFORMS)}; 1 cluster {baseline.wall:.1f} s, 3 clusters "
        f"{ours.wall:.1f} s (creating the batch, not timed, took {baseline.created:.1f}/"
        f"{ours.created:.1f} s); AI calls in flight "
        f"at most {baseline.most_in_flight}/{ours.most_in_flight}; database connections held by the "
        f"clusters at peak {baseline.connections_peak}/{ours.connections_peak} "
        f"(busiest cluster {baseline.connections_per_cluster}/{ours.connections_per_cluster}); every image "
        f"2 AI calls, every workflow 3+3, nothing failed or left queued; load average {load}"
    )
