"""Content repurposing (seed 001, MorphPost): a workflow turns one source into per-platform
drafts that an AI scores, a human reviews and a publishing job sends out.

The engine's state lives in these rows plus `WorkflowCheckpoint` (which replaces LangGraph's
checkpoint tables). Every write goes through `workflows.services`.
"""

import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from core.models import TimestampedModel
from platforms.kinds.registry import Target

# What a workflow writes for: the platform registry's targets (see platforms/kinds/registry.py for
# how they relate to connection types). Stored values and API contract: linkedin, x, blog, mastodon.
Platform = Target


class WorkflowStatus(models.TextChoices):
    RUNNING = "running", "Running"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ARCHIVED = "archived", "Archived"


class WorkflowMode(models.TextChoices):
    MANUAL = "manual", "Manual"
    TEMPLATE = "template", "Template"


class PlatformStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    GENERATING = "generating", "Generating"
    EVALUATING = "evaluating", "Evaluating"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"


class DraftSource(models.TextChoices):
    AI = "ai", "AI-generated"
    HUMAN = "human", "Human-edited"


class ResourceType(models.TextChoices):
    STYLE_SAMPLE = "style_sample", "Style sample"
    REFERENCE = "reference", "Reference"
    IMAGE = "image", "Image"


class PublishingStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A job in one of these states may still publish; at most one per (workflow, platform).
LIVE_PUBLISHING_STATUSES = (PublishingStatus.QUEUED, PublishingStatus.SCHEDULED, PublishingStatus.PUBLISHING)


def new_idempotency_key() -> str:
    """A random 64-character key; services may set a deterministic one instead."""
    return secrets.token_hex(32)


class Workflow(TimestampedModel):
    """One repurposing run: a source (manual) or template input, fanned out to platforms."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows", db_index=False
    )
    status = models.CharField(max_length=50, choices=WorkflowStatus.choices, default=WorkflowStatus.RUNNING)
    mode = models.CharField(max_length=20, choices=WorkflowMode.choices)
    source_content = models.JSONField(null=True, blank=True)
    template_input = models.JSONField(null=True, blank=True)
    manual_options = models.JSONField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "workflows"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=WorkflowStatus.values), name="ck_workflows_status"
            ),
            models.CheckConstraint(
                condition=models.Q(mode__in=WorkflowMode.values), name="ck_workflows_mode"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_workflow_user_id"),
            models.Index(fields=["status"], name="idx_workflow_status"),
            models.Index(fields=["created_at"], name="idx_workflow_created_at"),
            models.Index(fields=["status", "updated_at"], name="idx_workflow_status_updated"),
        ]

    def __str__(self) -> str:
        return f"Workflow {str(self.id)[:8]} ({self.get_status_display()})"


class PlatformState(TimestampedModel):
    """Where one platform of a workflow stands: its status, active draft and attempts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="platform_states", db_index=False
    )
    platform = models.CharField(max_length=20, choices=Platform.choices)
    status = models.CharField(max_length=50, choices=PlatformStatus.choices, default=PlatformStatus.PENDING)
    active_draft = models.ForeignKey(
        "Draft", on_delete=models.SET_NULL, null=True, blank=True, related_name="active_in_states"
    )
    iteration = models.PositiveIntegerField(default=0)
    last_feedback = models.TextField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "platform_states"
        ordering = ["workflow_id", "platform"]
        permissions = [("review_platformstate", "Can review drafts (accept, reject, edit)")]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "platform"], name="uq_workflow_platform"),
            models.CheckConstraint(
                condition=models.Q(platform__in=Platform.values), name="ck_platform_states_platform"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PlatformStatus.values), name="ck_platform_states_status"
            ),
            models.CheckConstraint(condition=models.Q(iteration__gte=0), name="ck_platform_states_iteration"),
        ]
        indexes = [
            models.Index(fields=["workflow"], name="idx_platform_state_workflow_id"),
            models.Index(fields=["platform"], name="idx_platform_state_platform"),
            models.Index(fields=["status"], name="idx_platform_state_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.get_status_display()}"


class Draft(models.Model):
    """One version of a platform's text. Immutable: an edit is a new human draft `based_on` it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="drafts", db_index=False)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    content = models.TextField()
    source = models.CharField(max_length=20, choices=DraftSource.choices)
    based_on = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="derived_drafts"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="authored_drafts",
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "drafts"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform__in=Platform.values), name="ck_drafts_platform"
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=DraftSource.values), name="ck_drafts_source"
            ),
        ]
        indexes = [
            models.Index(fields=["workflow"], name="idx_draft_workflow_id"),
            models.Index(fields=["platform"], name="idx_draft_platform"),
            models.Index(fields=["created_at"], name="idx_draft_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} draft {str(self.id)[:8]} ({self.get_source_display()})"


class Evaluation(models.Model):
    """An AI score of one draft, with the criteria breakdown and the feedback for regeneration."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="evaluations", db_index=False)
    score = models.IntegerField(validators=[MinValueValidator(0), MaxValueValidator(100)])
    feedback = models.TextField(null=True, blank=True)
    criteria_scores = models.JSONField(null=True, blank=True)
    evaluator = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "evaluations"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=100), name="ck_evaluations_score"
            ),
        ]
        indexes = [
            models.Index(fields=["draft"], name="idx_evaluation_draft_id"),
            models.Index(fields=["score"], name="idx_evaluation_score"),
            models.Index(fields=["created_at"], name="idx_evaluation_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.score}/100 for draft {str(self.draft_id)[:8]}"


class Resource(TimestampedModel):
    """A user's writing sample, reference material or image description used for generation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="content_resources", db_index=False
    )
    type = models.CharField(max_length=50, choices=ResourceType.choices)
    title = models.CharField(max_length=255, blank=True, default="")
    content = models.TextField()
    metadata = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "resources"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type__in=ResourceType.values), name="ck_resources_type"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_resource_user_id"),
            models.Index(fields=["type"], name="idx_resource_type"),
            models.Index(fields=["created_at"], name="idx_resource_created_at"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_type_display()} {str(self.id)[:8]}"


class PublishingJob(TimestampedModel):
    """Sending one accepted draft to one platform, now or at `scheduled_for`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="publishing_jobs", db_index=False
    )
    platform = models.CharField(max_length=20, choices=Platform.choices)
    # RESTRICT, not PROTECT: the published draft cannot be deleted on its own, yet deleting the
    # workflow (or its user) still removes drafts and jobs together.
    draft = models.ForeignKey(Draft, on_delete=models.RESTRICT, related_name="publishing_jobs")
    platform_connection = models.ForeignKey(
        "platforms.PlatformConnection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="publishing_jobs",
    )
    status = models.CharField(
        max_length=50, choices=PublishingStatus.choices, default=PublishingStatus.QUEUED
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    response_data = models.JSONField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, default=new_idempotency_key)
    # This publication's platform options over its connection's (WordPress: status, category,
    # tags, hashtags_as_tags), checked when the job is created.
    options = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "publishing_jobs"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "platform"],
                condition=models.Q(status__in=LIVE_PUBLISHING_STATUSES),
                name="uq_publishing_job_live",
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="uq_publishing_job_idem_key"),
            models.CheckConstraint(
                condition=models.Q(platform__in=Platform.values), name="ck_publishing_jobs_platform"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PublishingStatus.values), name="ck_publishing_jobs_status"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=PublishingStatus.SCHEDULED)
                | models.Q(scheduled_for__isnull=False),
                name="ck_publishing_jobs_scheduled",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=PublishingStatus.PUBLISHED) | models.Q(published_at__isnull=False),
                name="ck_publishing_jobs_published",
            ),
        ]
        indexes = [
            models.Index(fields=["workflow"], name="idx_publishing_job_workflow_id"),
            models.Index(fields=["status"], name="idx_publishing_job_status"),
            models.Index(fields=["scheduled_for"], name="idx_publishing_job_sched_for"),
            models.Index(fields=["status", "scheduled_for"], name="idx_publishing_job_due"),
            models.Index(fields=["created_at"], name="idx_publishing_job_created_at"),
            # The admin index's work per day: drafts published in the last 30 days.
            models.Index(fields=["published_at"], name="idx_publishing_job_published"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} job {str(self.id)[:8]} ({self.get_status_display()})"

    def audit_context(self) -> dict:
        """What every audit row about a job says besides its own details (accounts.services.audit)."""
        return {"workflow": str(self.workflow_id), "platform": self.platform}


class WorkflowCheckpoint(models.Model):
    """A snapshot of one platform's engine state after a step (replaces LangGraph's tables)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by uq_workflow_checkpoint_seq, whose first column is the workflow.
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="checkpoints", db_index=False
    )
    platform = models.CharField(max_length=20, choices=Platform.choices)
    step = models.CharField(max_length=50)
    sequence = models.PositiveIntegerField()
    state = models.JSONField(default=dict)
    metadata = models.JSONField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "workflow_checkpoints"
        ordering = ["workflow_id", "platform", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "platform", "sequence"], name="uq_workflow_checkpoint_seq"
            ),
            models.CheckConstraint(
                condition=models.Q(platform__in=Platform.values), name="ck_workflow_checkpoints_platform"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform} #{self.sequence} after {self.step}"


class MediaOrigin(models.TextChoices):
    UPLOAD = "upload", "Uploaded"
    GENERATED = "generated", "Generated image"
    PERSONA = "persona", "Persona image"


class AltTextStatus(models.TextChoices):
    PENDING = "pending", "Being written"  # the caption backends are writing it
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    NEEDS_WRITING = "needs_writing", "To be written by a person"  # video, or the AI could not
    APPROVED = "approved", "Approved"


class MediaAttachment(TimestampedModel):
    """An image (or video) a workflow's posts carry, with its alt text's way through review.

    Not a seed table: MorphPost published text only. A workflow's attachments go on every
    platform's post unless `platform` names one. Nothing is published until each attachment's alt
    text is approved by a person (or, where the owner relaxed the gate, at least not empty).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="media", db_index=False)
    platform = models.CharField(
        max_length=20,
        choices=Platform.choices,
        null=True,
        blank=True,
        help_text="Only on this platform's post; blank: on every platform's post.",
    )
    position = models.PositiveSmallIntegerField(help_text="Order on the post, 0 first.")
    origin = models.CharField(max_length=20, choices=MediaOrigin.choices)
    origin_ref = models.CharField(max_length=100, blank=True, default="", help_text="Where it came from.")
    storage_key = models.CharField(max_length=500)
    media_type = models.CharField(max_length=100, help_text="MIME type, as read from the content.")
    filename = models.CharField(max_length=200)
    size = models.PositiveIntegerField(help_text="Bytes.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    focus_x = models.FloatField(null=True, blank=True, help_text="-1 (left) to 1 (right).")
    focus_y = models.FloatField(null=True, blank=True, help_text="-1 (bottom) to 1 (top).")
    language = models.CharField(max_length=16, default="en", help_text="The alt text's language.")
    alt_text = models.TextField(blank=True, default="", help_text="The alt text as it stands.")
    generated_alt_text = models.TextField(blank=True, default="")
    alt_status = models.CharField(max_length=20, choices=AltTextStatus.choices, default=AltTextStatus.PENDING)
    alt_score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 to 100.")
    alt_notes = models.TextField(blank=True, default="", help_text="Why the score, for the reviewer.")
    needs_special_review = models.BooleanField(default=False)
    alt_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviewed_media",
    )
    alt_reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "media_attachments"
        ordering = ["workflow_id", "position", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform__isnull=True) | models.Q(platform__in=Platform.values),
                name="ck_media_attachments_platform",
            ),
            models.CheckConstraint(
                condition=models.Q(origin__in=MediaOrigin.values), name="ck_media_attachments_origin"
            ),
            models.CheckConstraint(
                condition=models.Q(alt_status__in=AltTextStatus.values),
                name="ck_media_attachments_alt_status",
            ),
            models.CheckConstraint(
                condition=models.Q(alt_score__isnull=True) | models.Q(alt_score__gte=1, alt_score__lte=100),
                name="ck_media_attachments_alt_score",
            ),
        ]
        indexes = [
            models.Index(fields=["workflow", "position"], name="idx_media_workflow_position"),
            models.Index(fields=["alt_status", "created_at"], name="idx_media_alt_status"),
            # Retention asks whether any attachment still names a stored file before deleting it.
            models.Index(fields=["storage_key"], name="idx_media_storage_key"),
        ]
        permissions = [("review_mediaattachment", "Can review and approve the alt text of draft media")]

    def __str__(self) -> str:
        return f"{self.filename} (#{self.position + 1})"

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")
