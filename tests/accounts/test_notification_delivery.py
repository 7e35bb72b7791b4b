"""Notification channels: each event reaches each enabled channel once, however often its task runs;
the webhook is signed, retried with backoff and disabled after repeated failures; emails carry
plain text and HTML with absolute links; preferences switch channels off."""

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    DeliveryStatus,
    Notification,
    NotificationDelivery,
    NotificationEvent,
    NotificationWebhook,
)
from accounts.selectors import notification_deliveries_of, notifications_of, notifications_unread_count
from accounts.services.notification_delivery import (
    notification_deliveries_dispatch_due,
    notification_delivery_send,
)
from accounts.services.notification_webhooks import notification_webhook_save, notification_webhook_test
from accounts.services.notifications import notification_preferences_grid, notification_preferences_set
from accounts.services.notifications import notification_raise as raise_notification
from accounts.tasks import deliver_notification
from tests.factories.accounts import UserFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.notification_receiver import FakeNotificationReceiver

pytestmark = pytest.mark.django_db

E = NotificationEvent


@pytest.fixture
def receiver(httpserver):
    return FakeNotificationReceiver(httpserver, secret="")


@pytest.fixture
def owner_with_webhook(receiver):
    owner = UserFactory()
    webhook, secret = notification_webhook_save(user=owner, url=receiver.url)
    receiver.secret = secret  # what the person copies into their receiver
    return owner, webhook


def notify(user, *, event=E.PUBLISH_FAILED, key="job-1", url="/admin/notifications/", capture):
    with capture(execute=True):
        return raise_notification(
            user=user,
            event=event,
            key=key,
            title="The X post failed",
            body="HTTP 401: token revoked",
            url=url,
        )


def test_each_enabled_channel_gets_the_event_once_when_the_task_runs_twice(
    owner_with_webhook, receiver, django_capture_on_commit_callbacks
):
    owner, _ = owner_with_webhook
    first = notify(owner, capture=django_capture_on_commit_callbacks)
    assert notify(owner, capture=django_capture_on_commit_callbacks) is None  # the task ran again
    deliveries = NotificationDelivery.objects.filter(notification=first)
    assert sorted(deliveries.values_list("channel", flat=True)) == ["email", "webhook"]
    for delivery in deliveries:  # the delivery task redelivered by the broker
        assert deliver_notification(delivery.pk) is None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    assert len(receiver.events) == 1 and len(receiver.requests) == 1 and receiver.refused == []
    assert set(deliveries.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 1)}
    assert notifications_unread_count(user=owner) == 1


def test_the_webhook_payload_is_signed_and_its_links_absolute(
    owner_with_webhook, receiver, settings, django_capture_on_commit_callbacks
):
    owner, _ = owner_with_webhook
    notification = notify(owner, capture=django_capture_on_commit_callbacks)
    [request] = receiver.requests
    assert receiver.signature_valid_for(request)
    assert (
        request.headers["Idempotency-Key"]
        == f"notification-delivery-{notification.deliveries.get(channel='webhook').pk}"
    )
    assert json.loads(request.body) == {
        "id": notification.pk,
        "event": "publish_failed",
        "title": "The X post failed",
        "body": "HTTP 401: token revoked",
        "url": f"{settings.PUBLIC_BASE_URL}/admin/notifications/",
        "created_at": notification.created_at.isoformat(),
        "data": {},
    }


def test_a_receiver_failing_three_times_gets_the_event_once_and_the_log_shows_the_attempts(
    owner_with_webhook, receiver, django_capture_on_commit_callbacks
):
    owner, webhook = owner_with_webhook
    receiver.fail_next(503, times=3)
    notification = notify(owner, capture=django_capture_on_commit_callbacks)
    delivery = notification.deliveries.get(channel="webhook")
    waits = []
    for _ in range(3):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code in (503, None)
        assert notification_delivery_send(delivery_id=delivery.pk) is None  # not due yet
        waits.append((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
        notification_delivery_send(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (
        delivery.status == DeliveryStatus.SENT and delivery.attempts == 4 and delivery.last_status_code == 200
    )
    assert waits[0] < waits[1] < waits[2]  # exponential backoff (1, 4, 16 minutes, spread 10 %)
    assert 54 <= waits[0] <= 66
    assert len(receiver.events) == 1 and receiver.events[0]["id"] == notification.pk
    keys = {request.headers["Idempotency-Key"] for request in receiver.requests}
    assert len(receiver.requests) == 4 and len(keys) == 1 and receiver.refused == []
    [logged] = notification_deliveries_of(user=owner).filter(channel="webhook")
    assert logged.attempts == 4 and logged.last_duration_ms is not None
    webhook.refresh_from_db()
    assert webhook.is_active and webhook.consecutive_failures == 0


def test_retry_after_is_honoured(owner_with_webhook, receiver, django_capture_on_commit_callbacks):
    owner, _ = owner_with_webhook
    receiver.fail_next(429, headers={"Retry-After": "120"})
    delivery = notify(owner, capture=django_capture_on_commit_callbacks).deliveries.get(channel="webhook")
    delivery.refresh_from_db()
    assert (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() == 120
    assert delivery.last_error == "The receiver answered HTTP 429."


def test_the_webhook_is_disabled_after_repeated_failures_and_its_owner_told(
    owner_with_webhook, receiver, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_WEBHOOK_DISABLE_AFTER = 3
    owner, webhook = owner_with_webhook
    receiver.fail_next(500, times=100)
    first = notify(owner, key="job-1", capture=django_capture_on_commit_callbacks)
    waiting = notify(owner, key="job-2", capture=django_capture_on_commit_callbacks)
    delivery = first.deliveries.get(channel="webhook")
    delivery.refresh_from_db()
    # job-1 failed once, job-2 once: the third failure in a row.
    notification_delivery_send(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    webhook.refresh_from_db()
    assert not webhook.is_active and webhook.disabled_at and "HTTP 500" in webhook.disabled_reason
    assert waiting.deliveries.get(channel="webhook").status == DeliveryStatus.SKIPPED
    told = Notification.objects.get(user=owner, event=E.WEBHOOK_DISABLED)
    assert told in notifications_of(user=owner) and not told.deliveries.filter(channel="webhook").exists()
    assert told.deliveries.get(channel="email").status == DeliveryStatus.PENDING  # queued on commit
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED and delivery.attempts == 2  # + job-2's one
    assert notification_delivery_send(delivery_id=delivery.pk, now=delivery.next_attempt_at) is None
    later = notify(owner, key="job-3", capture=django_capture_on_commit_callbacks)
    assert not later.deliveries.filter(channel="webhook").exists()
    assert len(receiver.requests) == 3
    # Saving the URL again enables it.
    notification_webhook_save(user=owner, url=receiver.url)
    webhook.refresh_from_db()
    assert webhook.is_active and webhook.consecutive_failures == 0


def test_a_delivery_fails_for_good_after_its_attempts(owner_with_webhook, receiver, settings):
    settings.NOTIFICATION_DELIVERY_MAX_ATTEMPTS = 2
    owner, _ = owner_with_webhook
    receiver.fail_next(502, times=5)
    notification = raise_notification(user=owner, event=E.JOB_FAILED, key="1", title="A job failed")
    delivery = notification.deliveries.get(channel="webhook")
    assert notification_delivery_send(delivery_id=delivery.pk) == DeliveryStatus.PENDING
    delivery.refresh_from_db()
    assert notification_delivery_send(delivery_id=delivery.pk, now=delivery.next_attempt_at) == "failed"
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at is None and delivery.last_status_code == 502


def test_the_dispatcher_sends_what_is_due_and_takes_back_a_dead_workers_row(owner_with_webhook, receiver):
    owner, _ = owner_with_webhook
    notification = raise_notification(user=owner, event=E.JOB_FAILED, key="1", title="A job failed")
    # Never queued (no commit callbacks ran): the dispatcher finds it once it is two minutes old.
    now = timezone.now()
    assert notification_deliveries_dispatch_due(now=now) == 0
    delivery = notification.deliveries.get(channel="webhook")
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, attempts=1, last_attempt_at=now - timedelta(minutes=11)
    )
    NotificationDelivery.objects.filter(channel="email").update(created_at=now - timedelta(minutes=3))
    # The webhook's worker is gone (taken back); the email was never queued.
    assert notification_deliveries_dispatch_due(now=now) == 2
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert len(receiver.events) == 1 and len(mail.outbox) == 1


def test_the_email_has_plain_text_and_html_with_working_absolute_links(
    client, settings, django_capture_on_commit_callbacks
):
    owner = UserFactory(is_staff=True)
    notify(owner, url=reverse("admin-notifications"), capture=django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.subject == "[Socialdesk] The X post failed"
    assert "HTTP 401: token revoked" in message.body and "<" not in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and "<h1>The X post failed</h1>" in html
    action = f"{settings.PUBLIC_BASE_URL}{reverse('admin-notifications')}"
    preferences = f"{settings.PUBLIC_BASE_URL}{reverse('admin-preferences')}"
    assert f"Open it: {action}" in message.body and preferences in message.body
    assert f'href="{action}"' in html and f'href="{preferences}"' in html
    client.force_login(owner)
    for link in (action, preferences):
        assert client.get(urlsplit(link).path).status_code == 200


def test_preferences_switch_channels_off_and_on(
    owner_with_webhook, receiver, django_capture_on_commit_callbacks
):
    owner, _ = owner_with_webhook
    grid = notification_preferences_set(
        user=owner,
        choices={
            "publish_failed": {"email": False, "webhook": False, "admin": False},
            "published": {"email": True},
        },
    )
    assert grid["publish_failed"] == {"admin": False, "email": False, "webhook": False}
    assert grid["published"] == {"admin": True, "email": True, "webhook": True}
    silent = notify(owner, capture=django_capture_on_commit_callbacks)
    assert silent is not None and not silent.in_admin and not silent.deliveries.exists()
    assert list(notifications_of(user=owner)) == [] and notifications_unread_count(user=owner) == 0
    loud = notify(owner, event=E.PUBLISHED, capture=django_capture_on_commit_callbacks)
    assert sorted(loud.deliveries.values_list("channel", flat=True)) == ["email", "webhook"]
    assert len(mail.outbox) == 1 and len(receiver.events) == 1


def test_defaults_and_bad_preferences():
    owner = UserFactory()
    grid = notification_preferences_grid(user=owner)
    assert {event for event, channels in grid.items() if channels["email"]} == {
        "publish_failed",
        "connection_broke",
        "job_failed",
        "webhook_disabled",
    }
    assert all(channels["admin"] for channels in grid.values())
    for bad in (
        {"birthday": {"email": True}},
        {"published": {"pigeon": True}},
        {"published": {"email": "yes"}},
        {"webhook_disabled": {"webhook": True}},
        ["published"],
    ):
        with pytest.raises(ValidationError):
            notification_preferences_set(user=owner, choices=bad)
    assert notification_preferences_grid(user=owner) == grid
    # Without a webhook nothing is queued for one; without an address the email is logged skipped.
    owner.email = ""
    owner.save(update_fields=["email"])
    notification = raise_notification(user=owner, event=E.JOB_FAILED, key="1", title="t")
    [email] = notification.deliveries.all()
    assert email.channel == "email" and email.status == DeliveryStatus.SKIPPED


def test_the_secret_is_encrypted_at_rest_and_a_bad_url_is_refused(raw_column):
    owner = UserFactory()
    webhook, secret = notification_webhook_save(user=owner, url="https://hooks.example.test/socialdesk")
    assert secret.startswith("whsec_") and webhook.secret_hint == secret[-4:]
    assert secret not in raw_column(NotificationWebhook, webhook.pk, "secret")
    again, no_secret = notification_webhook_save(user=owner, url="https://hooks.example.test/other")
    assert again.pk == webhook.pk and no_secret is None and again.secret == secret
    for bad in ("", "ftp://hooks.example.test/", "not a url", "http://169.254.169.254/latest/"):
        with pytest.raises(ValidationError):
            notification_webhook_save(user=owner, url=bad)
    webhook.refresh_from_db()
    assert webhook.url == "https://hooks.example.test/other"


def test_a_test_request_is_signed(owner_with_webhook, receiver):
    _, webhook = owner_with_webhook
    delivered, what = notification_webhook_test(webhook=webhook)
    assert delivered and "HTTP 200" in what
    assert receiver.events[0]["event"] == "test" and receiver.refused == []
    receiver.secret = "another secret"
    delivered, what = notification_webhook_test(webhook=webhook)
    assert not delivered and what == "The receiver answered HTTP 401."
    assert not NotificationDelivery.objects.exists()
