import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from core.models import TimestampedModel


class JobType(models.TextChoices):
    WEB_PAGE = "web_page", "Web pages (keyword search)"
    URL_LIST = "url_list", "URL list"
    SITEMAP = "sitemap", "Sitemap"
    FEED = "feed", "Feed (RSS/Atom)"
    PAPER = "paper", "Academic papers"
    GOVERNMENT_DOC = "government_doc", "Government documents"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ArtifactType(models.TextChoices):
    WEB_PAGE = "web_page", "Web page"
    PAPER = "paper", "Paper"
    GOVERNMENT_DOC = "government_doc", "Government document"
    SOCIAL_MEDIA = "social_media", "Social media"
    PDF = "pdf", "PDF"
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"


class ScrapingJob(TimestampedModel):
    """A keyword- or URL-driven scraping run that a background worker executes.

    `keywords` are the user's terms; `expanded_keywords` stays null until expansion ran.
    Counters: `processed_items` were stored, `skipped_items` were duplicates of an
    artifact the user already has, `failed_items` could not be fetched or extracted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="scraping_jobs",
        db_index=False,
    )
    job_type = models.CharField(max_length=50, choices=JobType.choices)
    keywords = models.JSONField(default=list, blank=True)
    expanded_keywords = models.JSONField(null=True, blank=True)
    title = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    total_items = models.PositiveIntegerField(default=0)
    processed_items = models.PositiveIntegerField(default=0)
    failed_items = models.PositiveIntegerField(default=0)
    skipped_items = models.PositiveIntegerField(default=0)
    error_message = models.TextField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "scraping_jobs"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(job_type__in=JobType.values), name="ck_scraping_jobs_job_type"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="ck_scraping_jobs_status"
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=100), name="ck_scraping_jobs_progress"
            ),
            models.CheckConstraint(condition=models.Q(total_items__gte=0), name="ck_scraping_jobs_total"),
            models.CheckConstraint(
                condition=models.Q(processed_items__gte=0), name="ck_scraping_jobs_processed"
            ),
            models.CheckConstraint(condition=models.Q(failed_items__gte=0), name="ck_scraping_jobs_failed"),
            models.CheckConstraint(condition=models.Q(skipped_items__gte=0), name="ck_scraping_jobs_skipped"),
            models.CheckConstraint(condition=models.Q(attempts__gte=0), name="ck_scraping_jobs_attempts"),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_scraping_jobs_user_id"),
            models.Index(fields=["status"], name="idx_scraping_jobs_status"),
            models.Index(fields=["job_type"], name="idx_scraping_jobs_type"),
            models.Index(fields=["created_at"], name="idx_scraping_jobs_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}


class JobConfiguration(models.Model):
    """One key/value setting of a scraping job (max results, depth, sources...)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(
        ScrapingJob, on_delete=models.CASCADE, related_name="configurations", db_index=False
    )
    config_key = models.CharField(max_length=100)
    config_value = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "job_configurations"
        verbose_name = "job configuration"
        ordering = ["job_id", "config_key"]
        constraints = [
            models.UniqueConstraint(fields=["job", "config_key"], name="uq_job_configurations_job_key"),
        ]
        indexes = [
            models.Index(fields=["job"], name="idx_job_configurations_job_id"),
            models.Index(fields=["config_key"], name="idx_job_configurations_key"),
        ]

    def __str__(self) -> str:
        return self.config_key


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STORED = "stored", "Stored"
    DUPLICATE = "duplicate", "Duplicate of an existing artifact"
    BLOCKED = "blocked", "Not fetched (robots.txt, domain or type not allowed)"
    FAILED = "failed", "Failed"


class ScrapingJobItem(TimestampedModel):
    """One URL a job found and what became of it; a retry re-runs only the failed ones.

    Not in the seed: the original kept no per-URL record, so it could neither resume nor retry
    only what failed. `metadata` holds what the source already knew (a paper's authors, DOI,
    dates; a feed entry's title) and is merged into the artifact's tags.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(ScrapingJob, on_delete=models.CASCADE, related_name="items", db_index=False)
    url = models.TextField()
    url_hash = models.CharField(max_length=64, help_text="SHA-256 of the normalised URL.")
    source = models.CharField(max_length=50, help_text="Which source found it: search, sitemap, feed, ...")
    depth = models.PositiveSmallIntegerField(default=0)
    keyword = models.CharField(max_length=100, null=True, blank=True)
    status = models.CharField(max_length=20, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    artifact = models.ForeignKey(
        "Artifact", on_delete=models.SET_NULL, null=True, blank=True, related_name="job_items"
    )
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "scraping_job_items"
        verbose_name = "job item"
        ordering = ["job_id", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "url_hash"], name="uq_scraping_job_items_job_url"),
            models.CheckConstraint(
                condition=models.Q(status__in=ItemStatus.values), name="ck_scraping_job_items_status"
            ),
        ]
        indexes = [
            models.Index(fields=["job", "status"], name="idx_scraping_items_job_status"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.get_status_display()})"


class Artifact(TimestampedModel):
    """A stored piece of scraped or uploaded content.

    The bytes live in Django's storage under the key `minio_path` (the seed's name;
    any storage backend, not only MinIO). `content_hash` is the SHA-256 of the
    extracted text or the file bytes; one user never holds the same content twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(
        ScrapingJob,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="artifacts",
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifacts", db_index=False
    )
    artifact_type = models.CharField(max_length=50, choices=ArtifactType.choices)
    source_url = models.TextField(null=True, blank=True)
    title = models.CharField(max_length=500, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    mime_type = models.CharField(max_length=100, null=True, blank=True)
    minio_path = models.CharField("storage key", max_length=500)
    content_text = models.TextField(null=True, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    is_public = models.BooleanField(default=False)

    class Meta:
        db_table = "artifacts"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "content_hash"], name="uq_artifacts_user_content_hash"),
            models.CheckConstraint(
                condition=models.Q(artifact_type__in=ArtifactType.values), name="ck_artifacts_artifact_type"
            ),
            models.CheckConstraint(condition=models.Q(file_size__gte=0), name="ck_artifacts_file_size"),
        ]
        indexes = [
            models.Index(fields=["job"], name="idx_artifacts_job_id"),
            models.Index(fields=["user"], name="idx_artifacts_user_id"),
            models.Index(fields=["artifact_type"], name="idx_artifacts_type"),
            models.Index(fields=["content_hash"], name="idx_artifacts_content_hash"),
            models.Index(fields=["created_at"], name="idx_artifacts_created_at"),
        ]

    def __str__(self) -> str:
        return self.title or self.source_url or f"{self.get_artifact_type_display()} {self.content_hash[:12]}"


class MetadataTag(models.Model):
    """A typed key/value fact about an artifact (author, language, published date...)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    artifact = models.ForeignKey(
        Artifact, on_delete=models.CASCADE, related_name="metadata_tags", db_index=False
    )
    tag_type = models.CharField(max_length=50)
    tag_key = models.CharField(max_length=100)
    tag_value = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "metadata_tags"
        verbose_name = "metadata tag"
        ordering = ["tag_type", "tag_key"]
        indexes = [
            models.Index(fields=["artifact"], name="idx_metadata_tags_artifact_id"),
            models.Index(fields=["tag_type", "tag_key"], name="idx_metadata_tags_type_key"),
        ]

    def __str__(self) -> str:
        return f"{self.tag_type}:{self.tag_key}"


class ContentExtraction(models.Model):
    """The result of one extractor or analysis run over an artifact."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    artifact = models.ForeignKey(
        Artifact, on_delete=models.CASCADE, related_name="content_extractions", db_index=False
    )
    extraction_type = models.CharField(max_length=50)
    extracted_data = models.JSONField(null=True, blank=True)
    confidence_score = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "content_extractions"
        verbose_name = "content extraction"
        ordering = ["extraction_type"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence_score__gte=0, confidence_score__lte=1),
                name="ck_content_extractions_score",
            ),
        ]
        indexes = [
            models.Index(fields=["artifact"], name="idx_content_extr_artifact_id"),
            models.Index(fields=["extraction_type"], name="idx_content_extractions_type"),
        ]

    def __str__(self) -> str:
        return f"{self.extraction_type} of {self.artifact_id}"
