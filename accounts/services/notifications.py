"""Telling people when they are needed: one function raises an event for a person, once.

    notification_raise(user=owner, event=NotificationEvent.PUBLISH_FAILED, key=str(job.pk),
                       title="…", body="…", url=reverse(...))

`key` names the occurrence, so a task that runs twice (django-q2 delivers at least once) raises it
once: the row is unique on (user, event, key) and a second raise returns None. The row itself is
the in-admin channel (the list and the unread count on every admin page).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Notification, NotificationEvent, User

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 5_000


def notification_raise(
    *,
    user: User,
    event: str,
    key: str,
    title: str,
    body: str = "",
    url: str = "",
    data: dict | None = None,
) -> Notification | None:
    """Record the event for `user` unless this occurrence (`event`, `key`) was raised before;
    returns the new row, or None when it already existed or the user is inactive."""
    if event not in NotificationEvent.values:
        raise ValueError(f"Unknown notification event {event!r}.")
    if not user.is_active:
        return None
    try:
        with transaction.atomic():
            return Notification.objects.create(
                user=user,
                event=event,
                key=str(key)[:200],
                title=" ".join(title.split())[:MAX_TITLE_CHARS],
                body=body[:MAX_BODY_CHARS],
                url=url[:500],
                data=data or {},
            )
    except IntegrityError:
        return None  # raised already: by the first run of the same task, or a concurrent one


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the person's notifications read (all unread ones when `ids` is None); returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
