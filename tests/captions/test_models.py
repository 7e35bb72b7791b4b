import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction

from captions.models import (
    CaptionGenerationTask,
    CaptionGenerationUserSettings,
    Image,
    ImageCaption,
    ImageStatus,
    Post,
    ProcessingRun,
    ProcessingRunStatus,
    TaskStatus,
)
from tests.constraints import violates
from tests.factories.accounts import UserFactory
from tests.factories.captions import (
    CaptionGenerationTaskFactory,
    CaptionGenerationUserSettingsFactory,
    ImageCaptionFactory,
    ImageFactory,
    PostFactory,
    ProcessingRunFactory,
)
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


# --- posts -------------------------------------------------------------------------------------


def test_post_id_is_unique_per_connection():
    post = PostFactory()
    with violates("uq_post_platform"):
        PostFactory(post_id=post.post_id, platform_connection=post.platform_connection)


def test_same_post_id_on_another_connection_is_fine():
    post = PostFactory()
    PostFactory(post_id=post.post_id)


def test_post_needs_a_connection():
    with pytest.raises(IntegrityError), transaction.atomic():
        PostFactory(platform_connection=None)


def test_post_timestamps_come_from_the_database():
    post = PostFactory()
    post.refresh_from_db()
    assert post.created_at is not None
    assert post.updated_at is not None
    assert post.platform_type is None
    assert str(post) == post.post_id


# --- images ------------------------------------------------------------------------------------


def test_image_defaults():
    image = ImageFactory()
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING
    assert image.needs_special_review is False
    assert image.caption_quality_score is None
    assert image.image_category is None
    assert image.reviewed_by is None
    assert image.created_at is not None
    assert str(image) == f"Image 1 of post #{image.post_id}"


def test_image_post_id_is_unique_per_connection():
    image = ImageFactory()
    with violates("uq_image_platform"):
        ImageFactory(
            post=image.post, image_post_id=image.image_post_id, platform_connection=image.platform_connection
        )


def test_image_post_id_may_repeat_on_another_connection_and_may_be_missing():
    image = ImageFactory()
    ImageFactory(image_post_id=image.image_post_id)
    ImageFactory(post=image.post, image_post_id=None, attachment_index=1)
    ImageFactory(post=image.post, image_post_id=None, attachment_index=2)


def test_image_needs_a_connection():
    post = PostFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ImageFactory(post=post, platform_connection=None)


@pytest.mark.parametrize(
    ("field", "value", "rejected_by"),
    [
        ("status", "published", lambda: violates("ck_images_status")),
        ("image_category", "selfie", lambda: violates("ck_images_image_category")),
        ("caption_quality_score", 0, lambda: violates("ck_images_quality_score")),
        ("caption_quality_score", 101, lambda: violates("ck_images_quality_score")),
        ("attachment_index", -1, lambda: violates("ck_images_attachment_index")),
    ],
)
def test_image_checks_reject_bad_values(field, value, rejected_by):
    post = PostFactory()
    with rejected_by():
        ImageFactory(post=post, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", ImageStatus.POSTED),
        ("status", ImageStatus.ERROR),
        ("image_category", "screenshot_text"),
        ("image_category", None),
        ("caption_quality_score", 1),
        ("caption_quality_score", 100),
        ("caption_quality_score", None),
        ("attachment_index", 0),
        ("attachment_index", 9),
    ],
)
def test_image_checks_accept_good_values(field, value):
    image = ImageFactory(**{field: value})
    image.refresh_from_db()
    assert getattr(image, field) == value


def test_current_caption_prefers_final_then_reviewed_then_generated():
    image = ImageFactory(generated_caption="generated", reviewed_caption=None, final_caption=None)
    assert image.current_caption == "generated"
    image.reviewed_caption = "reviewed"
    assert image.current_caption == "reviewed"
    image.final_caption = "final"
    assert image.current_caption == "final"


def test_review_permissions_exist():
    codenames = set(
        Permission.objects.filter(
            content_type__app_label="captions", content_type__model="image"
        ).values_list("codename", flat=True)
    )
    assert {"review_image", "post_image_caption"} <= codenames


# --- caption generation tasks ------------------------------------------------------------------


def test_task_defaults():
    task = CaptionGenerationTaskFactory()
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED
    assert task.progress_percent == 0
    assert task.attempts == 0
    assert task.heartbeat_at is None
    assert task.created_at is not None
    assert task.is_active
    assert len(str(task.pk)) == 36


@pytest.mark.parametrize(
    ("field", "value", "rejected_by"),
    [
        ("status", "paused", lambda: violates("ck_caption_tasks_status")),
        ("progress_percent", 101, lambda: violates("ck_caption_tasks_progress")),
    ],
)
def test_task_checks_reject_bad_values(field, value, rejected_by):
    with rejected_by():
        CaptionGenerationTaskFactory(**{field: value})


@pytest.mark.parametrize("value", [0, 100])
def test_task_progress_bounds_are_allowed(value):
    CaptionGenerationTaskFactory(progress_percent=value)


@pytest.mark.parametrize("first", [TaskStatus.QUEUED, TaskStatus.RUNNING])
@pytest.mark.parametrize("second", [TaskStatus.QUEUED, TaskStatus.RUNNING])
def test_one_active_task_per_user_and_connection(first, second):
    task = CaptionGenerationTaskFactory(status=first)
    with violates("uq_caption_task_one_active"):
        CaptionGenerationTaskFactory(
            platform_connection=task.platform_connection, user=task.user, status=second
        )


@pytest.mark.parametrize("finished", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_finished_tasks_do_not_block_a_new_one(finished):
    done = CaptionGenerationTaskFactory(status=finished)
    CaptionGenerationTaskFactory(
        platform_connection=done.platform_connection, user=done.user, status=finished
    )
    CaptionGenerationTaskFactory(platform_connection=done.platform_connection, user=done.user)


def test_active_tasks_on_different_connections_are_fine():
    task = CaptionGenerationTaskFactory()
    other = PlatformConnectionFactory(user=task.user)
    CaptionGenerationTaskFactory(platform_connection=other, user=task.user, status=TaskStatus.RUNNING)


# --- processing runs ---------------------------------------------------------------------------


def test_processing_run_defaults():
    run = ProcessingRunFactory()
    run.refresh_from_db()
    assert run.status == ProcessingRunStatus.RUNNING
    assert run.started_at is not None
    assert run.completed_at is None
    assert run.task is None
    assert run.retry_stats is None
    for field in (
        "posts_processed",
        "images_processed",
        "captions_generated",
        "errors_count",
        "retry_attempts",
        "retry_successes",
        "retry_failures",
        "retry_total_time",
    ):
        assert getattr(run, field) == 0


def test_batch_id_is_unique_per_connection():
    run = ProcessingRunFactory()
    with violates("uq_batch_platform"):
        ProcessingRunFactory(batch_id=run.batch_id, platform_connection=run.platform_connection)


def test_batch_id_may_repeat_on_another_connection_or_be_missing():
    run = ProcessingRunFactory()
    ProcessingRunFactory(batch_id=run.batch_id)
    ProcessingRunFactory(batch_id=None, platform_connection=run.platform_connection)
    ProcessingRunFactory(batch_id=None, platform_connection=run.platform_connection)


def test_processing_run_status_is_checked():
    with violates("ck_processing_runs_status"):
        ProcessingRunFactory(status="queued")


@pytest.mark.parametrize(
    "field",
    [
        "posts_processed",
        "images_processed",
        "captions_generated",
        "errors_count",
        "retry_attempts",
        "retry_successes",
        "retry_failures",
        "retry_total_time",
    ],
)
def test_processing_run_counters_cannot_be_negative(field):
    with violates("ck_processing_runs_counters"):
        ProcessingRunFactory(**{field: -1})


def test_retry_stats_are_json():
    run = ProcessingRunFactory(retry_stats={"by_status": {"429": 2}, "delays": [1.0, 2.1]})
    run.refresh_from_db()
    assert run.retry_stats["by_status"]["429"] == 2


# --- caption generation user settings ----------------------------------------------------------


def test_settings_defaults():
    settings = CaptionGenerationUserSettingsFactory()
    settings.refresh_from_db()
    assert settings.max_posts_per_run == 50
    assert settings.max_caption_length == 500
    assert settings.optimal_min_length == 80
    assert settings.optimal_max_length == 200
    assert settings.reprocess_existing is False
    assert settings.processing_delay == 1.0
    assert settings.language is None


def test_settings_are_unique_per_user_and_connection():
    settings = CaptionGenerationUserSettingsFactory()
    with violates("uq_user_platform_settings"):
        CaptionGenerationUserSettingsFactory(
            user=settings.user, platform_connection=settings.platform_connection
        )


@pytest.mark.parametrize(
    ("values", "rejected_by"),
    [
        ({"max_posts_per_run": 0}, lambda: violates("ck_caption_settings_max_posts")),
        ({"max_posts_per_run": 501}, lambda: violates("ck_caption_settings_max_posts")),
        ({"max_caption_length": 0}, lambda: violates("ck_caption_settings_max_len")),
        ({"max_caption_length": 1501}, lambda: violates("ck_caption_settings_max_len")),
        ({"optimal_min_length": 0}, lambda: violates("ck_caption_settings_opt_min")),
        (
            {"optimal_min_length": 1501, "optimal_max_length": 1500},
            lambda: violates("ck_caption_settings_opt_min"),
        ),
        ({"optimal_max_length": 1501}, lambda: violates("ck_caption_settings_opt_max")),
        (
            {"optimal_min_length": 201, "optimal_max_length": 200},
            lambda: violates("ck_caption_settings_opt_range"),
        ),
        ({"processing_delay": -0.5}, lambda: violates("ck_caption_settings_delay")),
        ({"processing_delay": 60.5}, lambda: violates("ck_caption_settings_delay")),
    ],
)
def test_settings_checks_reject_bad_values(values, rejected_by):
    with rejected_by():
        CaptionGenerationUserSettingsFactory(**values)


@pytest.mark.parametrize(
    "values",
    [
        {"max_posts_per_run": 1},
        {"max_posts_per_run": 500},
        {"max_caption_length": 1},
        {"max_caption_length": 1500},
        {"optimal_min_length": 1, "optimal_max_length": 1},
        {"optimal_min_length": 1500, "optimal_max_length": 1500},
        {"processing_delay": 0},
        {"processing_delay": 60},
        {"language": "de"},
    ],
)
def test_settings_checks_accept_good_values(values):
    CaptionGenerationUserSettingsFactory(**values)


# --- image captions (seed 002) -----------------------------------------------------------------


def test_image_caption_type_is_checked():
    with violates("ck_image_captions_image_type"):
        ImageCaptionFactory(image_type="heic")


@pytest.mark.parametrize(
    "image_type", ["jpeg", "jpg", "jpe", "png", "gif", "webp", "svg", "bmp", "tiff", "apng", "avif"]
)
def test_image_caption_accepts_every_seed_type(image_type):
    caption = ImageCaptionFactory(image_type=image_type, media_generation_id=None)
    caption.refresh_from_db()
    assert caption.created_at is not None


# --- on_delete ---------------------------------------------------------------------------------


def test_deleting_a_connection_removes_its_caption_data():
    image = ImageFactory()
    connection = image.platform_connection
    CaptionGenerationTaskFactory(platform_connection=connection)
    ProcessingRunFactory(platform_connection=connection)
    CaptionGenerationUserSettingsFactory(platform_connection=connection)
    connection.delete()
    for model in (Post, Image, CaptionGenerationTask, ProcessingRun, CaptionGenerationUserSettings):
        assert not model.objects.exists(), model


def test_deleting_a_post_removes_its_images():
    image = ImageFactory()
    other = ImageFactory()
    image.post.delete()
    assert list(Image.objects.all()) == [other]


def test_deleting_a_user_removes_their_rows_even_without_a_connection():
    user = UserFactory()
    connection = PlatformConnectionFactory()  # someone else's
    ProcessingRunFactory(user=user, platform_connection=None)
    CaptionGenerationTaskFactory(user=user, platform_connection=connection)
    CaptionGenerationUserSettingsFactory(user=user, platform_connection=connection)
    ImageCaptionFactory(user=user)
    user.delete()
    for model in (ProcessingRun, CaptionGenerationTask, CaptionGenerationUserSettings, ImageCaption):
        assert not model.objects.exists(), model
    assert connection.__class__.objects.filter(pk=connection.pk).exists()


def test_deleting_the_reviewer_keeps_the_image():
    reviewer = UserFactory()
    image = ImageFactory(reviewed_by=reviewer, status=ImageStatus.APPROVED)
    reviewer.delete()
    image.refresh_from_db()
    assert image.reviewed_by is None
    assert image.status == ImageStatus.APPROVED


def test_deleting_a_task_keeps_its_runs():
    task = CaptionGenerationTaskFactory()
    run = ProcessingRunFactory(task=task, platform_connection=task.platform_connection)
    task.delete()
    run.refresh_from_db()
    assert run.task is None


def test_the_stored_image_categories_are_the_ones_the_ai_classifier_answers_with():
    # core.ai names its categories as plain strings (the kernel imports no app); the column's
    # choices must be the same list, in the same order (the classify prompt lists them in it).
    from captions.models import ImageCategory
    from core.ai import ImageCategory as ClassifierCategories

    seed = [
        "photo_people",
        "landscape",
        "food",
        "animal",
        "object",
        "artwork",
        "screenshot_text",
        "chart",
        "other",
    ]
    assert list(ImageCategory.values) == seed  # the seed's enum (docs/schema.md)
    assert list(ClassifierCategories.values) == seed
