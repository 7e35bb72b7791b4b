"""Telling people when they are needed: one function raises an event for a person, once.

    notification_raise(user=owner, event=NotificationEvent.PUBLISH_FAILED, key=str(job.pk),
                       title="…", body="…", url=reverse(...))

`key` names the occurrence, so a task that runs twice (django-q2 delivers at least once) raises it
once: the row is unique on (user, event, key) and a second raise returns None. The row itself is
the in-admin channel (the list and the unread count on every admin page); for each other channel
the person's preferences enable (email, their webhook) one `NotificationDelivery` row is written in
the same transaction and a delivery task queued once it commits
(accounts.services.notification_delivery), so every channel gets the event once.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import (
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationEvent,
    NotificationPreference,
    NotificationWebhook,
    User,
)

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 5_000

E = NotificationEvent
C = NotificationChannel

# Email by default for what needs someone soon; the in-admin list for everything; the webhook for
# everything once a person has one (they set it up to receive them).
EMAIL_BY_DEFAULT = frozenset({E.PUBLISH_FAILED, E.CONNECTION_BROKE, E.JOB_FAILED, E.WEBHOOK_DISABLED})
# A broken webhook cannot be told that it broke.
NOT_ON_WEBHOOK = frozenset({E.WEBHOOK_DISABLED})


def channel_default(*, event: str, channel: str) -> bool:
    if channel == C.EMAIL:
        return event in EMAIL_BY_DEFAULT
    if channel == C.WEBHOOK:
        return event not in NOT_ON_WEBHOOK
    return True


def channel_available(*, event: str, channel: str) -> bool:
    return not (channel == C.WEBHOOK and event in NOT_ON_WEBHOOK)


def notification_preferences_grid(*, user: User) -> dict[str, dict[str, bool]]:
    """{event: {channel: enabled}} for every event and channel, the person's choices over the defaults."""
    grid = {
        event: {channel: channel_default(event=event, channel=channel) for channel in C.values}
        for event in E.values
    }
    for event, channel, enabled in NotificationPreference.objects.filter(user=user).values_list(
        "event", "channel", "enabled"
    ):
        if event in grid and channel in grid[event] and channel_available(event=event, channel=channel):
            grid[event][channel] = enabled
    return grid


def notification_preferences_set(
    *, user: User, choices: dict[str, dict[str, bool]]
) -> dict[str, dict[str, bool]]:
    """Set some of the person's (event, channel) choices; an unknown event or channel, or a value that
    is not a boolean, is a ValidationError and changes nothing. Returns the whole grid."""
    errors = {}
    if not isinstance(choices, dict):
        raise ValidationError({"preferences": "Give an object {event: {channel: true|false}}."})
    for event, channels in choices.items():
        if event not in E.values:
            errors[str(event)] = f"Unknown event. Known: {', '.join(E.values)}."
        elif not isinstance(channels, dict):
            errors[event] = "Give an object {channel: true|false}."
        else:
            for channel, enabled in channels.items():
                if channel not in C.values:
                    errors[event] = f"Unknown channel {channel!r}. Known: {', '.join(C.values)}."
                elif not isinstance(enabled, bool):
                    errors[event] = f"{channel}: give true or false."
                elif enabled and not channel_available(event=event, channel=channel):
                    errors[event] = f"This event cannot be sent to the {channel}."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for event, channels in choices.items():
            for channel, enabled in channels.items():
                NotificationPreference.objects.update_or_create(
                    user=user, event=event, channel=channel, defaults={"enabled": enabled}
                )
    return notification_preferences_grid(user=user)


@dataclass(frozen=True)
class _Recipient:
    user_id: int
    is_active: bool
    email: str
    channels: dict[str, bool]  # the person's choices for the event over the defaults
    has_webhook: bool


@functools.cache
def _recipient_sql(vendor: str, channels: tuple[str, ...]) -> str:
    del vendor  # the cache key: quoted for one backend
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(name).column)}"

    users, prefs, hooks = (
        quote(model._meta.db_table) for model in (User, NotificationPreference, NotificationWebhook)
    )
    user_pk = column(User, "id")
    choices = "".join(
        f", (SELECT {column(NotificationPreference, 'enabled')} FROM {prefs} "  # noqa: S608 (names only)
        f"WHERE {column(NotificationPreference, 'user')} = {user_pk} "
        f"AND {column(NotificationPreference, 'event')} = %s "
        f"AND {column(NotificationPreference, 'channel')} = %s)"
        for _ in channels
    )
    # The model's own table and column names only; every value is a parameter.
    return (
        f"SELECT {column(User, 'is_active')}, {column(User, 'email')}, "  # noqa: S608 (names only)
        f"EXISTS (SELECT 1 FROM {hooks} WHERE {column(NotificationWebhook, 'user')} = {user_pk} "
        f"AND {column(NotificationWebhook, 'is_active')}){choices} FROM {users} WHERE {user_pk} = %s"
    )


def _recipient(*, user_id: int, event: str) -> _Recipient | None:
    """The person's state, their channels for `event` (their choices over the defaults, as
    notification_preferences_grid gives them) and whether they have an active webhook: one plain
    statement, written once per event's channels. A queue of short jobs that each tell their
    owner pays it per job; the same read through the ORM (annotated subqueries) cost ~4 ms of
    query building per call on a loaded machine (docs/performance.md, `queue_drain`)."""
    channels = tuple(channel for channel in C.values if channel_available(event=event, channel=channel))
    params = [value for channel in channels for value in (event, channel)] + [user_id]
    with connection.cursor() as cursor:
        cursor.execute(_recipient_sql(connection.vendor, channels), params)
        row = cursor.fetchone()
    if row is None:
        return None
    is_active, email, has_webhook, *choices = row
    chosen = dict(zip(channels, choices, strict=True))
    return _Recipient(
        user_id=user_id,
        is_active=bool(is_active),
        email=email or "",
        channels={
            channel: channel_default(event=event, channel=channel)
            if chosen.get(channel) is None
            else bool(chosen[channel])
            for channel in C.values
        },
        has_webhook=bool(has_webhook),
    )


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
    """Record the event for `user` unless this occurrence (`event`, `key`) was raised before, with a
    delivery for each further channel the person enabled; returns the new row, or None when it
    already existed or the user is inactive. Call it inside the transaction of the change it
    reports (or after it commits): the deliveries are queued once it commits."""
    if not user.is_active:
        if event not in E.values:
            raise ValueError(f"Unknown notification event {event!r}.")
        return None
    return notification_raise_to(
        user_id=user.pk, event=event, key=key, title=title, body=body, url=url, data=data
    )


def notification_raise_to(
    *,
    user_id: int,
    event: str,
    key: str,
    title: str,
    body: str = "",
    url: str = "",
    data: dict | None = None,
) -> Notification | None:
    """notification_raise for a person known by id: their row comes with their channels, in the
    one query a raise makes anyway."""
    if event not in E.values:
        raise ValueError(f"Unknown notification event {event!r}.")
    found = _recipient(user_id=user_id, event=event)
    if found is None or not found.is_active:
        return None
    return _raise(
        recipient=found,
        event=event,
        key=key,
        title=title,
        body=body,
        url=url,
        data=data,
    )


def _raise(
    *,
    recipient: _Recipient,
    event: str,
    key: str,
    title: str,
    body: str,
    url: str,
    data: dict | None,
) -> Notification | None:
    channels = recipient.channels
    send_email = channels[C.EMAIL]
    send_webhook = channels[C.WEBHOOK] and recipient.has_webhook
    row = Notification(
        user_id=recipient.user_id,
        event=event,
        key=str(key)[:200],
        title=" ".join(title.split())[:MAX_TITLE_CHARS],
        body=body[:MAX_BODY_CHARS],
        url=url[:500],
        data=data or {},
        in_admin=channels[C.ADMIN],
    )
    # The row and its deliveries commit together. A row alone is one INSERT: outside a
    # transaction it needs none of its own; a duplicate inserts nothing and breaks nothing, so
    # inside a caller's transaction it needs no savepoint either.
    with transaction.atomic() if send_email or send_webhook else nullcontext():
        if not _insert_once(row):
            return None  # raised already: by the first run of the same task, or a concurrent one
        deliveries = _deliveries_for(
            notification=row,
            address=recipient.email if send_email else None,
            webhook=send_webhook,
        )
    if deliveries:
        from accounts.services.notification_delivery import notification_delivery_queue

        ids = [delivery.pk for delivery in deliveries if delivery.status == DeliveryStatus.PENDING]
        transaction.on_commit(
            lambda: [notification_delivery_queue(delivery_id=pk) for pk in ids], robust=True
        )
    return row


_INSERTED_FIELDS = ("user", "event", "key", "title", "body", "url", "data", "created_at", "in_admin")


@functools.cache
def _insert_once_sql(vendor: str) -> str:
    del vendor  # the cache key: quoted for one backend
    quote = connection.ops.quote_name
    columns = ", ".join(quote(Notification._meta.get_field(name).column) for name in _INSERTED_FIELDS)
    marks = ", ".join("%s" for _ in _INSERTED_FIELDS)
    # The model's own table and column names only; every value is a parameter.
    return (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote(Notification._meta.pk.column)}"
    )


def _insert_once(row: Notification) -> bool:
    """Insert `row` unless its (user, event, key) is there already; True, with its pk set, when it
    was inserted. One statement (PostgreSQL, SQLite 3.35+): the ORM's `create` would raise on the
    duplicate (a savepoint inside a transaction to survive it) and costs a job's notification
    more to build than to run (docs/performance.md, `queue_drain`)."""
    fields = [Notification._meta.get_field(name) for name in _INSERTED_FIELDS]
    params = [field.get_db_prep_save(field.pre_save(row, add=True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_once_sql(connection.vendor), params)
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    row.pk = inserted[0]
    row._state.adding = False
    row._state.db = connection.alias
    return True


def _deliveries_for(
    *, notification: Notification, address: str | None, webhook: bool
) -> list[NotificationDelivery]:
    """`address`: the person's email address when the email channel is on ("" for none), else None."""
    rows = []
    if address is not None:
        # Kept, skipped, when there is no address: the delivery log then says why nothing came.
        rows.append(
            NotificationDelivery(notification=notification, channel=C.EMAIL)
            if address
            else NotificationDelivery(
                notification=notification,
                channel=C.EMAIL,
                status=DeliveryStatus.SKIPPED,
                last_error="Your account has no email address.",
            )
        )
    if webhook:
        rows.append(NotificationDelivery(notification=notification, channel=C.WEBHOOK))
    return NotificationDelivery.objects.bulk_create(rows) if rows else []


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the person's notifications read (all unread ones when `ids` is None); returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def job_ended_notify(
    *, user_id: int, kind: str, job_id, failed: bool, name: str, detail: str = "", url: str = ""
) -> Notification | None:
    """A background job (a scraping job, a persona task, an image prompt) finished or failed. Call it
    where the job's own conditional update recorded the end, so only the run that ended it tells;
    the key (kind, job, outcome) makes a repeated call a no-op."""
    outcome = "failed" if failed else "finished"
    return notification_raise_to(
        user_id=user_id,
        event=E.JOB_FAILED if failed else E.JOB_FINISHED,
        key=f"{kind}:{job_id}:{outcome}",
        title=f"{name} {outcome}",
        body=detail,
        url=url,
        data={"kind": kind, "job_id": str(job_id), "outcome": outcome},
    )
