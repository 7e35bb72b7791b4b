"""notification_raise: one row per (user, event, key), however often the raising task runs."""

import pytest
from django.db import transaction

from accounts.models import Notification, NotificationEvent
from accounts.selectors import notifications_of, notifications_unread_count
from accounts.services.notifications import notification_raise, notifications_mark_read
from tests.constraints import violates
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def raise_for(user, key="job-1", event=NotificationEvent.PUBLISH_FAILED):
    return notification_raise(
        user=user, event=event, key=key, title="  The X post\nfailed ", body="HTTP 401", url="/admin/"
    )


def test_an_occurrence_is_raised_once():
    user = UserFactory()
    first = raise_for(user)
    assert first is not None and first.title == "The X post failed"
    assert raise_for(user) is None  # the task ran again
    assert raise_for(user, key="job-2") is not None
    assert raise_for(user, event=NotificationEvent.JOB_FAILED) is not None
    assert Notification.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_row_without_deliveries_is_one_insert_and_raised_once(
    django_assert_num_queries,
):
    user = UserFactory()
    # JOB_FINISHED goes to the admin list only by default: no delivery, so no transaction.
    with django_assert_num_queries(2):  # the person's channels for the event, the row
        assert raise_for(user, event=NotificationEvent.JOB_FINISHED) is not None
    assert raise_for(user, event=NotificationEvent.JOB_FINISHED) is None  # the task ran again
    # Email by default: the row and its delivery commit together.
    assert raise_for(user, event=NotificationEvent.JOB_FAILED).deliveries.count() == 1
    assert Notification.objects.filter(user=user).count() == 2


def test_inside_a_transaction_a_repeat_inserts_nothing_without_a_savepoint(django_assert_num_queries):
    user = UserFactory()
    with transaction.atomic():
        first = raise_for(user, event=NotificationEvent.JOB_FINISHED)
        with django_assert_num_queries(2):  # the person's channels, the INSERT that inserts nothing
            assert raise_for(user, event=NotificationEvent.JOB_FINISHED) is None
        assert raise_for(user, event=NotificationEvent.JOB_FINISHED, key="job-2") is not None
    stored = Notification.objects.get(pk=first.pk)
    fields = ("user_id", "event", "key", "title", "body", "url", "data", "created_at", "read_at", "in_admin")
    assert [getattr(stored, name) for name in fields] == [getattr(first, name) for name in fields]
    assert stored.data == {} and stored.read_at is None and stored.in_admin is True


def test_an_inactive_person_is_not_notified_and_an_unknown_event_is_a_bug():
    assert raise_for(UserFactory(is_active=False)) is None
    with pytest.raises(ValueError):
        raise_for(UserFactory(), event="birthday")


def test_unread_counts_and_marking_read_are_the_persons_own():
    user, other = UserFactory(), UserFactory()
    mine = [raise_for(user, key=str(n)) for n in range(3)]
    raise_for(other)
    assert notifications_unread_count(user=user) == 3
    assert notifications_mark_read(user=user, ids=[mine[0].pk, raise_for(other, key="x").pk]) == 1
    assert notifications_unread_count(user=user) == 2
    assert notifications_mark_read(user=user) == 2
    assert notifications_unread_count(user=user) == 0 and notifications_unread_count(user=other) == 2
    assert [n.pk for n in notifications_of(user=user)] == [n.pk for n in reversed(mine)]


def test_the_event_must_be_known_to_the_database():
    with violates("ck_notifications_event"):
        Notification.objects.create(user=UserFactory(), event="birthday", key="1", title="t")


def test_the_database_holds_one_row_per_occurrence():
    user = UserFactory()
    raise_for(user)
    with violates("uq_notification_once"):
        Notification.objects.create(user=user, event=NotificationEvent.PUBLISH_FAILED, key="job-1", title="t")


def test_the_channel_tables_refuse_what_the_services_never_write():
    from accounts.models import NotificationDelivery, NotificationPreference

    user = UserFactory()
    notification = raise_for(user)
    NotificationPreference.objects.create(user=user, event="published", channel="email", enabled=True)
    with violates("uq_notification_preference"):
        NotificationPreference.objects.create(user=user, event="published", channel="email", enabled=False)
    with violates("ck_notification_pref_channel"):
        NotificationPreference.objects.create(user=user, event="published", channel="pigeon", enabled=True)
    NotificationDelivery.objects.create(notification=notification, channel="webhook")
    with violates("uq_notification_delivery"):
        NotificationDelivery.objects.create(notification=notification, channel="webhook")
    with violates("ck_notification_delivery_channel"):
        NotificationDelivery.objects.create(notification=notification, channel="admin")
    with violates("ck_notification_delivery_status"):
        NotificationDelivery.objects.create(notification=notification, channel="email", status="lost")
