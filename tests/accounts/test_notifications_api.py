"""/api/v1/notifications/: the caller's own notifications (another's is a 404), mark read, the
preferences grid, the webhook (its secret shown once) and the delivery log."""

import pytest
from rest_framework.test import APIClient

from accounts.models import NotificationEvent, NotificationWebhook, Role
from accounts.selectors import notifications_unread_count
from accounts.services.api_keys import api_key_create
from accounts.services.notifications import notification_raise
from tests.factories.accounts import UserFactory, bearer_token_for
from tests.fakes.base import make_httpserver  # noqa: F401
from tests.fakes.notification_receiver import FakeNotificationReceiver

pytestmark = pytest.mark.django_db

BASE = "/api/v1/notifications/"


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token_for(user)}")
    return client


def raise_for(user, key, event=NotificationEvent.JOB_FAILED):
    return notification_raise(user=user, event=event, key=key, title=f"Job {key} failed", url="/admin/")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.USER, Role.ADMIN])
def test_the_list_is_the_callers_own_and_anothers_is_a_404(role):
    me, other = UserFactory(role=role), UserFactory()
    mine = [raise_for(me, str(n)) for n in range(2)]
    theirs = raise_for(other, "1")
    client = api(me)
    body = client.get(BASE).json()
    assert [row["id"] for row in body["results"]] == [mine[1].pk, mine[0].pk]
    assert body["results"][0]["title"] == "Job 1 failed" and body["results"][0]["read_at"] is None
    assert client.get(f"{BASE}{mine[0].pk}/").status_code == 200
    assert client.get(f"{BASE}{theirs.pk}/").status_code == 404
    # Viewers too manage their own notifications.
    assert client.post(f"{BASE}mark-read/", {"ids": [mine[0].pk, theirs.pk]}, format="json").json() == {
        "marked": 1
    }
    assert [row["id"] for row in client.get(f"{BASE}?unread=true").json()["results"]] == [mine[1].pk]
    assert client.post(f"{BASE}mark-read/", {}, format="json").json() == {"marked": 1}
    assert notifications_unread_count(user=other) == 1


def test_bad_input_is_a_400():
    client = api(UserFactory())
    assert client.get(f"{BASE}?unread=maybe").status_code == 400
    assert client.post(f"{BASE}mark-read/", {"ids": "all"}, format="json").status_code == 400
    response = client.put(f"{BASE}preferences/", {"birthday": {"email": True}}, format="json")
    assert response.status_code == 400 and "birthday" in response.json()["error"]["fields"]


def test_api_keys_cannot_reach_notifications():
    me = UserFactory()
    raise_for(me, "1")
    key, _ = api_key_create(
        user=me, actor=me, key_name="integration", permissions=["captions:read", "platforms:read"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    for path in (BASE, f"{BASE}preferences/", f"{BASE}deliveries/"):
        assert client.get(path).status_code == 403


def test_preferences_round_trip():
    me = UserFactory()
    client = api(me)
    grid = client.get(f"{BASE}preferences/").json()
    assert grid["publish_failed"] == {"admin": True, "email": True, "webhook": True}
    grid = client.put(
        f"{BASE}preferences/", {"published": {"email": True, "admin": False}}, format="json"
    ).json()
    assert grid["published"] == {"admin": False, "email": True, "webhook": True}
    assert client.get(f"{BASE}preferences/").json() == grid


def test_the_webhook_lifecycle_and_the_delivery_log(httpserver, django_capture_on_commit_callbacks):
    me = UserFactory()
    client = api(me)
    receiver = FakeNotificationReceiver(httpserver, secret="")
    assert client.get(f"{BASE}webhook/").status_code == 404
    refused = client.post(f"{BASE}webhook/", {"url": "http://169.254.169.254/"}, format="json")
    assert refused.status_code == 400 and "url" in refused.json()["error"]["fields"]
    created = client.post(f"{BASE}webhook/", {"url": receiver.url}, format="json")
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert client.post(f"{BASE}webhook/", {"url": receiver.url}, format="json").status_code == 400
    shown = client.get(f"{BASE}webhook/").json()
    assert shown["secret"] == f"whsec_…{secret[-4:]}" and shown["is_active"] is True
    receiver.secret = secret
    assert client.post(f"{BASE}webhook/test/").json()["delivered"] is True

    with django_capture_on_commit_callbacks(execute=True):
        raise_for(me, "1")
    log = client.get(f"{BASE}deliveries/?channel=webhook").json()["results"]
    assert [(row["channel"], row["status"], row["attempts"], row["last_status_code"]) for row in log] == [
        ("webhook", "sent", 1, 200)
    ]
    assert log[0]["notification"]["title"] == "Job 1 failed"
    other = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        raise_for(other, "1")
    assert len(client.get(f"{BASE}deliveries/").json()["results"]) == 2  # my email and webhook only

    rotated = client.post(f"{BASE}webhook/rotate-secret/").json()["secret"]
    assert rotated != secret and NotificationWebhook.objects.get(user=me).secret == rotated
    assert client.patch(f"{BASE}webhook/", {"is_active": False}, format="json").json()["is_active"] is False
    assert client.patch(f"{BASE}webhook/", {}, format="json").status_code == 400
    assert client.delete(f"{BASE}webhook/").status_code == 204
    assert not NotificationWebhook.objects.filter(user=me).exists()


def test_mark_read_refuses_an_id_beyond_the_key_range_by_name():
    # SQLite cannot even bind it: a 500 before, which the schema fuzz found
    response = api(UserFactory()).post(f"{BASE}mark-read/", {"ids": [1, 2**63]}, format="json")
    assert response.status_code == 400 and "ids.1" in response.json()["error"]["fields"]
    assert api(UserFactory()).post(f"{BASE}mark-read/", {"ids": [2**63 - 1]}, format="json").json() == {
        "marked": 0
    }
