"""Retention policies of the captions app (run by `manage.py cleanup`, see core.retention).

Images are aged from their last change (`updated_at`, which every status change sets). Their
stored copies (`local_path`) go once each batch commits (core.retention), unless another image
still names the same file: copies are content-addressed per connection, so the same picture in
two posts is stored once.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, QuerySet

from captions.models import CaptionGenerationTask, Image, ImageStatus, Post, ProcessingRun, TaskStatus
from core.retention import RetentionPolicy


def _runs(*, now, age):
    return ProcessingRun.objects.filter(started_at__lt=now - timedelta(days=age))


def _images(status: str):
    def rows(*, now, age):
        return Image.objects.filter(status=status, updated_at__lt=now - timedelta(days=age))

    return rows


def _image_files(batch: QuerySet):
    return batch.values_list("local_path", flat=True)


def _image_files_in_use(names: set[str]):
    return Image.objects.filter(local_path__in=names).values_list("local_path", flat=True)


def _empty_posts(*, now, age):
    # The age keeps a post whose images are still being fetched.
    images = Image.objects.filter(post_id=OuterRef("pk"))
    return Post.objects.filter(~Exists(images), created_at__lt=now - timedelta(days=age))


def _tasks(status: str):
    def rows(*, now, age):
        return CaptionGenerationTask.objects.filter(status=status, updated_at__lt=now - timedelta(days=age))

    return rows


def _unlink_runs(batch: QuerySet) -> None:
    # ProcessingRun.task is SET_NULL: done here in one UPDATE so the delete needs no collector.
    ProcessingRun.objects.filter(task__in=batch.values("pk")).update(task=None)


def _image_policy(status: str, days: int) -> RetentionPolicy:
    setting = f"RETENTION_IMAGE_{status.upper()}_DAYS"
    return RetentionPolicy(
        name=f"captions.images_{status}",
        description=f"images in status {status}, unchanged for more than {setting}",
        rows=_images(status),
        setting=setting,
        default=days,
        files=_image_files,
        files_in_use=_image_files_in_use,
    )


def _task_policy(status: str, days: int) -> RetentionPolicy:
    setting = f"RETENTION_CAPTION_TASK_{status.upper()}_DAYS"
    return RetentionPolicy(
        name=f"captions.tasks_{status}",
        description=f"caption tasks {status}, unchanged for more than {setting}",
        rows=_tasks(status),
        setting=setting,
        default=days,
        before_delete=_unlink_runs,
        raw=True,
    )


POLICIES = [
    RetentionPolicy(
        name="captions.processing_runs",
        description="processing runs started more than RETENTION_PROCESSING_RUN_DAYS ago",
        rows=_runs,
        setting="RETENTION_PROCESSING_RUN_DAYS",
        default=90,
    ),
    _image_policy(ImageStatus.REJECTED, 30),
    _image_policy(ImageStatus.POSTED, 180),
    _image_policy(ImageStatus.ERROR, 60),
    # After the image policies, so posts they empty go in the same run.
    RetentionPolicy(
        name="captions.posts_without_images",
        description="posts with no images, created more than RETENTION_EMPTY_POST_DAYS ago",
        rows=_empty_posts,
        setting="RETENTION_EMPTY_POST_DAYS",
        default=1,
        raw=True,  # the filter itself guarantees there is no image to cascade to
    ),
    _task_policy(TaskStatus.COMPLETED, 365),
    _task_policy(TaskStatus.FAILED, 30),
]
