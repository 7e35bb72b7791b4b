"""What needs a moderator's attention, for the admin index: counts, each with a link to the
changelist filtered to exactly the rows counted.

- Awaiting review: captions pending review and captions edited but not yet approved; drafts (platform
  states) awaiting review; alt text of workflows' media awaiting review or to be written
  (`workflows.selectors.media_awaiting_review`).
- Running now: work of every kind whose status is running, however long ago it started (one still
  running after a day is the one most worth a look).
- Failed in the last 24 hours: work of every kind that failed within `FAILED_WINDOW` of `now`, by
  `updated_at` (every service sets it on each state change, so on a failed row it is when it
  failed), plus django-q's own failed tasks by their stop time.
- Publishing: every failed publishing job, however old, until someone retries or cancels it.

Reads only, and cheap at any table size: one query per model, which selects only the rows matching
one of its conditions (so the status indexes do the work) and counts each condition with
`Count(filter=...)`. Only models the user may view (or change, as Django's admin has it) are read
and returned, and only the rows the model's changelist shows the user
(`accounts.admin_scoping.admin_rows`: moderators and admins everyone's, reviewers also the review
queues, every other role their own), so for a `user` the block is their own work.

`admin_dashboard_context` adds the pictures below the block (console.selectors reads,
console.charts draws): captions by status and quality band, work done per day, running work.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.contrib.auth import get_permission_codename
from django.db.models import Count, Model, Q
from django.urls import reverse
from django.utils.http import urlencode
from django_q.models import Failure

from accounts.admin_scoping import admin_rows
from accounts.permissions import sees_everyone
from accounts.selectors import OwnerPath
from captions.models import CaptionGenerationTask, Image, ImageStatus
from captions.models import TaskStatus as CaptionTaskStatus
from captions.selectors import CONNECTION_OWNER
from core.admin_lists import STOPPED_FILTER_PARAM, ChangedRecentlyFilter
from generation.models import GenerationTask, Prompt, PromptStatus
from generation.models import TaskStatus as PersonaTaskStatus
from generation.services.avatar_tasks import RUNNING_STATUSES as PERSONA_RUNNING_STATUSES
from scraping.models import JobStatus, ScrapingJob
from workflows.admin import NEEDS_A_PERSON, AltStatusFilter
from workflows.models import (
    MediaAttachment,
    PlatformState,
    PlatformStatus,
    PublishingJob,
    PublishingStatus,
    Workflow,
    WorkflowStatus,
)
from workflows.selectors import media_awaiting_review

FAILED_WINDOW = timedelta(hours=24)
# The changelists' "last changed" / "stopped" filter value for the same window.
FAILED_WINDOW_PARAM = "24h"

SECTION_REVIEW = "Awaiting review"
SECTION_RUNNING = "Running now"
SECTION_FAILED = "Failed in the last 24 hours"
SECTION_PUBLISHING = "Publishing"
SECTIONS = (SECTION_REVIEW, SECTION_RUNNING, SECTION_FAILED, SECTION_PUBLISHING)


@dataclass(frozen=True)
class AttentionItem:
    section: str
    label: str
    count: int
    url: str


@dataclass(frozen=True)
class _Counted:
    section: str
    label: str
    condition: Q
    # Changelist query string selecting the same rows; every key is one of its list filters.
    params: dict[str, str]


def _failed_recently(status: str, since: datetime) -> tuple[Q, dict[str, str]]:
    return (
        Q(status=status, updated_at__gte=since),
        {"status__exact": status, ChangedRecentlyFilter.parameter_name: FAILED_WINDOW_PARAM},
    )


def _counted_per_model(since: datetime) -> list[tuple[type[Model], list[_Counted]]]:
    def running(label: str, status: str) -> _Counted:
        return _Counted(SECTION_RUNNING, label, Q(status=status), {"status__exact": status})

    def failed(label: str, status: str) -> _Counted:
        return _Counted(SECTION_FAILED, label, *_failed_recently(status, since))

    return [
        (
            Image,
            [
                _Counted(
                    SECTION_REVIEW,
                    "Captions pending review",
                    Q(status=ImageStatus.PENDING),
                    {"status__exact": ImageStatus.PENDING},
                ),
                _Counted(
                    SECTION_REVIEW,
                    "Captions edited, awaiting approval",
                    Q(status=ImageStatus.REVIEWED),
                    {"status__exact": ImageStatus.REVIEWED},
                ),
            ],
        ),
        (
            PlatformState,
            [
                _Counted(
                    SECTION_REVIEW,
                    "Drafts awaiting review",
                    Q(status=PlatformStatus.AWAITING_REVIEW),
                    {"status__exact": PlatformStatus.AWAITING_REVIEW},
                )
            ],
        ),
        (
            CaptionGenerationTask,
            [
                running("Caption tasks", CaptionTaskStatus.RUNNING),
                failed("Caption tasks", CaptionTaskStatus.FAILED),
            ],
        ),
        (
            Workflow,
            [running("Workflows", WorkflowStatus.RUNNING), failed("Workflows", WorkflowStatus.FAILED)],
        ),
        (
            PublishingJob,
            [
                running("Publishing jobs", PublishingStatus.PUBLISHING),
                failed("Publishing jobs", PublishingStatus.FAILED),
                _Counted(
                    SECTION_PUBLISHING,
                    "Failed publishing jobs (retry or cancel them)",
                    Q(status=PublishingStatus.FAILED),
                    {"status__exact": PublishingStatus.FAILED},
                ),
            ],
        ),
        (
            ScrapingJob,
            [running("Scraping jobs", JobStatus.RUNNING), failed("Scraping jobs", JobStatus.FAILED)],
        ),
        (
            GenerationTask,
            [
                _Counted(
                    SECTION_RUNNING,
                    "Persona tasks",
                    Q(status__in=PERSONA_RUNNING_STATUSES),
                    {"progress": "running"},
                ),
                failed("Persona tasks", PersonaTaskStatus.FAILED),
            ],
        ),
        (
            Prompt,
            [running("Image prompts", PromptStatus.RUNNING), failed("Image prompts", PromptStatus.FAILED)],
        ),
        (
            Failure,
            [
                _Counted(
                    SECTION_FAILED,
                    "Background tasks (django-q)",
                    Q(stopped__gte=since),
                    {STOPPED_FILTER_PARAM: FAILED_WINDOW_PARAM},
                )
            ],
        ),
    ]


# Whose rows each model's counts read for someone who sees only their own (as in the APIs). A model
# without an owner here (django-q's failures) is counted only for those who see everyone.
OWNER_FIELDS: dict[type[Model], OwnerPath] = {
    Image: CONNECTION_OWNER,
    PlatformState: "workflow__user",
    CaptionGenerationTask: "user",
    Workflow: "user",
    PublishingJob: "workflow__user",
    ScrapingJob: "user",
    GenerationTask: "user",
    Prompt: "user",
}


def _visible_rows(user, model: type[Model]):
    """The rows the model's changelist shows the user (their own for a user, the review queues
    for a reviewer, everyone's for a moderator); None when they may see none of them."""
    if model in OWNER_FIELDS:
        return admin_rows(model, user=user)
    return model._default_manager.all() if sees_everyone(user) else None


def may_view(user, model: type[Model]) -> bool:
    opts = model._meta
    codenames = (get_permission_codename(action, opts) for action in ("view", "change"))
    return any(user.has_perm(f"{opts.app_label}.{codename}") for codename in codenames)


def admin_attention_items(*, user, now: datetime) -> list[AttentionItem]:
    """The dashboard's items the user may see, in SECTIONS order; zero counts included."""
    since = now - FAILED_WINDOW
    items: list[AttentionItem] = []
    for model, counted in _counted_per_model(since):
        rows = _visible_rows(user, model) if may_view(user, model) else None
        if rows is None:
            continue
        keys = [f"n{index}" for index in range(len(counted))]
        totals = rows.filter(reduce(or_, (entry.condition for entry in counted))).aggregate(
            **{key: Count("pk", filter=entry.condition) for key, entry in zip(keys, counted, strict=True)}
        )
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        items += [
            AttentionItem(
                section=entry.section,
                label=entry.label,
                count=totals[key],
                url=f"{changelist}?{urlencode(entry.params)}",
            )
            for key, entry in zip(keys, counted, strict=True)
        ]
    if may_view(user, MediaAttachment):
        # The review queue's rule (reviewers: everyone's), as the linked changelist scopes it.
        changelist = reverse("admin:workflows_mediaattachment_changelist")
        items.append(
            AttentionItem(
                section=SECTION_REVIEW,
                label="Alt text awaiting review",
                count=media_awaiting_review(user=user).count(),
                url=f"{changelist}?{urlencode({AltStatusFilter.parameter_name: NEEDS_A_PERSON})}",
            )
        )
    return sorted(items, key=lambda item: SECTIONS.index(item.section))
