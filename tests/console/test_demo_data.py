"""`console.demo.data.demo_load` against the built-in demo instance on a free loopback port.

The tests commit (transaction=True) like `manage.py bootstrap --demo` does: the caption task
captions in worker threads with connections of their own, which see only committed rows.
"""

import re
import socket
from io import StringIO

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role, User
from captions.models import CaptionGenerationTask, Image, ImageStatus, Post, TaskStatus
from console.demo import data
from console.demo.data import DemoLoadError, demo_load
from console.demo.instance import DEMO_ACCOUNT_USERNAME, DEMO_TOKEN, DemoInstance
from generation.models import GeneratedImage, GeneratedPersona, GenerationTask, Prompt, PromptStatus
from generation.models import TaskStatus as PersonaStatus
from platforms.models import PlatformConnection, PlatformType
from scraping.models import Artifact, ItemStatus, JobStatus, ScrapingJob, ScrapingJobItem
from workflows.models import PlatformState, PlatformStatus, Workflow, WorkflowStatus

pytestmark = pytest.mark.django_db(transaction=True)

# The demo instance's content (console.demo.instance): 10 images in 6 posts, 7 of them without alt
# text, plus a video.
IMAGES_WITHOUT_ALT_TEXT = 7
SKIPPED_MEDIA = 4  # two English alt texts, one Japanese, one video
CREDENTIALS = re.compile(r"^\s+(demo-\S+)\s+(\S+)\s+role (\w+)$", re.MULTILINE)

TABLES = [
    "users",
    "users_groups",
    "audit_logs",
    "platform_connections",
    "posts",
    "images",
    "caption_generation_tasks",
    "caption_generation_user_settings",
    "caption_scan_cursors",
    "processing_runs",
    "workflows",
    "platform_states",
    "drafts",
    "evaluations",
    "workflow_checkpoints",
    "scraping_jobs",
    "scraping_job_items",
    "artifacts",
    "prompts",
    "generated_images",
    "generation_tasks",
    "generated_personas",
]


@pytest.fixture(autouse=True)
def _settings(settings):
    # As `make run` starts it: DEMO_INSTANCE_URL joins OUTBOUND_ALLOWED_ORIGINS (set per test,
    # with the helper below), the one loopback origin plain http and the outbound guard allow.
    settings.DEBUG = True
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    settings.AI_BACKEND = "builtin"
    settings.IMAGE_BACKEND = "builtin"
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "1000/5m"}
    if connection.vendor == "sqlite":
        # The test database is SQLite in memory with a shared cache, which locks whole tables
        # against concurrent writers (the file database `make run` uses waits instead).
        settings.CAPTION_CONCURRENCY = 1


def use_demo_instance(settings, url: str) -> str:
    settings.DEMO_INSTANCE_URL = url
    settings.OUTBOUND_ALLOWED_ORIGINS = [url]
    return url


@pytest.fixture
def instance(settings):
    with DemoInstance(port=0) as demo:
        use_demo_instance(settings, demo.base_url)
        yield demo


def load(instance_url: str) -> tuple[data.DemoSummary, str]:
    out = StringIO()
    summary = demo_load(instance_url=instance_url, out=out)
    return summary, out.getvalue()


def credentials(output: str) -> dict[str, tuple[str, str]]:
    return {username: (password, role) for username, password, role in CREDENTIALS.findall(output)}


def snapshot() -> dict[str, list[str]]:
    rows = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows[table] = sorted(map(repr, cursor.fetchall()))
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_load_creates_every_piece_in_its_final_state(instance):
    on_the_instance = instance.statuses()

    summary, output = load(instance.base_url)

    assert instance.statuses() == on_the_instance, "captions wait for review: nothing is written back"

    user = User.objects.get(username="demo-user")
    reviewer = User.objects.get(username="demo-reviewer")
    assert (user.role, user.is_staff) == (Role.USER, True)  # every role signs in to the admin
    assert (reviewer.role, reviewer.is_staff) == (Role.REVIEWER, True)
    assert list(reviewer.groups.values_list("name", flat=True)) == [Role.REVIEWER]
    assert (
        AuditLog.objects.filter(
            action="user.created", resource_id__in=[str(user.pk), str(reviewer.pk)]
        ).count()
        == 2
    )

    connection_row = PlatformConnection.objects.get(user=user)
    assert connection_row.platform_type == PlatformType.MASTODON
    assert connection_row.instance_url == instance.base_url
    assert connection_row.access_token == DEMO_TOKEN
    assert connection_row.username == DEMO_ACCOUNT_USERNAME, "verified: the account's name was learnt"
    assert connection_row.is_default and connection_row.is_active
    assert summary.connection_id == connection_row.pk

    task = CaptionGenerationTask.objects.get(platform_connection=connection_row)
    assert task.status == TaskStatus.COMPLETED, task.error_message
    assert task.results_json["images_found"] == IMAGES_WITHOUT_ALT_TEXT
    assert task.results_json["captions_generated"] == IMAGES_WITHOUT_ALT_TEXT
    assert task.results_json["errors"] == 0
    assert task.results_json["skipped"] == SKIPPED_MEDIA
    assert summary.caption_task_id == str(task.pk)
    images = Image.objects.filter(platform_connection=connection_row)
    assert images.count() == IMAGES_WITHOUT_ALT_TEXT
    for image in images:
        assert image.status == ImageStatus.PENDING, image.processing_error
        assert image.generated_caption and not image.final_caption
        assert not image.original_caption, "only images lacking alt text are captioned"
        assert image.image_url.startswith(f"{instance.base_url}/media/")
    assert Post.objects.filter(platform_connection=connection_row).count() == task.results_json["posts_seen"]

    workflow = Workflow.objects.get(user=user)
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    states = PlatformState.objects.filter(workflow=workflow)
    assert sorted(states.values_list("platform", flat=True)) == sorted(data.WORKFLOW_PLATFORMS)
    assert set(states.values_list("status", flat=True)) == {PlatformStatus.AWAITING_REVIEW}
    assert all(state.active_draft_id for state in states)
    assert summary.workflow_id == str(workflow.pk)

    job = ScrapingJob.objects.get(user=user)
    assert job.status == JobStatus.COMPLETED, job.error_message
    items = ScrapingJobItem.objects.filter(job=job)
    stored = items.filter(status=ItemStatus.STORED).count()
    assert stored >= 5 and job.processed_items == stored
    assert Artifact.objects.filter(user=user).count() == stored
    assert items.filter(status=ItemStatus.DUPLICATE).count() == job.skipped_items == 1, "the repost"
    assert job.failed_items == 0
    assert not items.filter(url__contains="/private/").exists()
    assert summary.scraping_job_id == str(job.pk)

    prompt = Prompt.objects.get(user=user)
    assert prompt.status == PromptStatus.COMPLETED, prompt.error_message
    assert GeneratedImage.objects.filter(prompt=prompt).count() == data.PROMPT_IMAGES

    persona_task = GenerationTask.objects.get(user=user)
    assert persona_task.status == PersonaStatus.COMPLETED, persona_task.error_log
    assert GeneratedPersona.objects.filter(task=persona_task).count() == data.PERSONA_COUNT
    assert summary.persona_task_id == persona_task.task_id

    shown = credentials(output)
    assert {name: role for name, (_, role) in shown.items()} == {
        "demo-user": Role.USER,
        "demo-reviewer": Role.REVIEWER,
    }
    assert "Demo users (passwords shown once):" in output


def test_a_second_load_changes_nothing_and_says_so(instance):
    first, first_output = load(instance.base_url)
    before = snapshot()

    second, output = load(instance.base_url)

    assert snapshot() == before
    assert "Demo data already loaded" in output
    assert not second.changed and first.changed
    assert "Demo users" not in output and not credentials(output), "passwords are shown once"
    assert (second.workflow_id, second.scraping_job_id, second.persona_task_id) == (
        first.workflow_id,
        first.scraping_job_id,
        first.persona_task_id,
    )
    assert credentials(first_output)


def test_the_printed_passwords_sign_in_and_each_role_sees_what_it_should(instance, client):
    _, output = load(instance.base_url)
    shown = credentials(output)

    tokens = {}
    for username, (password, _) in shown.items():
        response = APIClient().post("/api/v1/auth/login/", {"username": username, "password": password})
        assert response.status_code == 200, response.content
        tokens[username] = response.json()["token"]

    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['demo-user']}")
    listed = owner.get("/api/v1/captions/images/", {"status": "pending"})
    assert listed.status_code == 200, listed.content
    body = listed.json()
    results = body["results"] if isinstance(body, dict) else body
    assert len(results) == IMAGES_WITHOUT_ALT_TEXT
    assert all(image["generated_caption"] for image in results)

    # The caption queue is everyone's for a reviewer, in the API and in the admin alike.
    reviewer_api = APIClient()
    reviewer_api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['demo-reviewer']}")
    queue_api = reviewer_api.get("/api/v1/captions/images/", {"status": "pending"}).json()
    queue_api = queue_api["results"] if isinstance(queue_api, dict) else queue_api
    assert {image["id"] for image in queue_api} == {image["id"] for image in results}
    reviewer = User.objects.get(username="demo-reviewer")
    client.force_login(reviewer)
    queue = client.get("/admin/captions/image/")
    assert queue.status_code == 200
    assert {image.pk for image in queue.context["cl"].result_list} == {image["id"] for image in results}

    # demo-user owns content and works on it in the admin too.
    client.force_login(User.objects.get(username="demo-user"))
    own = client.get("/admin/captions/image/")
    assert own.status_code == 200
    assert {image.pk for image in own.context["cl"].result_list} == {image["id"] for image in results}


def test_with_nothing_listening_the_instance_runs_in_process_for_the_load(settings):
    port = free_port()
    url = use_demo_instance(settings, f"http://127.0.0.1:{port}")

    summary, _ = load(url)

    assert (
        Image.objects.filter(instance_url=url, status=ImageStatus.PENDING).count() == IMAGES_WITHOUT_ALT_TEXT
    )
    assert ScrapingJob.objects.get(pk=summary.scraping_job_id).status == JobStatus.COMPLETED
    assert not listening(port), "the in-process instance is stopped after the load"


def test_an_interrupted_load_is_completed_by_the_next_without_new_passwords(instance, httpserver):
    httpserver.expect_request("/api/v1/accounts/verify_credentials").respond_with_data("nope", status=404)
    other = httpserver.url_for("").rstrip("/")

    first = StringIO()
    with pytest.raises(DemoLoadError, match="not the demo instance"):
        demo_load(instance_url=other, out=first)
    shown = credentials(first.getvalue())
    assert set(shown) == {"demo-user", "demo-reviewer"}, "accounts made before the failure are shown"
    assert not PlatformConnection.objects.exists()

    summary, output = load(instance.base_url)

    assert not credentials(output)
    assert "account demo-user" not in summary.created and "caption task" in summary.created
    assert User.objects.get(username="demo-user").check_password(shown["demo-user"][0])
    assert Workflow.objects.get().status == WorkflowStatus.AWAITING_REVIEW


def test_a_plain_http_instance_outside_the_allowed_origins_is_refused_with_the_reason(instance, settings):
    settings.OUTBOUND_ALLOWED_ORIGINS = []

    with pytest.raises(DemoLoadError, match="needs the origin in OUTBOUND_ALLOWED_ORIGINS"):
        load(instance.base_url)
    assert not PlatformConnection.objects.exists()
    assert not ScrapingJob.objects.exists()


def test_a_moved_instance_moves_the_connection_and_nothing_else(instance, settings):
    load(instance.base_url)
    before = snapshot()

    with DemoInstance(port=0) as moved:
        moved_url = use_demo_instance(settings, moved.base_url)
        summary, output = load(moved_url)

    assert summary.created == ["connection moved"]
    assert PlatformConnection.objects.get().instance_url == moved_url
    after = snapshot()
    unchanged = [table for table in TABLES if table not in ("platform_connections", "audit_logs")]
    assert {table: after[table] for table in unchanged} == {table: before[table] for table in unchanged}
    assert f"moved to {moved_url}" in output
