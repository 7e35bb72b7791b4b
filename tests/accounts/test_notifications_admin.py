"""The admin's Notifications page and the notification parts of the Preferences page: a person sees
only their own notifications (another's cannot be marked read), the unread count is in the user
tools of every admin page, the event-by-channel grid saves, the webhook's secret is shown once, a
test can be sent, and the delivery log lists the attempts."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import NotificationEvent, NotificationPreference, NotificationWebhook, Role
from accounts.selectors import notifications_unread_count
from accounts.services.notifications import notification_preferences_grid, notification_raise
from tests.factories.accounts import UserFactory
from tests.fakes.base import make_httpserver  # noqa: F401
from tests.fakes.notification_receiver import FakeNotificationReceiver

pytestmark = pytest.mark.django_db

NOTIFICATIONS = reverse("admin-notifications")
PREFERENCES = reverse("admin-preferences")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def raise_for(user, key, title="A job failed"):
    return notification_raise(
        user=user, event=NotificationEvent.JOB_FAILED, key=key, title=title, url="/admin/"
    )


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADMIN])
def test_the_list_is_the_persons_own_whatever_the_role(role):
    me = UserFactory(role=role, is_staff=True, is_superuser=role == Role.ADMIN)
    other = UserFactory(is_staff=True)
    raise_for(me, "1", title="Mine, the first")
    theirs = raise_for(other, "1", title="Somebody else's")
    body = signed_in(me).get(NOTIFICATIONS).content.decode()
    assert "Mine, the first" in body and "Somebody else" not in body
    # Marking another's notification read changes nothing.
    response = signed_in(me).post(NOTIFICATIONS, {"ids": [str(theirs.pk)], "mark_selected": "1"})
    assert response.status_code == 302
    assert notifications_unread_count(user=other) == 1


def test_mark_read_and_mark_all_read():
    me = UserFactory(is_staff=True)
    first, *_ = (raise_for(me, str(n), title=f"Number {n}") for n in range(3))
    client = signed_in(me)
    client.post(NOTIFICATIONS, {"ids": [str(first.pk)], "mark_selected": "1"})
    assert notifications_unread_count(user=me) == 2
    body = client.get(NOTIFICATIONS + "?unread=1").content.decode()
    assert "Number 0" not in body and "Number 1" in body
    client.post(NOTIFICATIONS, {"mark_all": "1"})
    assert notifications_unread_count(user=me) == 0


def test_the_unread_count_is_on_every_admin_page():
    me = UserFactory(is_staff=True)
    client = signed_in(me)
    for page in (reverse("admin:index"), PREFERENCES, NOTIFICATIONS):
        assert f'href="{NOTIFICATIONS}"' in client.get(page).content.decode()
    raise_for(me, "1")
    raise_for(me, "2")
    for page in (reverse("admin:index"), PREFERENCES):
        link = re.search(
            r'<a href="/admin/notifications/" id="notifications-link">(.*?)</a>',
            client.get(page).content.decode(),
        )
        assert link and "(2)" in link.group(1)


def test_the_grid_saves_the_persons_choices():
    me = UserFactory(is_staff=True)
    client = signed_in(me)
    body = client.get(PREFERENCES).content.decode()
    assert 'name="notify:publish_failed:email" id="id_notify:publish_failed:email" checked' in body
    assert 'name="notify:published:email" id="id_notify:published:email" aria' in body  # off by default
    assert 'name="notify:webhook_disabled:webhook"' not in body  # not offered
    # Everything ticked on the admin channel, plus the publish email; the rest off.
    ticked = {f"notify:{event}:admin": "on" for event in NotificationEvent.values}
    ticked["notify:published:email"] = "on"
    assert client.post(PREFERENCES, {"section": "notifications", **ticked}).status_code == 302
    grid = notification_preferences_grid(user=me)
    assert grid["published"] == {"admin": True, "email": True, "webhook": False}
    assert grid["publish_failed"] == {"admin": True, "email": False, "webhook": False}
    assert not NotificationPreference.objects.exclude(user=me).exists()


def test_the_webhook_secret_is_shown_once_and_a_test_is_sent(httpserver):
    me = UserFactory(is_staff=True)
    client = signed_in(me)
    receiver = FakeNotificationReceiver(httpserver, secret="")
    response = client.post(
        PREFERENCES, {"section": "webhook", "webhook_action": "save", "webhook_url": receiver.url}
    )
    assert response.status_code == 200
    secret = re.search(r"<code>(whsec_[^<]+)</code>", response.content.decode()).group(1)
    webhook = NotificationWebhook.objects.get(user=me)
    assert webhook.secret == secret and webhook.url == receiver.url
    body = client.get(PREFERENCES).content.decode()
    assert secret not in body and f"whsec_…{secret[-4:]}" in body
    receiver.secret = secret
    response = client.post(PREFERENCES, {"section": "webhook", "webhook_action": "test"}, follow=True)
    assert "Test sent. Delivered: the receiver answered HTTP 200" in response.content.decode()
    assert receiver.events[0]["event"] == "test"


def test_a_bad_webhook_url_is_a_form_error_and_changes_nothing():
    me = UserFactory(is_staff=True)
    response = signed_in(me).post(
        PREFERENCES, {"section": "webhook", "webhook_action": "save", "webhook_url": "ftp://example.test/"}
    )
    assert response.status_code == 200 and "Give an http(s) URL" in response.content.decode()
    assert not NotificationWebhook.objects.exists()


def test_the_delivery_log_lists_the_persons_deliveries(django_capture_on_commit_callbacks):
    me, other = UserFactory(is_staff=True), UserFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        raise_for(me, "1", title="My failed job")
        raise_for(other, "1", title="Their failed job")
    body = signed_in(me).get(PREFERENCES).content.decode()
    log = body[body.index('id="notification-deliveries"') :]
    assert "My failed job" in log and "Their failed job" not in log and "Sent" in log
