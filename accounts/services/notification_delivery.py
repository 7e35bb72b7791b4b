"""Delivering notifications by email and to a person's webhook, each once.

A `NotificationDelivery` row is claimed by a conditional update (`pending` and due -> `sending`,
attempts + 1) before anything is sent, so two runs of the same task never send twice. A failure is
recorded on the row (error, HTTP status, duration) and, while attempts are left, the row goes back
to `pending` with `next_attempt_at` after an exponential backoff (Retry-After honoured); the
dispatcher (`notification_deliveries_dispatch_due`, every minute) queues what is due and takes back
rows whose worker died while sending. After NOTIFICATION_WEBHOOK_DISABLE_AFTER failed attempts in a
row the webhook is disabled and its owner told in the admin (and by email if they chose).

The webhook request (what a receiver implements):

    POST <the person's URL>
    Content-Type: application/json
    Idempotency-Key: notification-delivery-<id>   # the same for every attempt of one delivery
    X-Socialdesk-Timestamp: <unix seconds>        # of this attempt
    X-Socialdesk-Signature: sha256=<hex HMAC-SHA256(key=secret, msg=f"{timestamp}.{raw body}")>
    {"id": <notification id>, "event": "publish_failed", "title": "...", "body": "...",
     "url": "https://<PUBLIC_BASE_URL>/admin/...", "created_at": "<ISO 8601>", "data": {...}}

Any 2xx is delivered; anything else (or no answer) is retried with the same key and body.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import (
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationEvent,
    NotificationWebhook,
)
from core.retry import RetryPolicy, parse_retry_after
from core.urlguard import OutboundRefused, guarded_client
from core.webhook_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature

logger = logging.getLogger(__name__)

DELIVER_TASK = "accounts.tasks.deliver_notification"
# Between attempts: 1 min, 4 min, 16 min, ~1 h, ~4 h (capped at 6 h), spread by 10 %.
DELIVERY_BACKOFF = RetryPolicy(attempts=10, base_delay=60.0, factor=4.0, max_delay=6 * 3600.0, jitter=0.1)
# A worker that died mid-send leaves the row `sending`; after this it is taken back.
SENDING_TIMEOUT = timedelta(minutes=10)
NEVER_QUEUED = timedelta(minutes=2)
MAX_ERROR_CHARS = 500


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


@dataclass
class _Outcome:
    status_code: int | None = None
    duration_ms: int | None = None


def absolute_url(path: str) -> str:
    """A path of this site as a link that works outside it (emails, webhooks)."""
    if not path:
        return ""
    if path.startswith(("http://", "https://")):
        return path
    return f"{settings.PUBLIC_BASE_URL}/{path.lstrip('/')}"


def notification_delivery_queue(*, delivery_id: int) -> None:
    async_task(
        DELIVER_TASK, delivery_id, task_name=f"notification-delivery-{delivery_id}", group="notifications"
    )


def notification_delivery_send(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Claim one due delivery and send it; returns its new status, or None when it was not due
    (sent already, being sent, or waiting for its next attempt)."""
    now = now or timezone.now()
    claimed = (
        NotificationDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now, updated_at=now
        )
    )
    if not claimed:
        return None
    delivery = NotificationDelivery.objects.select_related("notification__user").get(pk=delivery_id)
    mine = NotificationDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts
    )
    webhook = None
    if delivery.channel == NotificationChannel.WEBHOOK:
        webhook = NotificationWebhook.objects.filter(user_id=delivery.notification.user_id).first()
        if webhook is None or not webhook.is_active:
            mine.update(
                status=DeliveryStatus.SKIPPED,
                last_error="The webhook was removed or disabled before this was sent.",
                updated_at=now,
            )
            return DeliveryStatus.SKIPPED
    started = time.monotonic()
    try:
        if webhook is not None:
            outcome = _send_webhook(delivery=delivery, webhook=webhook)
        else:
            outcome = _send_email(delivery=delivery)
    except DeliveryFailed as exc:
        duration = int((time.monotonic() - started) * 1000)
        return _record_failure(
            delivery=delivery, mine=mine, webhook=webhook, exc=exc, duration_ms=duration, now=now
        )
    mine.update(
        status=DeliveryStatus.SENT,
        sent_at=timezone.now(),
        last_error="",
        last_status_code=outcome.status_code,
        last_duration_ms=int((time.monotonic() - started) * 1000),
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    if webhook is not None:
        NotificationWebhook.objects.filter(pk=webhook.pk).update(consecutive_failures=0)
    return DeliveryStatus.SENT


def _record_failure(*, delivery, mine, webhook, exc: DeliveryFailed, duration_ms: int, now: datetime) -> str:
    max_attempts = int(settings.NOTIFICATION_DELIVERY_MAX_ATTEMPTS)
    fields = {
        "last_error": str(exc)[:MAX_ERROR_CHARS],
        "last_status_code": exc.status_code,
        "last_duration_ms": duration_ms,
        "updated_at": timezone.now(),
    }
    if delivery.attempts >= max_attempts:
        status = DeliveryStatus.FAILED
        mine.update(status=status, next_attempt_at=None, **fields)
    else:
        status = DeliveryStatus.PENDING
        wait = DELIVERY_BACKOFF.delay(delivery.attempts, retry_after=exc.retry_after)
        mine.update(status=status, next_attempt_at=now + timedelta(seconds=wait), **fields)
    logger.info(
        "Notification delivery %s (%s) attempt %d failed: %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        exc,
    )
    if webhook is not None:
        _count_webhook_failure(webhook=webhook, reason=str(exc))
    return status


def _count_webhook_failure(*, webhook: NotificationWebhook, reason: str) -> None:
    NotificationWebhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    limit = int(settings.NOTIFICATION_WEBHOOK_DISABLE_AFTER)
    now = timezone.now()
    with transaction.atomic():
        disabled = NotificationWebhook.objects.filter(
            pk=webhook.pk, is_active=True, consecutive_failures__gte=limit
        ).update(is_active=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now)
        if not disabled:
            return
        NotificationDelivery.objects.filter(
            notification__user_id=webhook.user_id,
            channel=NotificationChannel.WEBHOOK,
            status=DeliveryStatus.PENDING,
        ).update(status=DeliveryStatus.SKIPPED, last_error="The webhook was disabled.", updated_at=now)
        from accounts.services.notifications import notification_raise

        notification_raise(
            user=webhook.user,
            event=NotificationEvent.WEBHOOK_DISABLED,
            key=f"{webhook.pk}:{now.isoformat()}",
            title="Your notification webhook was disabled",
            body=f"{limit} deliveries to {webhook.url} failed in a row (the last: {reason[:200]}). "
            "Nothing more is sent to it until you enable it again on your Preferences page.",
            url=reverse("admin-preferences"),
            data={"url": webhook.url, "failures": limit},
        )


def notification_payload(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "event": notification.event,
        "title": notification.title,
        "body": notification.body,
        "url": absolute_url(notification.url),
        "created_at": notification.created_at.isoformat(),
        "data": notification.data,
    }


def webhook_post(*, url: str, secret: str, payload: dict, idempotency_key: str) -> _Outcome:
    """POST one signed payload through the guarded client; DeliveryFailed unless a 2xx answers."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Socialdesk-Notifications/1",
        "Idempotency-Key": idempotency_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    started = time.monotonic()
    try:
        with guarded_client(
            timeout=float(settings.NOTIFICATION_WEBHOOK_TIMEOUT), follow_redirects=False
        ) as client:
            response = client.post(url, content=body, headers=headers)
    except OutboundRefused as exc:
        raise DeliveryFailed(f"Refused: {exc}") from None
    except httpx.TimeoutException:
        raise DeliveryFailed("No answer in time.") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"Could not connect: {type(exc).__name__}.") from None
    duration = int((time.monotonic() - started) * 1000)
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(
            f"The receiver answered HTTP {response.status_code}.",
            status_code=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return _Outcome(status_code=response.status_code, duration_ms=duration)


def _send_webhook(*, delivery: NotificationDelivery, webhook: NotificationWebhook) -> _Outcome:
    return webhook_post(
        url=webhook.url,
        secret=webhook.secret,
        payload=notification_payload(delivery.notification),
        idempotency_key=f"notification-delivery-{delivery.pk}",
    )


def notification_email(notification: Notification) -> EmailMultiAlternatives:
    """The email of one notification: plain text and HTML from templates/notifications/, with
    absolute links on PUBLIC_BASE_URL."""
    user = notification.user
    context = {
        "notification": notification,
        "user": user,
        "action_url": absolute_url(notification.url),
        "list_url": absolute_url(reverse("admin-notifications")),
        "preferences_url": absolute_url(reverse("admin-preferences")),
        "site_url": settings.PUBLIC_BASE_URL,
    }
    text = render_to_string("notifications/email.txt", context)
    html = render_to_string("notifications/email.html", context)
    message = EmailMultiAlternatives(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}{notification.title}",
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"X-Socialdesk-Event": notification.event},
    )
    message.attach_alternative(html, "text/html")
    return message


def _send_email(*, delivery: NotificationDelivery) -> _Outcome:
    if not delivery.notification.user.email:
        raise DeliveryFailed("Your account has no email address.")
    try:
        notification_email(delivery.notification).send(fail_silently=False)
    except Exception as exc:  # SMTP errors of every kind, connection refused, timeouts
        raise DeliveryFailed(f"The mail server refused or did not answer: {type(exc).__name__}.") from None
    return _Outcome()


def notification_deliveries_dispatch_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Queue the deliveries whose next attempt is due, after taking back those whose worker died
    while sending; returns how many were queued."""
    now = now or timezone.now()
    NotificationDelivery.objects.filter(
        status=DeliveryStatus.SENDING, last_attempt_at__lt=now - SENDING_TIMEOUT
    ).update(
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        last_error="The worker stopped while sending; sent again.",
        updated_at=now,
    )
    due = list(
        NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING)
        # Never queued (the broker was down when it committed) or waiting for its next attempt.
        .filter(
            Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - NEVER_QUEUED)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        notification_delivery_queue(delivery_id=delivery_id)
    return len(due)
