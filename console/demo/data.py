"""The demo data `manage.py bootstrap --demo` loads: `demo_load(instance_url=..., out=...)`.

Two accounts (`demo-user` owns everything, `demo-reviewer` reviews it), a Mastodon connection to
the built-in demo instance (`console.demo.instance`), and one finished run of every pipeline:
captions scanned and generated (pending review), a workflow awaiting review, a scraping job over
the demo site, a prompt with images and a persona task.

Everything is written by the apps' own services and run by their own run services, in this
process and in order, so the demo is exactly what a user's first run produces. The create
services also hand each piece to django-q once committed; those messages find nothing to claim
when a worker gets to them (every run claims its row first), so nothing runs twice.

Loading is idempotent: each piece is looked up first and made only when it is missing or did not
finish, so a second load changes nothing and a load interrupted half way is completed by the
next. Passwords are generated and printed once, when an account is created.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TextIO
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Role, User
from accounts.services.audit import audit_log_write
from accounts.services.users import user_set_role
from captions.models import ACTIVE_TASK_STATUSES, CaptionGenerationTask, Image, ImageStatus, TaskStatus
from console.demo.instance import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEMO_ACCOUNT_USERNAME,
    DEMO_TOKEN,
    DemoInstance,
    is_loopback,
)
from core.errors import DomainError
from generation.models import GenerationTask, Prompt, PromptStatus
from generation.models import TaskStatus as PersonaStatus
from platforms.models import PlatformConnection, PlatformType
from scraping.models import JobStatus, JobType, ScrapingJob
from workflows.models import Platform, PlatformState, Workflow, WorkflowMode, WorkflowStatus
from workflows.services.status import WORKING

logger = logging.getLogger(__name__)

DEFAULT_INSTANCE_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"

DEMO_USER = "demo-user"
DEMO_REVIEWER = "demo-reviewer"
ACCOUNTS = (
    (DEMO_USER, Role.USER, "Demo User"),
    (DEMO_REVIEWER, Role.REVIEWER, "Demo Reviewer"),
)
CONNECTION_NAME = "Demo instance"

WORKFLOW_TITLE = "Alt text in five minutes (demo)"
WORKFLOW_TEXT = (
    "Most images on social media still have no alt text, and that leaves blind and low-vision "
    "readers guessing. Writing it takes less time than people think. Say what the picture shows "
    "and why it is in the post; skip 'image of'; keep it under two sentences for a simple photo. "
    "Charts need the numbers that matter, screenshots need their text. Our team now reviews every "
    "suggested caption before it is posted, and the backlog of undescribed pictures is shrinking "
    "every week."
)
WORKFLOW_PLATFORMS = [Platform.MASTODON, Platform.LINKEDIN]
WORKFLOW_OPTIONS = {"tone": "friendly", "length": "short", "hashtags": ["accessibility", "alttext"]}

SCRAPING_TITLE = "Demo site: articles on alt text"
SCRAPING_KEYWORDS = ["alt text", "accessibility"]

PROMPT_TEXT = "A lighthouse on a rocky coast at dusk, watercolour, soft orange sky"
PROMPT_SEED = 2024
PROMPT_IMAGES = 4

PERSONA_DESCRIPTION = "Community managers of small museums who post about their collections"
PERSONA_LANGUAGE = "English"
PERSONA_COUNT = 3
PERSONA_IMAGES = 4

# A worker that is running (`manage.py serve`) may take a piece before the load runs it; the load
# then waits this long for the worker to finish it.
FINISH_SECONDS = 300.0
POLL_SECONDS = 0.2


class DemoLoadError(Exception):
    """The demo could not be loaded; the message says why and what to do."""


@dataclass
class DemoSummary:
    """What a load did. `passwords` holds only the accounts this load created (shown once)."""

    created: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    instance_url: str = ""
    connection_id: int | None = None
    caption_task_id: str | None = None
    workflow_id: str | None = None
    scraping_job_id: str | None = None
    prompt_id: int | None = None
    persona_task_id: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created)


# --- the demo instance -------------------------------------------------------------------------


def demo_instance_answers(instance_url: str, *, timeout: float = 3.0) -> bool:
    """True when the demo instance answers at `instance_url`; False when nothing listens there.

    Raises DemoLoadError when something else answers: loading against it would only fail later
    with a less helpful message."""
    try:
        response = httpx.get(
            f"{instance_url}/api/v1/accounts/verify_credentials",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
            timeout=timeout,
            trust_env=False,  # a proxy from the environment must not answer for loopback
        )
    except httpx.ConnectError:
        return False
    except httpx.HTTPError as exc:
        raise DemoLoadError(f"{instance_url} did not answer like the demo instance: {exc}.") from None
    try:
        username = response.json().get("username") if response.status_code == 200 else None
    except ValueError:
        username = None
    if username != DEMO_ACCOUNT_USERNAME:
        raise DemoLoadError(
            f"Something else answers at {instance_url} (HTTP {response.status_code}), not the demo "
            "instance. Stop it, or point DEMO_INSTANCE_URL at a free loopback port."
        )
    return True


@contextmanager
def demo_instance_available(instance_url: str) -> Iterator[None]:
    """The demo instance answers at `instance_url` while the block runs: the one already running
    there (`manage.py serve --demo-instance`), else one started in this process and stopped after."""
    if demo_instance_answers(instance_url):
        yield
        return
    parts = urlsplit(instance_url)
    host = parts.hostname or ""
    if parts.scheme != "http" or not is_loopback(host) or parts.port is None:
        raise DemoLoadError(
            f"Nothing answers at {instance_url}, and the demo instance can only be started here on "
            "a loopback http URL with a port (like http://127.0.0.1:8001)."
        )
    instance = DemoInstance(host=host, port=parts.port)
    try:
        instance.start()
    except OSError as exc:
        raise DemoLoadError(f"Could not start the demo instance on {host}:{parts.port}: {exc}.") from None
    logger.info("Started the demo instance at %s for the load", instance.base_url)
    try:
        yield
    finally:
        instance.stop()


# --- what is there already ---------------------------------------------------------------------


def _user(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def _connection(user: User | None) -> PlatformConnection | None:
    if user is None:
        return None
    return PlatformConnection.objects.filter(user=user, name=CONNECTION_NAME).first()


def _done_caption_task(connection: PlatformConnection | None) -> CaptionGenerationTask | None:
    if connection is None:
        return None
    return (
        CaptionGenerationTask.objects.filter(platform_connection=connection, status=TaskStatus.COMPLETED)
        .order_by("-created_at")
        .first()
    )


def _done_workflow(user: User | None) -> Workflow | None:
    if user is None:
        return None
    unfinished = (WorkflowStatus.RUNNING, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED)
    return (
        Workflow.objects.filter(user=user, source_content__title=WORKFLOW_TITLE)
        .exclude(status__in=unfinished)
        .order_by("-created_at")
        .first()
    )


def _done_scraping_job(user: User | None) -> ScrapingJob | None:
    if user is None:
        return None
    return ScrapingJob.objects.filter(user=user, title=SCRAPING_TITLE, status=JobStatus.COMPLETED).first()


def _done_prompt(user: User | None) -> Prompt | None:
    if user is None:
        return None
    return Prompt.objects.filter(user=user, prompt_text=PROMPT_TEXT, status=PromptStatus.COMPLETED).first()


def _done_persona_task(user: User | None) -> GenerationTask | None:
    if user is None:
        return None
    return GenerationTask.objects.filter(
        user=user, persona_description=PERSONA_DESCRIPTION, status=PersonaStatus.COMPLETED
    ).first()


def demo_missing(*, instance_url: str) -> list[str]:
    """The pieces of the demo not loaded yet (empty: the demo is complete and its connection
    points at `instance_url`)."""
    user = _user(DEMO_USER)
    connection = _connection(user)
    checks = {
        "accounts": user is not None and _user(DEMO_REVIEWER) is not None,
        "connection": connection is not None and _same_url(connection.instance_url, instance_url),
        "captions": _done_caption_task(connection) is not None,
        "workflow": _done_workflow(user) is not None,
        "scraping": _done_scraping_job(user) is not None,
        "prompt": _done_prompt(user) is not None,
        "personas": _done_persona_task(user) is not None,
    }
    return [name for name, done in checks.items() if not done]


# --- loading -----------------------------------------------------------------------------------


def demo_load(*, instance_url: str, out: TextIO) -> DemoSummary:
    """Load whatever of the demo is missing (see the module docstring); report on `out`.

    `instance_url` is the demo instance's base URL; when nothing answers there it is started in
    this process for the duration of the load. Raises DemoLoadError with a readable message when
    a piece cannot be loaded; what was loaded before stays, and the next load continues from there.
    """
    instance_url = instance_url.rstrip("/")
    summary = DemoSummary(instance_url=instance_url)
    missing = demo_missing(instance_url=instance_url)
    if not missing:
        user = _user(DEMO_USER)
        _fill_ids(summary, user)
        out.write(f"Demo data already loaded (account '{DEMO_USER}' exists); nothing changed.\n")
        return summary

    user = _accounts(summary)
    try:
        with demo_instance_available(instance_url):
            connection = _demo_connection(summary, user=user, instance_url=instance_url, out=out)
            _captions(summary, user=user, connection=connection, out=out)
            _workflow(summary, user=user, out=out)
            _scraping(summary, user=user, instance_url=instance_url, out=out)
        _prompt(summary, user=user, out=out)
        _personas(summary, user=user, out=out)
    finally:
        # Even when a later piece failed: the accounts exist now and a next load will not show
        # their passwords again.
        _print_accounts(summary, out=out)
    _fill_ids(summary, user)
    return summary


def _fill_ids(summary: DemoSummary, user: User | None) -> None:
    connection = _connection(user)
    summary.connection_id = connection.pk if connection else None
    found = {
        "caption_task_id": _done_caption_task(connection),
        "workflow_id": _done_workflow(user),
        "scraping_job_id": _done_scraping_job(user),
        "prompt_id": _done_prompt(user),
        "persona_task_id": _done_persona_task(user),
    }
    for name, row in found.items():
        if row is not None:
            value = row.task_id if isinstance(row, GenerationTask) else row.pk
            setattr(summary, name, value if isinstance(value, int) else str(value))


@transaction.atomic
def _accounts(summary: DemoSummary) -> User:
    """Both accounts (each made when missing); returns demo-user, who owns the data."""
    accounts = []
    for username, role, full_name in ACCOUNTS:
        user = _user(username)
        if user is None:
            password = secrets.token_urlsafe(18)
            user = User(username=username, email=f"{username}@example.com", full_name=full_name)
            user.set_password(password)
            user.save()
            user_set_role(user=user, role=role)
            audit_log_write(
                action="user.created",
                target=user,
                details={"by": "bootstrap --demo", "role": role},
            )
            summary.passwords[username] = password
            summary.created.append(f"account {username}")
        accounts.append(user)
    return accounts[0]


def _demo_connection(
    summary: DemoSummary, *, user: User, instance_url: str, out: TextIO
) -> PlatformConnection:
    from captions.services.user_settings import caption_settings_upsert
    from platforms.services import connection_create, connection_update, connection_verify

    connection = _connection(user)
    if connection is not None and _same_url(connection.instance_url, instance_url):
        return connection
    try:
        if connection is None:
            connection = connection_create(
                user=user,
                name=CONNECTION_NAME,
                platform_type=PlatformType.MASTODON,
                instance_url=instance_url,
                access_token=DEMO_TOKEN,
                is_default=True,
                actor=user,
            )
            # Pacing spares a real instance; the demo one is on this machine's loopback.
            caption_settings_upsert(connection=connection, values={"processing_delay": 0}, actor=user)
            summary.created.append("connection")
        else:
            # The instance moved (another DEMO_PORT): follow it rather than keep a dead address.
            connection = connection_update(
                connection=connection, data={"instance_url": instance_url}, actor=user
            )
            summary.created.append("connection moved")
            out.write(f"Demo connection moved to {instance_url}.\n")
    except ValidationError as exc:
        raise DemoLoadError(
            f"The demo connection to {instance_url} was refused: {_messages(exc)} "
            "(plain http to loopback needs the origin in OUTBOUND_ALLOWED_ORIGINS; DEMO_INSTANCE_URL "
            "joins it when the server starts, as `make run` sets it)."
        ) from None
    # Verifying learns the account's name and the instance's post length limit, which the
    # workflow writer keeps Mastodon drafts within.
    try:
        connection_verify(connection=connection, actor=user)
    except DomainError as exc:
        raise DemoLoadError(
            f"The demo connection to {instance_url} could not be verified: {exc.message}"
        ) from None
    connection.refresh_from_db()
    return connection


def _same_url(stored: str, given: str) -> bool:
    # The stored URL is normalised (lower-case scheme and host, no trailing slash).
    return stored.lower() == given.rstrip("/").lower()


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(f"{key}: {' '.join(messages)}" for key, messages in exc.message_dict.items())
    return " ".join(exc.messages)


def _captions(summary: DemoSummary, *, user: User, connection: PlatformConnection, out: TextIO) -> None:
    from captions.services.tasks import caption_task_create, caption_task_run

    if _done_caption_task(connection) is not None:
        return
    # One task per connection may be active: an earlier load's (or a user's) is run or waited for.
    task = CaptionGenerationTask.objects.filter(
        platform_connection=connection, status__in=ACTIVE_TASK_STATUSES
    ).first() or caption_task_create(user=user, connection=connection)
    caption_task_run(task_id=task.pk)
    _finished(lambda: _status_of(CaptionGenerationTask, pk=task.pk), TaskStatus.RUNNING)
    task.refresh_from_db()
    if task.status != TaskStatus.COMPLETED:
        raise DemoLoadError(f"The demo caption task ended {task.status}: {task.error_message}")
    results = task.results_json or {}
    pending = Image.objects.filter(platform_connection=connection, status=ImageStatus.PENDING).count()
    summary.created.append("caption task")
    out.write(
        f"Demo captions: {results.get('posts_seen', 0)} posts scanned, "
        f"{results.get('captions_generated', 0)} captions generated, {pending} images pending review.\n"
    )


def _workflow(summary: DemoSummary, *, user: User, out: TextIO) -> None:
    from workflows.services.engine import platform_step_run
    from workflows.services.workflows import workflow_create

    if _done_workflow(user) is not None:
        return
    workflow = workflow_create(
        user=user,
        mode=WorkflowMode.MANUAL,
        platforms=list(WORKFLOW_PLATFORMS),
        source_content={"text": WORKFLOW_TEXT, "title": WORKFLOW_TITLE},
        manual_options=WORKFLOW_OPTIONS,
    )
    # The engine runs one step per task and queues the next; here the steps run in turn (a step a
    # worker holds is not claimed again, and the loop waits for it). The engine bounds the drafts
    # per platform, so the loop ends.
    deadline = time.monotonic() + FINISH_SECONDS
    working = PlatformState.objects.filter(workflow=workflow, status__in=WORKING)
    while time.monotonic() < deadline:
        state_ids = list(working.values_list("pk", flat=True))
        if not state_ids:
            break
        for state_id in state_ids:
            platform_step_run(state_id=state_id)
        time.sleep(POLL_SECONDS / 4)
    workflow.refresh_from_db()
    if workflow.status != WorkflowStatus.AWAITING_REVIEW:
        raise DemoLoadError(
            f"The demo workflow ended {workflow.status}, not awaiting review: {workflow.error_message or ''}"
        )
    summary.created.append("workflow")
    drafts = workflow.drafts.count()
    out.write(f"Demo workflow: {drafts} drafts for {len(WORKFLOW_PLATFORMS)} platforms, awaiting review.\n")


def _scraping(summary: DemoSummary, *, user: User, instance_url: str, out: TextIO) -> None:
    from scraping.fetching import Fetcher
    from scraping.services.jobs import scraping_job_create
    from scraping.services.runner import scraping_job_run

    if _done_scraping_job(user) is not None:
        return
    try:
        job = scraping_job_create(
            user=user,
            title=SCRAPING_TITLE,
            job_type=JobType.SITEMAP,
            keywords=SCRAPING_KEYWORDS,
            description="The demo instance's small website, read through its sitemap.",
            configuration={"sitemap_urls": [f"{instance_url}/site/sitemap.xml"], "max_items": 20},
        )
    except ValidationError as exc:
        raise DemoLoadError(f"The demo scraping job was refused: {_messages(exc)}") from None
    # The politeness delay spares other people's servers; the demo site is this machine's own
    # loopback fake, and waiting on it would only slow down the first `make run`.
    scraping_job_run(
        job_id=job.pk, fetcher_factory=lambda policy: Fetcher(policy=replace(policy, politeness_delay=0.0))
    )
    _finished(lambda: _status_of(ScrapingJob, pk=job.pk), JobStatus.RUNNING)
    job.refresh_from_db()
    if job.status != JobStatus.COMPLETED:
        raise DemoLoadError(f"The demo scraping job ended {job.status}: {job.error_message or ''}")
    summary.created.append("scraping job")
    out.write(
        f"Demo scraping: {job.processed_items} pages stored, {job.skipped_items} duplicates, "
        f"{job.failed_items} failed.\n"
    )


def _prompt(summary: DemoSummary, *, user: User, out: TextIO) -> None:
    from generation.services.prompts import prompt_create, prompt_generate

    if _done_prompt(user) is not None:
        return
    prompt = prompt_create(
        user=user, prompt_text=PROMPT_TEXT, seed=PROMPT_SEED, number_of_images=PROMPT_IMAGES
    )
    prompt_generate(prompt_id=prompt.pk)
    _finished(lambda: _status_of(Prompt, pk=prompt.pk), PromptStatus.RUNNING)
    prompt.refresh_from_db()
    if prompt.status != PromptStatus.COMPLETED:
        raise DemoLoadError(f"The demo prompt ended {prompt.status}: {prompt.error_message or ''}")
    summary.created.append("prompt")
    out.write(f"Demo prompt: {prompt.generated_images.count()} images generated.\n")


def _personas(summary: DemoSummary, *, user: User, out: TextIO) -> None:
    from generation.services.avatar_tasks import avatar_task_create, avatar_task_run

    if _done_persona_task(user) is not None:
        return
    task = avatar_task_create(
        user=user,
        persona_description=PERSONA_DESCRIPTION,
        bio_language=PERSONA_LANGUAGE,
        number_to_generate=PERSONA_COUNT,
        images_per_persona=PERSONA_IMAGES,
    )
    avatar_task_run(task_id=task.task_id)
    _finished(
        lambda: _status_of(GenerationTask, pk=task.pk),
        PersonaStatus.GENERATING_DATA,
        PersonaStatus.DATA_GENERATED,
        PersonaStatus.GENERATING_IMAGES,
    )
    task.refresh_from_db()
    if task.status != PersonaStatus.COMPLETED:
        raise DemoLoadError(f"The demo persona task ended {task.status}: {task.error_log or ''}")
    summary.created.append("persona task")
    out.write(f"Demo personas: {task.personas.count()} personas with {PERSONA_IMAGES} images each.\n")


def _status_of(model, *, pk) -> str | None:
    return model.objects.filter(pk=pk).values_list("status", flat=True).first()


def _finished(read_status: Callable[[], str | None], *working: str) -> None:
    """Wait while the piece is still in a `working` status after the load ran it: a worker took it
    first and is on it. The caller reports whatever status it has then."""
    deadline = time.monotonic() + FINISH_SECONDS
    while read_status() in working and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def _print_accounts(summary: DemoSummary, *, out: TextIO) -> None:
    if not summary.passwords:
        return
    out.write("Demo users (passwords shown once):\n")
    width = max(len(name) for name, _, _ in ACCOUNTS)
    for username, role, _ in ACCOUNTS:
        if username in summary.passwords:
            out.write(f"  {username:<{width}}  {summary.passwords[username]}   role {role}\n")
