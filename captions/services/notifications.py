"""The captions-awaiting-review digest: at most one notification an hour per person.

A caption task that generated captions calls `captions_awaiting_review_notify` when it ends. The
notification's key is the hour (UTC, "2026-12-07T04"), so the first task of an hour raises it and
the others of that hour only refresh its count while it is unread (nothing is sent again); the next
hour's first task raises the next one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, NotificationEvent, User
from accounts.services.notifications import notification_raise
from captions.selectors import images_awaiting_review


def _now() -> datetime:
    return timezone.now()  # a seam for tests that cross an hour


def images_awaiting_review_count(*, user: User) -> int:
    """The person's own images whose generated caption waits for a review."""
    return images_awaiting_review(user=user).count()


def _digest_text(count: int) -> tuple[str, str]:
    images = f"{count} image{'s' if count != 1 else ''}"
    return (
        f"{images} await{'s' if count == 1 else ''} your caption review",
        f"Captions were written for {images} of yours; approve, edit or reject them in the review queue.",
    )


def captions_awaiting_review_notify(*, user: User, now: datetime | None = None) -> Notification | None:
    """Raise this hour's digest for `user` (or refresh its count); returns the new notification, or
    None when nothing awaits review or this hour's digest was raised already."""
    count = images_awaiting_review_count(user=user)
    if not count:
        return None
    hour = (now or _now()).astimezone(UTC).strftime("%Y-%m-%dT%H")
    title, body = _digest_text(count)
    url = reverse("admin:captions_image_review_next")
    raised = notification_raise(
        user=user,
        event=NotificationEvent.CAPTIONS_AWAITING_REVIEW,
        key=hour,
        title=title,
        body=body,
        url=url,
        data={"images": count, "hour": hour},
    )
    if raised is None:
        Notification.objects.filter(
            user=user, event=NotificationEvent.CAPTIONS_AWAITING_REVIEW, key=hour, read_at__isnull=True
        ).update(title=title, body=body, data={"images": count, "hour": hour})
    return raised
