"""Brute-force protection (django-axes): N failures per account or per IP lock sign-in out for the
cool-off, on the API (JSON 429) and on the admin login page (HTML 429); every failure and lockout
is audited without the password."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
WRONG = "definitely-not-it"
LOGIN = "/api/v1/auth/login/"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = 0.25  # hours: 900 s
    # The per-IP request limit on sign-in is tested with the rate limiter; keep it out of the way.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "1000/5m"}


def api_login(username: str, password: str, ip: str = "192.0.2.1", agent: str = "lockout-test/1"):
    return APIClient().post(
        LOGIN,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=agent,
    )


def admin_login(username: str, password: str, ip: str = "192.0.2.1"):
    return Client().post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def assert_locked(response):
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "locked_out"
    assert response.json()["error"]["fields"] == {}
    assert int(response["Retry-After"]) == 900


def test_failures_for_one_account_from_varied_ips_lock_the_account():
    user = UserFactory()
    for n in range(2):
        assert api_login(user.username, WRONG, ip=f"198.51.100.{n + 1}").status_code == 401
    # The limit-th failure is refused as a lockout straight away.
    assert_locked(api_login(user.username, WRONG, ip="198.51.100.3"))
    # Now even the right password, from an address never seen, is refused.
    assert_locked(api_login(user.username, PASSWORD, ip="203.0.113.77"))
    # Another account is not affected.
    assert api_login(UserFactory().username, PASSWORD, ip="203.0.113.78").status_code == 200


def test_failures_from_one_ip_for_varied_usernames_lock_the_ip():
    victim = UserFactory()
    for n in range(2):
        assert api_login(f"guess{n}", WRONG, ip="192.0.2.50").status_code == 401
    assert_locked(api_login("guess-last", WRONG, ip="192.0.2.50"))
    assert_locked(api_login(victim.username, PASSWORD, ip="192.0.2.50"))
    assert api_login(victim.username, PASSWORD, ip="192.0.2.51").status_code == 200


def test_email_case_variants_count_as_one_account():
    user = UserFactory(email="someone@example.test")
    for n, variant in enumerate(["Someone@example.test", "SOMEONE@EXAMPLE.TEST"]):
        assert api_login(variant, WRONG, ip=f"198.51.100.{n + 10}").status_code == 401
    assert_locked(api_login("someone@Example.Test", WRONG, ip="198.51.100.20"))
    assert_locked(api_login(user.email, PASSWORD, ip="198.51.100.21"))


def test_success_resets_the_count():
    user = UserFactory()
    for _ in range(2):
        assert api_login(user.username, WRONG).status_code == 401
    assert api_login(user.username, PASSWORD).status_code == 200
    for _ in range(2):
        assert api_login(user.username, WRONG).status_code == 401
    assert api_login(user.username, PASSWORD).status_code == 200


def test_failures_and_lockouts_are_audited_without_the_password():
    user = UserFactory()
    for _ in range(3):
        api_login(user.username, WRONG, ip="198.51.100.9", agent="curl/8.5")
    api_login(user.username, PASSWORD, ip="198.51.100.9", agent="curl/8.5")

    failed = AuditLog.objects.filter(action="auth.login_failed").order_by("id")
    assert failed.count() == 4
    first = failed[0]
    assert first.user is None
    assert first.resource_type == "user" and first.resource_id == str(user.pk)
    assert first.ip_address == "198.51.100.9"
    assert first.user_agent == "curl/8.5"
    assert first.details["username"] == user.username
    assert first.details["ip_address"] == "198.51.100.9"
    assert first.details["user_agent"] == "curl/8.5"
    assert first.details["locked_out"] is False
    assert failed.last().details["locked_out"] is True

    locked = AuditLog.objects.filter(action="auth.locked_out").order_by("id")
    assert locked.count() == 2  # the failure that reached the limit, then the refused attempt
    assert locked[0].details["username"] == user.username
    assert locked[0].details["ip_address"] == "198.51.100.9"
    assert locked[0].details["failures"] == 3
    assert locked[0].user_agent == "curl/8.5"

    everything = repr(list(AuditLog.objects.values_list("details", "user_agent")))
    assert WRONG not in everything
    assert PASSWORD not in everything


def test_failure_for_an_unknown_account_is_audited_without_a_resource():
    api_login("no-such-person", WRONG)
    entry = AuditLog.objects.get(action="auth.login_failed")
    assert entry.resource_id is None
    assert entry.details["username"] == "no-such-person"


def test_the_admin_login_page_is_locked_too():
    staff = UserFactory(role=Role.ADMIN, is_staff=True)
    for _ in range(2):
        assert admin_login(staff.username, WRONG).status_code == 200  # the form again, with an error
    response = admin_login(staff.username, WRONG)
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "900"
    assert b"Too many failed sign-in attempts" in response.content
    assert admin_login(staff.username, PASSWORD, ip="203.0.113.5").status_code == 429
    assert AuditLog.objects.filter(action="auth.locked_out", details__username=staff.username).exists()


def test_api_failures_lock_the_admin_login_and_the_other_way_round():
    staff = UserFactory(role=Role.ADMIN, is_staff=True)
    for n in range(3):
        api_login(staff.username, WRONG, ip=f"198.51.100.{n + 30}")
    assert admin_login(staff.username, PASSWORD, ip="203.0.113.6").status_code == 429

    other = UserFactory(role=Role.ADMIN, is_staff=True)
    for n in range(3):
        admin_login(other.username, WRONG, ip=f"198.51.100.{n + 40}")
    assert_locked(api_login(other.username, PASSWORD, ip="203.0.113.7"))


def test_the_lockout_ends_after_the_cool_off():
    from axes.models import AccessAttempt
    from django.utils import timezone

    user = UserFactory()
    for _ in range(3):
        api_login(user.username, WRONG)
    assert_locked(api_login(user.username, PASSWORD, ip="203.0.113.8"))
    AccessAttempt.objects.update(attempt_time=timezone.now() - timezone.timedelta(hours=1))
    assert api_login(user.username, PASSWORD, ip="203.0.113.8").status_code == 200
