"""connection_broke_notify: the owner hears once per breakage (the health change, or once a day)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from accounts.models import Notification, NotificationEvent
from platforms.services import connection_broke_notify
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db


def test_one_breakage_is_told_once_on_every_default_channel(django_capture_on_commit_callbacks):
    connection = PlatformConnectionFactory(name="My Mastodon")
    since = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        first = connection_broke_notify(
            connection=connection, reason="The token was revoked (HTTP 401).", since=since
        )
        assert connection_broke_notify(connection=connection, reason="Still HTTP 401.", since=since) is None
    assert first.user == connection.user and first.key == f"{connection.pk}:2026-12-07T03:00:00+00:00"
    assert first.title == "The connection “My Mastodon” stopped working"
    assert first.url == f"/admin/platforms/platformconnection/{connection.pk}/change/"
    assert first.data["reason"] == "The token was revoked (HTTP 401)."
    assert len(mail.outbox) == 1 and "HTTP 401" in mail.outbox[0].body
    # It broke again after a recovery: a new health change, a new notification.
    assert connection_broke_notify(connection=connection, reason="x", since=since + timedelta(hours=5))
    assert Notification.objects.filter(event=NotificationEvent.CONNECTION_BROKE).count() == 2


def test_without_the_time_of_the_change_at_most_one_a_day():
    connection = PlatformConnectionFactory()
    assert connection_broke_notify(connection=connection, reason="DNS fails.") is not None
    assert connection_broke_notify(connection=connection, reason="DNS fails.") is None
