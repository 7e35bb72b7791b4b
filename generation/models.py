"""Image generation history (seed 002, ImageFX) and persona dataset generation (seed 004).

See docs/schema.md for the seed column -> field map and the reasons behind each change.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from core.models import TimestampedModel

# ---------------------------------------------------------------------------------------------
# Seed 002: prompts, generated_images (+ generated_images_archive)
# ---------------------------------------------------------------------------------------------


class AspectRatio(models.TextChoices):
    SQUARE = "IMAGE_ASPECT_RATIO_SQUARE", "Square"
    PORTRAIT = "IMAGE_ASPECT_RATIO_PORTRAIT", "Portrait"
    LANDSCAPE = "IMAGE_ASPECT_RATIO_LANDSCAPE", "Landscape"
    UNSPECIFIED = "IMAGE_ASPECT_RATIO_UNSPECIFIED", "Unspecified"


class GenerationModel(models.TextChoices):
    IMAGEN_3 = "IMAGEN_3", "Imagen 3"
    IMAGEN_3_1 = "IMAGEN_3_1", "Imagen 3.1"
    IMAGEN_3_5 = "IMAGEN_3_5", "Imagen 3.5"


class PromptStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    # Not in the seed: stopped by a person (generation.services.prompts.prompt_cancel).
    CANCELLED = "cancelled", "Cancelled"


MAX_IMAGES_PER_PROMPT = 8


class Prompt(TimestampedModel):
    """One image-generation request, queued for a worker; its images are `generated_images`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompts", db_index=False
    )
    prompt_text = models.TextField()
    seed = models.IntegerField(default=0)
    number_of_images = models.IntegerField(default=1)
    aspect_ratio = models.CharField(max_length=50, choices=AspectRatio.choices, default=AspectRatio.SQUARE)
    generation_model = models.CharField(
        max_length=50, choices=GenerationModel.choices, default=GenerationModel.IMAGEN_3
    )
    workflow_id = models.CharField(max_length=255, null=True, blank=True)
    # Queue state (not in the seed: the original generated synchronously).
    status = models.CharField(max_length=20, choices=PromptStatus.choices, default=PromptStatus.QUEUED)
    error_message = models.TextField(null=True, blank=True)
    backend = models.CharField(max_length=20, blank=True, default="", help_text="Image backend that ran it.")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "prompts"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seed__gte=0), name="ck_prompts_seed"),
            models.CheckConstraint(
                condition=models.Q(number_of_images__gte=1, number_of_images__lte=MAX_IMAGES_PER_PROMPT),
                name="ck_prompts_number_of_images",
            ),
            models.CheckConstraint(
                condition=models.Q(aspect_ratio__in=AspectRatio.values), name="ck_prompts_aspect_ratio"
            ),
            models.CheckConstraint(
                condition=models.Q(generation_model__in=GenerationModel.values),
                name="ck_prompts_generation_model",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PromptStatus.values), name="ck_prompts_status"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_prompts_user_id"),
            models.Index(fields=["created_at"], name="idx_prompts_created_at"),
            models.Index(fields=["status", "created_at"], name="idx_prompts_status_created"),
        ]

    def __str__(self) -> str:
        text = " ".join(self.prompt_text.split())
        return text if len(text) <= 60 else f"{text[:59]}…"


def generated_image_columns(*, primary_key: models.Field, related_name: str) -> type[models.Model]:
    """The abstract base holding the columns `generated_images` and its archive share, in table order.

    Both tables must have identical columns in the same order, because the archive command moves
    rows in one statement per batch: `WITH moved AS (DELETE FROM generated_images ... RETURNING
    <cols>) INSERT INTO generated_images_archive (<cols>) SELECT <cols> FROM moved`. The archive
    adds `archived_at` as its last column (database default now()) and keeps the live row's id, so
    the move lists its columns explicitly: `[f.column for f in GeneratedImage._meta.concrete_fields]`.

    Why a factory rather than one plain abstract class: field order follows creation order, so the
    primary key is created here, first (declared on the concrete class it would come last), and
    the reverse accessors differ per table (`user.generated_images`; none for the archive), which
    one shared class could not express. A column added later must be added to both tables.
    """

    class GeneratedImageColumns(models.Model):
        id = primary_key
        user = models.ForeignKey(
            settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name=related_name, db_index=False
        )
        prompt = models.ForeignKey(
            Prompt,
            on_delete=models.SET_NULL,
            null=True,
            blank=True,
            related_name=related_name,
            db_index=False,
        )
        media_generation_id = models.CharField(max_length=255)
        encoded_image = models.TextField(help_text="The image bytes, base64-encoded.")
        seed = models.IntegerField(null=True, blank=True)
        model_name_type = models.CharField(max_length=50, null=True, blank=True)
        aspect_ratio = models.CharField(max_length=50, null=True, blank=True)
        fingerprint_log_record_id = models.CharField(max_length=255, null=True, blank=True)
        workflow_id = models.CharField(max_length=255, null=True, blank=True)
        mime_type = models.CharField(max_length=50, default="image/png")
        metadata = models.JSONField(default=dict, blank=True)
        created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

        class Meta:
            abstract = True

        def __str__(self) -> str:
            return self.media_generation_id

        @property
        def encoded_size(self) -> int:
            """Approximate size in bytes of the decoded image."""
            return len(self.encoded_image) * 3 // 4

    return GeneratedImageColumns


class GeneratedImage(
    generated_image_columns(
        primary_key=models.BigAutoField(primary_key=True, verbose_name="ID"),
        related_name="generated_images",
    )
):
    """An image a backend produced for a prompt, stored inline as base64 (as the original did)."""

    class Meta:
        db_table = "generated_images"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["media_generation_id"], name="idx_gen_images_media_gen_id"),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_generated_images_user_id"),
            models.Index(fields=["prompt"], name="idx_generated_images_prompt_id"),
            models.Index(fields=["created_at"], name="idx_generated_images_created"),
        ]


class GeneratedImageArchive(
    generated_image_columns(
        primary_key=models.BigIntegerField(primary_key=True, verbose_name="ID"),
        related_name="+",
    )
):
    """A generated image moved out of the live table by the archive command; keeps the live row's id."""

    archived_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "generated_images_archive"
        verbose_name = "archived generated image"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["media_generation_id"], name="idx_gen_img_arch_media_gen_id"),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_gen_img_arch_user_id"),
            models.Index(fields=["prompt"], name="idx_gen_img_arch_prompt_id"),
            models.Index(fields=["created_at"], name="idx_gen_img_arch_created_at"),
        ]


# ---------------------------------------------------------------------------------------------
# Seed 004: generation_tasks (+ generated_personas)
# ---------------------------------------------------------------------------------------------


class ImagesPerPersona(models.IntegerChoices):
    FOUR = 4, "4"
    EIGHT = 8, "8"


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    GENERATING_DATA = "generating-data", "Generating data"
    DATA_GENERATED = "data-generated", "Data generated"
    GENERATING_IMAGES = "generating-images", "Generating images"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    # Not in the seed: stopped by a person (generation.services.avatar_tasks.avatar_task_cancel).
    CANCELLED = "cancelled", "Cancelled"


MAX_PERSONAS_PER_TASK = 300


class GenerationTask(TimestampedModel):
    """A persona dataset request: persona data first, then images per persona."""

    # Audit rows name it as they always have (accounts.services.audit): "avatar_task", short id.
    audit_resource_type = "avatar_task"
    audit_resource_id_attr = "task_id"

    task_id = models.CharField(max_length=12, help_text="Short user-facing id (8 characters).")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_tasks", db_index=False
    )
    persona_description = models.TextField()
    bio_language = models.CharField(max_length=100)
    number_to_generate = models.IntegerField()
    images_per_persona = models.IntegerField(choices=ImagesPerPersona.choices)
    status = models.CharField(max_length=50, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    error_log = models.TextField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Progress and worker bookkeeping (not in the seed).
    personas_generated = models.PositiveIntegerField(default=0)
    images_generated = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "generation_tasks"
        verbose_name = "persona generation task"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["task_id"], name="uq_generation_tasks_task_id"),
            models.CheckConstraint(
                condition=models.Q(number_to_generate__gte=1, number_to_generate__lte=MAX_PERSONAS_PER_TASK),
                name="ck_generation_tasks_number_to_generate",
            ),
            models.CheckConstraint(
                condition=models.Q(images_per_persona__in=ImagesPerPersona.values),
                name="ck_generation_tasks_images_per_persona",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values), name="ck_generation_tasks_status"
            ),
            models.CheckConstraint(
                condition=models.Q(personas_generated__gte=0), name="ck_generation_tasks_personas_generated"
            ),
            models.CheckConstraint(
                condition=models.Q(images_generated__gte=0), name="ck_generation_tasks_images_generated"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="ix_generation_tasks_user_id"),
            models.Index(fields=["status"], name="ix_generation_tasks_status"),
            models.Index(fields=["created_at"], name="ix_generation_tasks_created_at"),
        ]

    def __str__(self) -> str:
        return self.task_id

    @property
    def images_expected(self) -> int:
        return self.number_to_generate * self.images_per_persona


class GeneratedPersona(models.Model):
    """One persona a task produced; `position` is its 0-based index within the task."""

    task = models.ForeignKey(
        GenerationTask, on_delete=models.CASCADE, related_name="personas", db_index=False
    )
    position = models.PositiveIntegerField()
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    gender = models.CharField(max_length=50, blank=True, default="")
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    ethnicity = models.CharField(max_length=100, blank=True, default="")
    bio_facebook = models.TextField(blank=True, default="")
    bio_instagram = models.TextField(blank=True, default="")
    bio_x = models.TextField(blank=True, default="")
    bio_tiktok = models.TextField(blank=True, default="")
    job_title = models.CharField(max_length=255, blank=True, default="")
    workplace = models.CharField(max_length=255, blank=True, default="")
    education = models.CharField(max_length=255, blank=True, default="")
    current_city = models.CharField(max_length=100, blank=True, default="")
    current_state = models.CharField(max_length=100, blank=True, default="")
    previous_city = models.CharField(max_length=100, blank=True, default="")
    previous_state = models.CharField(max_length=100, blank=True, default="")
    about = models.TextField(blank=True, default="")
    images = models.JSONField(default=list, blank=True, help_text="Storage keys of the persona's images.")
    image_errors = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "generated_personas"
        ordering = ["task_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="uq_generated_persona_position"),
            models.CheckConstraint(
                condition=models.Q(position__gte=0), name="ck_generated_personas_position"
            ),
            models.CheckConstraint(
                condition=models.Q(age__isnull=True) | models.Q(age__gte=13, age__lte=120),
                name="ck_generated_personas_age",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or f"persona #{self.position}"

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)
