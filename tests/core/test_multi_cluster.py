"""Two real `manage.py qcluster` processes against the test's PostgreSQL database (the ORM broker,
tests/cluster_settings.py): caption tasks, workflows, plain tasks and a schedule go through them,
each once, nothing lost, and requests to one instance keep their pace whichever cluster sends them.

Outside services are local threaded servers that count what reaches them: a fake OpenAI chat
server (per image, by its bytes; per workflow, by a mark in its source that the fake echoes into
the draft the evaluation then quotes), one fake Mastodon instance every connection points at (it
records when each request arrived) and a counter for the plain tasks and the schedule. Timing is
asserted only as the pacing gaps between requests to one host, with slack; never throughput.
"""

import hashlib
import io
import itertools
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Task
from django_q.tasks import async_task
from PIL import Image as PILImage
from pytest_httpserver import HTTPServer
from werkzeug import Response

from captions.models import ACTIVE_TASK_STATUSES, CaptionGenerationTask, Image, TaskStatus
from captions.services.tasks import caption_task_create
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon
from tests.pacing_worker import worker_env
from workflows.models import Draft, Evaluation, PlatformState
from workflows.services.status import WORKING
from workflows.services.workflows import workflow_create

# timing: it asserts pacing gaps, so `make test` runs it beside the suite at normal priority.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timing,
    pytest.mark.django_db(transaction=True),
]

CLUSTERS = 2
RATE = 4.0  # PLATFORM_REQUESTS_PER_SECOND: 0.25 s between requests to one host
LATENESS = 0.5  # how late a request may reach the server after its turn (see the end of the test)
CONNECTIONS = 4
IMAGES = 3
WORKFLOWS = 12
PLATFORMS = ["x", "linkedin", "mastodon"]
REPORTS = 16
APP_PREFIX = "test-cluster-"
MARK = re.compile(r"\[wf-([0-9a-f]{12})\]")
# django-q2 runs a cluster's scheduler every 30 s from its start; a little more, for both clusters.
SCHEDULER_SECONDS = 35


class TimedMastodon(FakeMastodon):
    """The fake instance, recording when each request arrived."""

    def _handle(self, request):
        with self._lock:
            self.__dict__.setdefault("arrivals", []).append((time.monotonic(), request.path))
        return super()._handle(request)


class CountingAI:
    """OpenAI-compatible chat completions answering at once: a caption for an image, a score of 90
    for an evaluation, else a draft carrying the workflow's mark."""

    def __init__(self):
        self.per_image = Counter()
        self.generations = Counter()
        self.evaluations = Counter()
        self.lock = threading.Lock()

    def __call__(self, request):
        body = json.loads(request.data or b"{}")
        texts, image = [], None
        for message in body.get("messages", []):
            content = message.get("content")
            for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
                if part.get("type") == "image_url":
                    image = hashlib.sha256(part["image_url"]["url"].encode()).hexdigest()
                else:
                    texts.append(part.get("text") or "")
        prompt = "\n".join(texts)
        mark = MARK.search(prompt)
        key = mark.group(1) if mark else "?"
        with self.lock:
            if image:
                self.per_image[image] += 1
                content = "A square of coloured noise, with no text, people or objects in it."
            elif "criteria_scores" in prompt:
                self.evaluations[key] += 1
                scores = dict.fromkeys(
                    ["platform_appropriateness", "style_consistency", "clarity", "engagement", "grammar"], 90
                )
                content = json.dumps({"score": 90, "feedback": "Ready.", "criteria_scores": scores})
            else:
                self.generations[key] += 1
                content = f"[wf-{key}] Version 2 starts twice as fast and works offline. #Release"
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        answer = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}
        return Response(json.dumps(answer), content_type="application/json")


@pytest.fixture
def servers():
    started = [HTTPServer(threaded=True), HTTPServer(threaded=True)]
    for server in started:
        server.start()
    yield started
    for server in started:
        server.clear()
        server.stop()


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.frombytes("RGB", (64, 64), random.Random(seed).randbytes(64 * 64 * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def _clusters_by_name() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s",
            [APP_PREFIX + "%"],
        )
        return {row[0] for row in cursor.fetchall()}


def _logs(tmp_path) -> str:
    return "\n".join(path.read_text()[-3000:] for path in sorted(tmp_path.glob("cluster-*.log")))


def _wait_for(condition, *, what: str, processes, tmp_path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            assert process.poll() is None, _logs(tmp_path)
        assert time.monotonic() < deadline, f"waited in vain for {what}: {_logs(tmp_path)}"
        time.sleep(0.1)


def test_two_clusters_run_everything_once_and_share_the_pace(servers, tmp_path, monkeypatch):
    ai_server, platform_server = servers
    ai = CountingAI()
    ai_server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(ai)
    reports = Counter()
    report_lock = threading.Lock()

    def count_report(request):
        with report_lock:
            reports[request.path] += 1
        # Each plain task holds its worker a while: one cluster alone cannot drain them all
        # between two polls of the other's (Q_POLL, 0.5 s), so both must take some.
        time.sleep(0.3)
        return Response("ok")

    ai_server.expect_request(re.compile(r"^/report/")).respond_with_handler(count_report)
    fake = TimedMastodon(platform_server)
    for seed in range(IMAGES):
        status = fake.add_status(text=f"post {seed}", media=[None])
        fake.files[status["media_attachments"][0]["id"]] = _png(seed)
    platform_connections = [
        CaptionGenerationUserSettingsFactory(
            platform_connection=PlatformConnectionFactory(
                instance_url=fake.base_url, access_token=fake.token
            ),
            processing_delay=0,
        ).platform_connection
        for _ in range(CONNECTIONS)
    ]
    schedule = Schedule.objects.create(
        name="multi-cluster tick",
        func="tests.cluster_tasks.report",
        args=repr(ai_server.url_for("/report/tick")),
        schedule_type=Schedule.MINUTES,
        minutes=10,
        repeats=-1,
        next_run=timezone.now() - timedelta(seconds=1),
    )

    env = {
        **worker_env(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tests.cluster_settings",
        "Q_WORKERS": "2",
        "AI_BACKEND": "openai",
        "AI_BASE_URL": ai_server.url_for("/v1"),
        "AI_API_KEY": "test",
        "PLATFORM_REQUESTS_PER_SECOND": str(RATE),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=Path(__file__).resolve().parents[2],
            env={**env, "PGAPPNAME": f"{APP_PREFIX}{number}"},
            stdout=subprocess.DEVNULL,
            # A file, not a pipe: a cluster logging more than a pipe holds would block.
            stderr=(tmp_path / f"cluster-{number}.log").open("w"),
            start_new_session=True,
        )
        for number in range(CLUSTERS)
    ]
    try:
        # Each pusher polls the queue on its own connection (kept, CONN_MAX_AGE) once it runs.
        _wait_for(
            lambda: len(_clusters_by_name()) == CLUSTERS,
            what="both clusters",
            processes=processes,
            tmp_path=tmp_path,
        )
        running_since = time.monotonic()

        monkeypatch.setattr(Conf, "SYNC", False)  # queued here, run by the clusters
        tasks = [
            caption_task_create(user=platform.user, connection=platform) for platform in platform_connections
        ]
        user = UserFactory()
        marks = [uuid.uuid4().hex[:12] for _ in range(WORKFLOWS)]
        workflows = [
            workflow_create(
                user=user,
                mode="manual",
                platforms=PLATFORMS,
                source_content={"title": "Version 2", "text": f"[wf-{mark}] We shipped version 2 today."},
            )
            for mark in marks
        ]
        for number in range(REPORTS):
            async_task("tests.cluster_tasks.report", ai_server.url_for(f"/report/{number}"), group="reports")

        def settled() -> bool:
            return (
                not CaptionGenerationTask.objects.filter(status__in=ACTIVE_TASK_STATUSES).exists()
                and not PlatformState.objects.filter(status__in=list(WORKING)).exists()
                and Task.objects.filter(group="reports").count() == REPORTS
                and not OrmQ.objects.exists()
                and time.monotonic() - running_since > SCHEDULER_SECONDS
            )

        _wait_for(
            settled, what="every item done and both schedulers run", processes=processes, tmp_path=tmp_path
        )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # Nothing lost, nothing twice: caption tasks and images.
    assert [task.status for task in CaptionGenerationTask.objects.filter(pk__in=[t.pk for t in tasks])] == [
        TaskStatus.COMPLETED
    ] * CONNECTIONS
    assert set(CaptionGenerationTask.objects.values_list("attempts", flat=True)) == {1}
    images = Image.objects.filter(platform_connection__in=platform_connections)
    assert images.count() == CONNECTIONS * IMAGES
    assert not images.filter(generated_caption__isnull=True).exists(), list(
        images.values_list("status", "processing_error")
    )
    # Every connection stored the same IMAGES pictures: classification and caption, once each.
    assert sorted(ai.per_image.values()) == [2 * CONNECTIONS] * IMAGES

    # Workflows: one generation and one evaluation per platform, at the AI and in the database.
    assert {mark: (ai.generations[mark], ai.evaluations[mark]) for mark in marks} == dict.fromkeys(
        marks, (3, 3)
    )
    assert set(ai.generations) | set(ai.evaluations) == set(marks)
    states = PlatformState.objects.filter(workflow__in=workflows)
    assert states.count() == WORKFLOWS * len(PLATFORMS)
    assert set(states.values_list("status", "iteration")) == {("awaiting_review", 0)}
    assert Draft.objects.filter(workflow__in=workflows).count() == WORKFLOWS * len(PLATFORMS)
    assert Evaluation.objects.filter(draft__workflow__in=workflows).count() == WORKFLOWS * len(PLATFORMS)

    # Plain tasks: each reached the server once, and both clusters took some from the queue.
    assert {path: reports[path] for path in reports if path != "/report/tick"} == {
        f"/report/{number}": 1 for number in range(REPORTS)
    }
    ran_by = set(Task.objects.filter(group="reports").values_list("result", flat=True))
    assert ran_by == {f"{APP_PREFIX}{number}" for number in range(CLUSTERS)}
    assert not Failure.objects.exists()

    # The schedule was due once while both clusters' schedulers ran: it fired once.
    assert reports["/report/tick"] == 1
    schedule.refresh_from_db()
    assert schedule.next_run > timezone.now()
    assert Task.objects.filter(func="tests.cluster_tasks.report").exclude(group="reports").count() == 1

    # Pacing: requests to the one instance (API and media) take turns RATE a second, whichever
    # cluster and worker sent them. A request reaches the server a little after its turn (an image
    # download builds its httpx client after taking the turn: 28 ms on an idle machine, up to
    # 0.36 s seen under load), so no pair is held to the interval; any k + 1 requests must span k
    # intervals less one lateness. With each cluster pacing only itself (OUTBOUND_PACING "local"
    # in tests/cluster_settings.py) they fell 0.92 s short.
    arrivals = sorted(at for at, _path in fake.arrivals)
    assert len(arrivals) >= CONNECTIONS * (IMAGES + 3)
    shortfall = max(
        (later - earlier) / RATE - (arrivals[later] - arrivals[earlier])
        for earlier, later in itertools.combinations(range(len(arrivals)), 2)
    )
    assert shortfall <= LATENESS, [round(b - a, 3) for a, b in itertools.pairwise(arrivals)]
