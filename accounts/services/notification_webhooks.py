"""A person's notification webhook: set it up (the secret is shown once), change its URL, make a new
secret, enable it again after it was disabled, remove it, send it a test."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from accounts.models import NotificationWebhook, User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from accounts.services.notification_delivery import DeliveryFailed, absolute_url, webhook_post
from core.urlguard import OutboundRefused, check_url

SECRET_PREFIX = "whsec_"  # noqa: S105 (a label, not a secret)


def _secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_masked(webhook: NotificationWebhook) -> str:
    return f"{SECRET_PREFIX}…{webhook.secret_hint}"


def webhook_url_clean(url) -> str:
    """An http(s) URL the guarded client would connect to; else ValidationError on `url`."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({"url": "Give the URL that should receive your notifications."})
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(
            {"url": "Give an http(s) URL, e.g. https://hooks.example.org/socialdesk."}
        ) from None
    if len(url) > 500:
        raise ValidationError({"url": "At most 500 characters."})
    try:
        check_url(url)
    except OutboundRefused as exc:
        raise ValidationError({"url": str(exc)}) from None
    return url


def notification_webhook_save(
    *, user: User, url, meta: RequestMeta | None = None
) -> tuple[NotificationWebhook, str | None]:
    """Create the person's webhook, or change its URL. Returns the row and, on creation only, the
    secret (shown this once). Changing the URL enables a disabled webhook again."""
    url = webhook_url_clean(url)
    now = timezone.now()
    with transaction.atomic():
        webhook = NotificationWebhook.objects.select_for_update().filter(user=user).first()
        secret = None
        if webhook is None:
            secret = _secret()
            webhook = NotificationWebhook.objects.create(
                user=user, url=url, secret=secret, secret_hint=secret[-4:]
            )
            action = "notification_webhook.created"
        else:
            webhook.url = url
            _enable(webhook, now=now)
            webhook.save(
                update_fields=[
                    "url",
                    "is_active",
                    "consecutive_failures",
                    "disabled_at",
                    "disabled_reason",
                    "updated_at",
                ]
            )
            action = "notification_webhook.changed"
        audit_log_write(action=action, actor=user, target=webhook, meta=meta, details={"url": url})
    return webhook, secret


def _enable(webhook: NotificationWebhook, *, now) -> None:
    webhook.is_active = True
    webhook.consecutive_failures = 0
    webhook.disabled_at = None
    webhook.disabled_reason = ""


def notification_webhook_set_active(
    *, webhook: NotificationWebhook, active: bool, actor: User, meta: RequestMeta | None = None
) -> NotificationWebhook:
    now = timezone.now()
    if active:
        _enable(webhook, now=now)
    else:
        webhook.is_active = False
        webhook.disabled_at = now
        webhook.disabled_reason = "Turned off by its owner."
    with transaction.atomic():
        webhook.save(
            update_fields=[
                "is_active",
                "consecutive_failures",
                "disabled_at",
                "disabled_reason",
                "updated_at",
            ]
        )
        audit_log_write(
            action="notification_webhook.enabled" if active else "notification_webhook.disabled",
            actor=actor,
            target=webhook,
            meta=meta,
        )
    return webhook


def notification_webhook_rotate_secret(
    *, webhook: NotificationWebhook, actor: User, meta: RequestMeta | None = None
) -> str:
    """A new secret, returned this once; the old one signs nothing from now on."""
    secret = _secret()
    webhook.secret = secret
    webhook.secret_hint = secret[-4:]
    with transaction.atomic():
        webhook.save(update_fields=["secret", "secret_hint", "updated_at"])
        audit_log_write(action="notification_webhook.secret_rotated", actor=actor, target=webhook, meta=meta)
    return secret


def notification_webhook_delete(
    *, webhook: NotificationWebhook, actor: User, meta: RequestMeta | None = None
) -> None:
    with transaction.atomic():
        audit_log_write(
            action="notification_webhook.deleted",
            actor=actor,
            target=webhook,
            meta=meta,
            details={"url": webhook.url},
        )
        webhook.delete()


def notification_webhook_test(*, webhook: NotificationWebhook) -> tuple[bool, str]:
    """POST a signed test event now; (delivered, what happened). Not retried, not logged as a delivery."""
    now = timezone.now()
    payload = {
        "id": None,
        "event": "test",
        "title": "A test from Socialdesk",
        "body": "Your webhook receives notifications. This one is only a test.",
        "url": absolute_url("/admin/"),
        "created_at": now.isoformat(),
        "data": {},
    }
    try:
        outcome = webhook_post(
            url=webhook.url, secret=webhook.secret, payload=payload, idempotency_key=f"test-{now.timestamp()}"
        )
    except DeliveryFailed as exc:
        return False, str(exc)
    return True, f"Delivered: the receiver answered HTTP {outcome.status_code} in {outcome.duration_ms} ms."
