"""Alt-text captioning (seed 000 Vedfolnir) and ImageFX image captions (seed 002).

Posts and their image attachments are fetched from a user's fediverse connection,
captioned by an AI backend, reviewed by a human and posted back. Every write goes
through `captions.services`; see docs/schema.md for the seed-to-field map.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from core.models import TimestampedModel


class Post(TimestampedModel):
    """A post on a fediverse platform that carries at least one image."""

    post_id = models.CharField(max_length=500, help_text="The post's id on its platform.")
    platform_user_id = models.CharField(
        max_length=200, help_text="The author's account id on the platform (not one of our users)."
    )
    post_url = models.URLField(max_length=500)
    post_content = models.TextField(null=True, blank=True)
    platform_connection = models.ForeignKey(
        "platforms.PlatformConnection", on_delete=models.CASCADE, related_name="posts", db_index=False
    )
    platform_type = models.CharField(max_length=50, null=True, blank=True, help_text="Legacy copy.")
    instance_url = models.CharField(max_length=500, null=True, blank=True, help_text="Legacy copy.")
    language = models.CharField(
        max_length=16, null=True, blank=True, help_text="The post's language as the platform reports it."
    )
    platform_details = models.JSONField(
        default=dict,
        blank=True,
        help_text="What a repost with alt text re-sends (Bluesky: every image of the post in order, "
        "with its URL, alt text and size, and the post's languages), as the last scan read it.",
    )
    repost_uri = models.CharField(
        max_length=500, null=True, blank=True, help_text="The post that re-sent this one with alt text."
    )
    repost_url = models.URLField(max_length=500, null=True, blank=True)
    reposted_at = models.DateTimeField(null=True, blank=True)
    original_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When this post was deleted after its repost with alt text."
    )

    class Meta:
        db_table = "posts"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["post_id", "platform_connection"], name="uq_post_platform"),
        ]
        indexes = [
            models.Index(fields=["platform_connection", "created_at"], name="ix_posts_connection_created"),
            models.Index(fields=["created_at"], name="ix_posts_created_at"),
        ]

    def __str__(self) -> str:
        return self.post_id


class ImageStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    REVIEWED = "reviewed", "Reviewed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    POSTED = "posted", "Posted"
    ERROR = "error", "Error"


class ImageCategory(models.TextChoices):
    PHOTO_PEOPLE = "photo_people", "Photo of people"
    LANDSCAPE = "landscape", "Landscape"
    FOOD = "food", "Food"
    ANIMAL = "animal", "Animal"
    OBJECT = "object", "Object"
    ARTWORK = "artwork", "Artwork"
    SCREENSHOT_TEXT = "screenshot_text", "Screenshot or text"
    CHART = "chart", "Chart or diagram"
    OTHER = "other", "Other"


class Image(TimestampedModel):
    """One image attachment of a post and its caption's way through review."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="images", db_index=False)
    image_url = models.URLField(max_length=1000)
    local_path = models.CharField(max_length=500, help_text="Storage key of the downloaded copy.")
    original_filename = models.CharField(max_length=200, null=True, blank=True)
    media_type = models.CharField(max_length=100, null=True, blank=True, help_text="MIME type.")
    image_post_id = models.CharField(
        max_length=100, null=True, blank=True, help_text="The media attachment's id on its platform."
    )
    attachment_index = models.PositiveIntegerField(help_text="Position of the image in its post (0 first).")
    platform_connection = models.ForeignKey(
        "platforms.PlatformConnection", on_delete=models.CASCADE, related_name="images", db_index=False
    )
    platform_type = models.CharField(max_length=50, null=True, blank=True, help_text="Legacy copy.")
    instance_url = models.CharField(max_length=500, null=True, blank=True, help_text="Legacy copy.")
    original_caption = models.TextField(
        null=True, blank=True, help_text="Alt text the image had on the platform."
    )
    generated_caption = models.TextField(null=True, blank=True)
    reviewed_caption = models.TextField(null=True, blank=True)
    final_caption = models.TextField(null=True, blank=True, help_text="The caption approved for posting.")
    image_category = models.CharField(max_length=50, choices=ImageCategory.choices, null=True, blank=True)
    prompt_used = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ImageStatus.choices, default=ImageStatus.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviewed_images",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    original_post_date = models.DateTimeField(null=True, blank=True)
    reviewer_notes = models.TextField(null=True, blank=True)
    processing_error = models.TextField(null=True, blank=True)
    caption_quality_score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 to 100.")
    needs_special_review = models.BooleanField(default=False)

    class Meta:
        db_table = "images"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image_post_id", "platform_connection"], name="uq_image_platform"
            ),
            models.CheckConstraint(condition=Q(status__in=ImageStatus.values), name="ck_images_status"),
            models.CheckConstraint(
                condition=Q(image_category__isnull=True) | Q(image_category__in=ImageCategory.values),
                name="ck_images_image_category",
            ),
            models.CheckConstraint(
                condition=Q(caption_quality_score__isnull=True)
                | Q(caption_quality_score__gte=1, caption_quality_score__lte=100),
                name="ck_images_quality_score",
            ),
            models.CheckConstraint(condition=Q(attachment_index__gte=0), name="ck_images_attachment_index"),
        ]
        indexes = [
            models.Index(fields=["platform_connection", "status"], name="ix_images_conn_status"),
            models.Index(fields=["status", "created_at"], name="ix_images_status_created"),
            models.Index(fields=["post", "attachment_index"], name="ix_images_post_attachment"),
            models.Index(fields=["created_at"], name="ix_images_created_at"),
            # The admin index's work per day: approvals and postings of the last 30 days. Partial, so
            # that the planner never pairs it with the (much larger) status index.
            models.Index(
                fields=["reviewed_at"],
                name="ix_images_approved_at",
                condition=Q(status__in=["approved", "posted"]),
            ),
            models.Index(fields=["posted_at"], name="ix_images_posted_at"),
            # Retention asks whether any image still names a stored copy before deleting it.
            models.Index(fields=["local_path"], name="ix_images_local_path"),
        ]
        permissions = [
            ("review_image", "Can review, approve and reject captions"),
            ("post_image_caption", "Can post approved captions back to the platform"),
        ]

    def __str__(self) -> str:
        position = "?" if self.attachment_index is None else self.attachment_index + 1
        return f"Image {position} of post #{self.post_id}"

    @property
    def current_caption(self) -> str:
        """The caption as it stands: final, else reviewed, else generated."""
        return self.final_caption or self.reviewed_caption or self.generated_caption or ""


class TaskStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_TASK_STATUSES = (TaskStatus.QUEUED, TaskStatus.RUNNING)


class CaptionGenerationTask(TimestampedModel):
    """A background job that scans one connection for images without alt text and captions them."""

    audit_resource_type = "caption_task"  # as audit rows have always named it

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caption_tasks", db_index=False
    )
    platform_connection = models.ForeignKey(
        "platforms.PlatformConnection", on_delete=models.CASCADE, related_name="caption_tasks"
    )
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    settings_json = models.JSONField(
        null=True, blank=True, help_text="Snapshot of the settings the task runs with."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.TextField(null=True, blank=True)
    results_json = models.JSONField(null=True, blank=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=200, null=True, blank=True)
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text="What the task had to work around (e.g. a guessed description limit), as sentences.",
    )

    class Meta:
        db_table = "caption_generation_tasks"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "platform_connection"],
                condition=Q(status__in=ACTIVE_TASK_STATUSES),
                name="uq_caption_task_one_active",
            ),
            models.CheckConstraint(condition=Q(status__in=TaskStatus.values), name="ck_caption_tasks_status"),
            models.CheckConstraint(
                condition=Q(progress_percent__gte=0, progress_percent__lte=100),
                name="ck_caption_tasks_progress",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="ix_caption_task_status_created"),
            models.Index(fields=["user", "created_at"], name="ix_caption_task_user_created"),
        ]

    def __str__(self) -> str:
        return f"Caption task {str(self.id)[:8]} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_TASK_STATUSES


class ProcessingRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


COUNTER_FIELDS = (
    "posts_processed",
    "images_processed",
    "captions_generated",
    "errors_count",
    "retry_attempts",
    "retry_successes",
    "retry_failures",
    "retry_total_time",
)


class ProcessingRun(models.Model):
    """The statistics of one pass over a connection's posts."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="processing_runs"
    )
    task = models.ForeignKey(
        CaptionGenerationTask,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="processing_runs",
    )
    batch_id = models.CharField(max_length=200, null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)
    posts_processed = models.PositiveIntegerField(default=0)
    images_processed = models.PositiveIntegerField(default=0)
    captions_generated = models.PositiveIntegerField(default=0)
    errors_count = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=50, choices=ProcessingRunStatus.choices, default=ProcessingRunStatus.RUNNING
    )
    platform_connection = models.ForeignKey(
        "platforms.PlatformConnection",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="processing_runs",
    )
    platform_type = models.CharField(max_length=50, null=True, blank=True, help_text="Legacy copy.")
    instance_url = models.CharField(max_length=500, null=True, blank=True, help_text="Legacy copy.")
    retry_attempts = models.PositiveIntegerField(default=0)
    retry_successes = models.PositiveIntegerField(default=0)
    retry_failures = models.PositiveIntegerField(default=0)
    retry_total_time = models.PositiveIntegerField(default=0, help_text="Seconds spent retrying.")
    retry_stats = models.JSONField(null=True, blank=True)
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text="What went wrong without failing the run (a guessed limit, a post the server changed).",
    )

    class Meta:
        db_table = "processing_runs"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["batch_id", "platform_connection"], name="uq_batch_platform"),
            models.CheckConstraint(
                condition=Q(status__in=ProcessingRunStatus.values), name="ck_processing_runs_status"
            ),
            models.CheckConstraint(
                condition=Q(**{f"{field}__gte": 0 for field in COUNTER_FIELDS}),
                name="ck_processing_runs_counters",
            ),
        ]
        indexes = [
            models.Index(fields=["started_at"], name="ix_processing_runs_started"),
            models.Index(fields=["status", "started_at"], name="ix_processing_runs_status"),
        ]

    def __str__(self) -> str:
        return f"Run {self.batch_id or self.pk} ({self.get_status_display()})"


class CaptionGenerationUserSettings(TimestampedModel):
    """A user's caption preferences for one connection."""

    audit_resource_type = "caption_settings"  # as audit rows have always named it

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caption_settings", db_index=False
    )
    platform_connection = models.ForeignKey(
        "platforms.PlatformConnection", on_delete=models.CASCADE, related_name="caption_settings"
    )
    max_posts_per_run = models.PositiveIntegerField(default=50)
    max_caption_length = models.PositiveIntegerField(default=500)
    optimal_min_length = models.PositiveIntegerField(default=80)
    optimal_max_length = models.PositiveIntegerField(default=200)
    reprocess_existing = models.BooleanField(default=False)
    include_replies = models.BooleanField(
        default=True,
        help_text="Also offer images of the user's own posts that reply to other accounts.",
    )
    processing_delay = models.FloatField(default=1.0, help_text="Seconds between requests (0 to 60).")
    language = models.CharField(
        max_length=16,
        null=True,
        blank=True,
        help_text="Caption language (e.g. 'en'); blank: the post's language.",
    )

    class Meta:
        db_table = "caption_generation_user_settings"
        verbose_name = "caption generation settings"
        verbose_name_plural = "caption generation settings"
        ordering = ["user_id", "platform_connection_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "platform_connection"], name="uq_user_platform_settings"),
            models.CheckConstraint(
                condition=Q(max_posts_per_run__gte=1, max_posts_per_run__lte=500),
                name="ck_caption_settings_max_posts",
            ),
            models.CheckConstraint(
                condition=Q(max_caption_length__gte=1, max_caption_length__lte=1500),
                name="ck_caption_settings_max_len",
            ),
            models.CheckConstraint(
                condition=Q(optimal_min_length__gte=1, optimal_min_length__lte=1500),
                name="ck_caption_settings_opt_min",
            ),
            models.CheckConstraint(
                condition=Q(optimal_max_length__gte=1, optimal_max_length__lte=1500),
                name="ck_caption_settings_opt_max",
            ),
            models.CheckConstraint(
                condition=Q(optimal_min_length__lte=F("optimal_max_length")),
                name="ck_caption_settings_opt_range",
            ),
            models.CheckConstraint(
                condition=Q(processing_delay__gte=0, processing_delay__lte=60),
                name="ck_caption_settings_delay",
            ),
        ]

    def __str__(self) -> str:
        return f"Caption settings of user {self.user_id} for connection {self.platform_connection_id}"


class ImageCaptionType(models.TextChoices):
    JPEG = "jpeg", "JPEG"
    JPG = "jpg", "JPG"
    JPE = "jpe", "JPE"
    PNG = "png", "PNG"
    GIF = "gif", "GIF"
    WEBP = "webp", "WebP"
    SVG = "svg", "SVG"
    BMP = "bmp", "BMP"
    TIFF = "tiff", "TIFF"
    APNG = "apng", "APNG"
    AVIF = "avif", "AVIF"


class ImageCaption(models.Model):
    """A caption ImageFX wrote for an image a user sent it (seed 002)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_captions", db_index=False
    )
    image_path = models.TextField(help_text="Storage key or path of the source image.")
    image_type = models.CharField(max_length=20, choices=ImageCaptionType.choices)
    caption_text = models.TextField()
    media_generation_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "image_captions"
        verbose_name = "ImageFX caption"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(image_type__in=ImageCaptionType.values), name="ck_image_captions_image_type"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_image_captions_user_id"),
            models.Index(fields=["media_generation_id"], name="idx_image_captions_media_gen"),
            models.Index(fields=["created_at"], name="idx_image_captions_created_at"),
        ]

    def __str__(self) -> str:
        return f"Caption {self.pk} ({self.image_type})"


class ScanCursor(models.Model):
    """Where the scan of one connection's own posts stands, so each run reaches further back.

    Not a seed table: Vedfolnir rescanned the newest N posts every run and never reached older
    ones. A run first takes posts newer than `newest_post_id` (resuming inside that gap at
    `gap_max_id` when the last run's budget ran out there), then continues the backlog of older
    posts from `backlog_max_id` until `backlog_done`. A feed paged by an opaque cursor (Bluesky)
    keeps `feed_cursor`, `feed_gap_cursor`, `feed_newest_at` and `feed_gap_top_at` instead
    (captions.services.scan.scan_feed_connection).
    """

    platform_connection = models.OneToOneField(
        "platforms.PlatformConnection",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="caption_scan_cursor",
    )
    newest_post_id = models.CharField(max_length=100, null=True, blank=True)
    gap_top_id = models.CharField(max_length=100, null=True, blank=True)
    gap_max_id = models.CharField(max_length=100, null=True, blank=True)
    backlog_max_id = models.CharField(max_length=100, null=True, blank=True)
    backlog_done = models.BooleanField(default=False)
    # Feeds paged by an opaque cursor (Bluesky): where the backlog continues, and where a run
    # whose budget ran out among new posts resumes (the post ids above stay empty for them).
    feed_cursor = models.CharField(max_length=500, null=True, blank=True)
    feed_gap_cursor = models.CharField(max_length=500, null=True, blank=True)
    # Where the feed sorted the newest post recorded (and the newest of an unfinished gap): new
    # posts are those above it, even when retention removed the rows of the posts seen before.
    feed_newest_at = models.DateTimeField(null=True, blank=True)
    feed_gap_top_at = models.DateTimeField(null=True, blank=True)
    last_scan_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(db_default=Now(), auto_now=True)

    class Meta:
        db_table = "caption_scan_cursors"

    def __str__(self) -> str:
        return f"Scan cursor of connection {self.platform_connection_id}"
