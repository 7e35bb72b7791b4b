# ruff: noqa: F811  (fixtures imported from the neighbouring test module)
"""Captions awaiting review reach their owner as a digest, at most one an hour: two caption tasks in
one hour raise one notification (its count refreshed), the next hour's task raises another."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from accounts.models import Notification, NotificationEvent
from accounts.services.notifications import notification_preferences_set
from captions.services import notifications as digest_module
from captions.services.tasks import caption_task_create
from tests.captions.services.test_tasks import (  # noqa: F401
    _settings,
    add_post,
    connection,
    fake,
)
from tests.fakes.base import make_httpserver  # noqa: F401

pytestmark = pytest.mark.django_db

HOUR = datetime(2026, 12, 7, 4, 10, tzinfo=UTC)


def run_task(connection, capture):
    with capture(execute=True):
        caption_task_create(user=connection.user, connection=connection)


def digests(user):
    return list(
        Notification.objects.filter(user=user, event=NotificationEvent.CAPTIONS_AWAITING_REVIEW).order_by(
            "key"
        )
    )


def test_two_tasks_in_one_hour_make_one_digest_the_next_hour_another(
    fake,
    connection,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    owner = connection.user
    notification_preferences_set(user=owner, choices={"captions_awaiting_review": {"email": True}})
    clock = {"now": HOUR}
    monkeypatch.setattr(digest_module, "_now", lambda: clock["now"])

    add_post(fake, [None, None])
    run_task(connection, django_capture_on_commit_callbacks)
    [first] = digests(owner)
    assert first.key == "2026-12-07T04" and first.title == "2 images await your caption review"
    assert first.url == "/admin/captions/image/review/" and first.data == {
        "images": 2,
        "hour": "2026-12-07T04",
    }

    clock["now"] = HOUR + timedelta(minutes=40)
    add_post(fake, [None])
    run_task(connection, django_capture_on_commit_callbacks)
    [same] = digests(owner)
    assert (
        same.pk == first.pk and same.title == "3 images await your caption review"
    )  # refreshed, not re-sent
    assert len(mail.outbox) == 1

    clock["now"] = HOUR + timedelta(hours=1)
    add_post(fake, [None])
    run_task(connection, django_capture_on_commit_callbacks)
    assert [d.key for d in digests(owner)] == ["2026-12-07T04", "2026-12-07T05"]
    assert digests(owner)[1].title == "4 images await your caption review"
    assert len(mail.outbox) == 2


def test_no_digest_when_nothing_awaits_review(connection):
    assert digest_module.captions_awaiting_review_notify(user=connection.user) is None
    assert digests(connection.user) == []
