"""Database-backed rate limits: parsing, counting, the DRF throttle, its headers and the system check."""

import dataclasses
import re
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.urls import clear_url_caches, include, path
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.checks import check_rate_limits
from accounts.models import ApiRateLimit
from accounts.services import rate_limits
from accounts.services.api_keys import api_key_create
from accounts.services.rate_limits import (
    Rate,
    RateLimitHit,
    parse_rate,
    rate_for_scope,
    rate_limit_hit,
    rate_limit_windows_ended,
    rate_limits_prune,
    window_start_for,
)
from accounts.tasks import prune_rate_limit_windows
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


class ApiProbe(APIView):
    """A test-only view with the default scope ("api")."""

    api_scope = "captions"

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True}, status=201)


class AuthProbe(APIView):
    """A test-only anonymous sign-in-like view, limited per IP."""

    rate_limit_scope = "auth"
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"ok": True})


class UncountedProbe(ApiProbe):
    rate_limit_scope = None


class UnconfiguredProbe(ApiProbe):
    rate_limit_scope = "nonexistent"


urlpatterns = [
    path("probe/api/", ApiProbe.as_view()),
    path("probe/auth/", AuthProbe.as_view()),
    path("probe/uncounted/", UncountedProbe.as_view()),
    path("", include("config.urls")),
]
with_probe = pytest.mark.urls(__name__)

# A fixed instant 20 s into a minute, 1220 s into an hour.
T0 = datetime(2026, 3, 4, 5, 20, 20, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """Freeze the rate limiter's clock; move it with `clock.now = ...`."""
    holder = SimpleNamespace(now=T0)
    stub = SimpleNamespace(now=lambda: holder.now)
    monkeypatch.setattr("accounts.services.rate_limits.timezone", stub)
    monkeypatch.setattr("accounts.throttling.timezone", stub)
    return holder


@pytest.fixture
def limits(settings):
    settings.RATE_LIMITS = {"api": "3/m", "auth": "2/5m", "search": "50/5m", "admin": "500/h"}
    return settings.RATE_LIMITS


def client_for(user=None, **defaults) -> APIClient:
    client = APIClient(**defaults)
    if user is not None:
        client.force_authenticate(user)
    return client


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rate"),
    [
        ("10/5m", Rate(10, 300)),
        ("1000/h", Rate(1000, 3600)),
        ("1/s", Rate(1, 1)),
        ("50/30s", Rate(50, 30)),
        ("7/2d", Rate(7, 172800)),
        (" 5 / 1h ", Rate(5, 3600)),
    ],
)
def test_rates_parse(value, rate):
    assert parse_rate(value) == rate


@pytest.mark.parametrize(
    "value",
    ["", "10", "10/", "10/x", "/m", "ten/m", "10/5", "10/0m", "0/m", "-1/m", "10/m/m", "1.5/m", "10/min"],
)
def test_malformed_rates_are_refused(value):
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        parse_rate(value)


def test_a_scope_without_a_limit_is_a_configuration_error(limits):
    with pytest.raises(ImproperlyConfigured, match="nonexistent"):
        rate_for_scope("nonexistent")
    limits["api"] = "lots"
    with pytest.raises(ImproperlyConfigured, match="api"):
        rate_for_scope("api")


@pytest.mark.parametrize("value", [None, 10, b"10/m", ["10/m"], {"rate": "10/m"}])
def test_rates_that_are_not_text_are_refused_as_malformed(value):
    # A settings file may hold anything; the system check reports a ValueError (accounts.E002).
    with pytest.raises(ValueError, match="is not a rate like '10/5m' or '1000/h'"):
        parse_rate(value)


@pytest.mark.parametrize("value", ["0/m", "10/0m", "0/0s"])
def test_zero_requests_or_a_zero_window_name_the_rule(value):
    with pytest.raises(ValueError, match="must be at least 1"):
        parse_rate(value)


def test_parsed_rates_are_shared_and_cannot_be_changed():
    # parse_rate caches: one caller changing its Rate would change every caller's limit.
    rate = parse_rate("10/5m")
    assert parse_rate("10/5m") is rate
    with pytest.raises(dataclasses.FrozenInstanceError):
        rate.limit = 1_000_000


def test_a_scope_reads_its_configured_rate(limits):
    assert rate_for_scope("auth") == Rate(2, 300)
    assert rate_for_scope("admin") == Rate(500, 3600)


@pytest.mark.parametrize("configured", [None, {}])
def test_no_rate_limits_at_all_is_a_configuration_error(settings, configured):
    settings.RATE_LIMITS = configured
    with pytest.raises(
        ImproperlyConfigured, match=r"No rate limit for scope 'api': add it to settings\.RATE_LIMITS"
    ):
        rate_for_scope("api")


def test_a_missing_setting_is_a_configuration_error(settings):
    del settings.RATE_LIMITS
    with pytest.raises(ImproperlyConfigured, match="No rate limit for scope 'api'"):
        rate_for_scope("api")


def test_a_malformed_rate_names_its_scope_and_the_problem(limits):
    limits["search"] = "0/m"
    with pytest.raises(ImproperlyConfigured) as caught:
        rate_for_scope("search")
    assert str(caught.value) == (
        "RATE_LIMITS['search']: '0/m': the number of requests and the window must be at least 1."
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- counting ---------------------------------------------------------------------------------


def test_windows_are_aligned_to_the_epoch():
    assert window_start_for(T0, 60) == datetime(2026, 3, 4, 5, 20, tzinfo=UTC)
    assert window_start_for(T0, 300) == datetime(2026, 3, 4, 5, 20, tzinfo=UTC)
    assert window_start_for(T0, 3600) == datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
    assert window_start_for(T0, 86400) == datetime(2026, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (datetime(2026, 3, 4, 5, 25, tzinfo=UTC), datetime(2026, 3, 4, 5, 25, tzinfo=UTC)),
        (datetime(2026, 3, 4, 5, 24, 59, 999999, tzinfo=UTC), datetime(2026, 3, 4, 5, 20, tzinfo=UTC)),
        (datetime(2026, 3, 4, 5, 25, 0, 1, tzinfo=UTC), datetime(2026, 3, 4, 5, 25, tzinfo=UTC)),
    ],
)
def test_a_window_starts_on_its_first_second_and_holds_its_last(now, start):
    window = window_start_for(now, 300)
    assert window == start
    assert window.tzinfo is UTC


def test_a_hit_reports_the_end_of_its_window_and_what_is_left():
    hit = RateLimitHit(
        count=3, limit=3, window_start=datetime(2026, 3, 4, 5, 20, tzinfo=UTC), window_seconds=300
    )
    assert hit.window_end == datetime(2026, 3, 4, 5, 25, tzinfo=UTC)
    assert (hit.allowed, hit.remaining) == (True, 0)
    over = hit._replace(count=4)
    assert (over.allowed, over.remaining) == (False, 0)
    assert hit._replace(count=1).remaining == 2


def test_hits_count_up_in_one_row(limits):
    user = UserFactory()
    first = rate_limit_hit(bucket=f"user:{user.pk}", scope="api", user=user, now=T0)
    count, limit, window_start, window_seconds = rate_limit_hit(
        bucket=f"user:{user.pk}", scope="api", user=user, now=T0 + timedelta(seconds=30)
    )
    assert first.count == 1
    assert (count, limit, window_start, window_seconds) == (2, 3, datetime(2026, 3, 4, 5, 20, tzinfo=UTC), 60)
    row = ApiRateLimit.objects.get()
    assert (row.user, row.bucket, row.endpoint, row.request_count) == (user, f"user:{user.pk}", "api", 2)
    assert row.window_start == window_start


def test_counting_continues_past_the_limit(limits):
    hits = [rate_limit_hit(bucket="ip:10.0.0.1", scope="api", now=T0) for _ in range(5)]
    assert [hit.count for hit in hits] == [1, 2, 3, 4, 5]
    assert [hit.remaining for hit in hits] == [2, 1, 0, 0, 0]
    assert [hit.count <= hit.limit for hit in hits] == [True, True, True, False, False]
    assert ApiRateLimit.objects.get().user is None


def test_a_new_window_starts_a_new_count(limits):
    for _ in range(3):
        rate_limit_hit(bucket="ip:10.0.0.1", scope="api", now=T0)
    hit = rate_limit_hit(bucket="ip:10.0.0.1", scope="api", now=T0 + timedelta(seconds=40))
    assert hit.count == 1
    assert hit.window_start == datetime(2026, 3, 4, 5, 21, tzinfo=UTC)
    assert sorted(ApiRateLimit.objects.values_list("request_count", flat=True)) == [1, 3]


@pytest.mark.parametrize(
    ("vendor", "in_atomic_block", "skips_the_flush"),
    [
        ("postgresql", False, True),
        ("postgresql", True, False),
        ("sqlite", False, False),
        ("sqlite", True, False),
    ],
)
def test_only_postgresql_in_autocommit_commits_a_count_without_waiting(
    monkeypatch, vendor, in_atomic_block, skips_the_flush
):
    """The choice of statement, on any database (test_rate_limits_autocommit runs both for real)."""
    monkeypatch.setattr(
        rate_limits, "connection", SimpleNamespace(vendor=vendor, in_atomic_block=in_atomic_block)
    )
    statement = rate_limits._upsert_statement()
    assert ("set_config('synchronous_commit', 'off', true)" in statement) is skips_the_flush
    assert "ON CONFLICT (bucket, endpoint, window_start)" in statement
    assert "RETURNING request_count" in statement


def test_a_row_written_by_the_orm_is_counted_on(limits):
    """The raw upsert matches window_start values written through the ORM (same stored format)."""
    ApiRateLimit.objects.create(
        bucket="ip:10.0.0.9", endpoint="api", window_start=window_start_for(T0, 60), request_count=2
    )
    assert rate_limit_hit(bucket="ip:10.0.0.9", scope="api", now=T0).count == 3
    assert ApiRateLimit.objects.count() == 1


def test_scopes_and_buckets_count_apart(limits):
    rate_limit_hit(bucket="user:1", scope="api", now=T0)
    assert rate_limit_hit(bucket="user:1", scope="auth", now=T0).count == 1
    assert rate_limit_hit(bucket="user:2", scope="api", now=T0).count == 1
    assert rate_limit_hit(bucket="user:1", scope="api", now=T0).count == 2


def test_prune_deletes_only_ended_windows(limits):
    rate_limit_hit(bucket="ip:1", scope="api", now=T0 - timedelta(days=2))
    rate_limit_hit(bucket="ip:1", scope="admin", now=T0 - timedelta(minutes=10))  # this hour
    rate_limit_hit(bucket="ip:1", scope="api", now=T0)
    assert rate_limits_prune(now=T0) == 1
    assert set(ApiRateLimit.objects.values_list("endpoint", flat=True)) == {"api", "admin"}


def _window_at(start: datetime, bucket: str) -> int:
    return ApiRateLimit.objects.create(bucket=bucket, endpoint="api", window_start=start).pk


def test_a_window_is_ended_once_the_longest_window_has_passed_since_its_start(limits):
    # The longest configured window here is "admin", an hour: a window that began exactly an
    # hour ago may still be the current one of an hourly scope.
    exactly = _window_at(T0 - timedelta(hours=1), "ip:exactly")
    older = _window_at(T0 - timedelta(hours=1, microseconds=1), "ip:older")
    assert list(rate_limit_windows_ended(now=T0).values_list("pk", flat=True)) == [older]
    assert rate_limits_prune(now=T0) == 1
    assert list(ApiRateLimit.objects.values_list("pk", flat=True)) == [exactly]


def test_without_configured_limits_windows_end_after_a_day(settings):
    settings.RATE_LIMITS = {}
    kept = _window_at(T0 - timedelta(hours=24), "ip:kept")
    gone = _window_at(T0 - timedelta(hours=24, seconds=1), "ip:gone")
    assert list(rate_limit_windows_ended(now=T0).values_list("pk", flat=True)) == [gone]
    assert kept != gone


def test_a_minimum_age_longer_than_every_window_keeps_windows_longer(limits):
    kept = _window_at(T0 - timedelta(hours=3), "ip:kept")
    gone = _window_at(T0 - timedelta(hours=5), "ip:gone")
    ended = rate_limit_windows_ended(now=T0, min_age=timedelta(hours=4))
    assert list(ended.values_list("pk", flat=True)) == [gone]
    # A shorter minimum age does not shorten the longest window (an hour here).
    current = _window_at(T0 - timedelta(minutes=45), "ip:current")
    shorter = rate_limit_windows_ended(now=T0, min_age=timedelta(minutes=30))
    assert set(shorter.values_list("pk", flat=True)) == {kept, gone}
    assert current not in set(shorter.values_list("pk", flat=True))


def test_prune_without_a_time_uses_the_clock(limits, clock):
    _window_at(T0 - timedelta(hours=1, seconds=1), "ip:gone")
    kept = _window_at(T0 - timedelta(minutes=59), "ip:kept")
    assert rate_limits_prune() == 1
    assert list(ApiRateLimit.objects.values_list("pk", flat=True)) == [kept]


# --- the throttle -----------------------------------------------------------------------------


def window_end_epoch(start: datetime, seconds: int) -> str:
    return str(int((start + timedelta(seconds=seconds)).timestamp()))


@with_probe
def test_every_counted_response_carries_the_headers(limits, clock):
    client = client_for(UserFactory())
    reset = window_end_epoch(datetime(2026, 3, 4, 5, 20, tzinfo=UTC), 60)
    for remaining in (2, 1, 0):
        response = client.get("/probe/api/")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        assert response["X-RateLimit-Remaining"] == str(remaining)
        assert response["X-RateLimit-Reset"] == reset
        assert "Retry-After" not in response


@with_probe
def test_over_the_limit_is_a_429_with_retry_after(limits, clock):
    client = client_for(UserFactory())
    for _ in range(3):
        assert client.post("/probe/api/", {}, format="json").status_code == 201
    clock.now = T0 + timedelta(seconds=5)  # 25 s into the window: 35 s left
    response = client.post("/probe/api/", {}, format="json")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["fields"] == {}
    assert error["message"]
    assert response["Retry-After"] == "35"
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["X-RateLimit-Reset"] == window_end_epoch(datetime(2026, 3, 4, 5, 20, tzinfo=UTC), 60)
    # Refused requests are counted too.
    assert ApiRateLimit.objects.get().request_count == 4


@with_probe
def test_the_window_rolls_over(limits, clock):
    client = client_for(UserFactory())
    for _ in range(3):
        client.get("/probe/api/")
    assert client.get("/probe/api/").status_code == 429
    clock.now = T0 + timedelta(seconds=40)  # the next minute
    response = client.get("/probe/api/")
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "2"


@with_probe
def test_the_window_rolls_over_on_the_real_clock(limits):
    """Without a frozen clock: move the stored window into the past instead."""
    client = client_for(UserFactory())
    for _ in range(3):
        client.get("/probe/api/")
    assert client.get("/probe/api/").status_code == 429
    ApiRateLimit.objects.update(window_start=F("window_start") - timedelta(minutes=1))
    assert client.get("/probe/api/").status_code == 200
    assert ApiRateLimit.objects.count() == 2


@with_probe
def test_limits_come_from_settings(settings, clock):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": "1/h"}
    client = client_for(UserFactory())
    first = client.get("/probe/api/")
    assert first["X-RateLimit-Limit"] == "1"
    assert first["X-RateLimit-Reset"] == window_end_epoch(datetime(2026, 3, 4, 5, tzinfo=UTC), 3600)
    response = client.get("/probe/api/")
    assert response.status_code == 429
    assert response["Retry-After"] == str(3600 - 1220)


@with_probe
def test_users_are_counted_apart(limits, clock):
    alice, bob = UserFactory(), UserFactory()
    for _ in range(3):
        client_for(alice).get("/probe/api/")
    assert client_for(alice).get("/probe/api/").status_code == 429
    assert client_for(bob).get("/probe/api/").status_code == 200
    rows = {row.bucket: row for row in ApiRateLimit.objects.all()}
    assert rows[f"user:{alice.pk}"].request_count == 4
    assert rows[f"user:{alice.pk}"].user == alice
    assert rows[f"user:{bob.pk}"].request_count == 1


@with_probe
def test_an_api_key_is_counted_apart_from_its_user(limits, clock):
    user = UserFactory()
    key, api_key = api_key_create(user=user, key_name="k", permissions=["captions:read"], actor=user)
    for _ in range(3):
        client_for(user).get("/probe/api/")
    assert client_for(user).get("/probe/api/").status_code == 429

    by_key = APIClient()
    by_key.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = by_key.get("/probe/api/")
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "2"
    row = ApiRateLimit.objects.get(bucket=f"key:{api_key.pk}")
    assert (row.user, row.request_count) == (user, 1)


@with_probe
def test_anonymous_auth_endpoints_are_limited_per_ip(limits, clock):
    first_ip = APIClient(REMOTE_ADDR="192.0.2.1")
    for remaining in (1, 0):
        response = first_ip.post("/probe/auth/", {}, format="json")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "2"
        assert response["X-RateLimit-Remaining"] == str(remaining)
    refused = first_ip.post("/probe/auth/", {}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused["Retry-After"] == str(300 - 20)  # 5-minute windows: 20 s into this one

    assert APIClient(REMOTE_ADDR="192.0.2.2").post("/probe/auth/", {}, format="json").status_code == 200
    rows = {row.bucket: row for row in ApiRateLimit.objects.all()}
    assert rows["ip:192.0.2.1"].request_count == 3
    assert rows["ip:192.0.2.1"].endpoint == "auth"
    assert rows["ip:192.0.2.1"].user is None
    assert rows["ip:192.0.2.2"].request_count == 1


@with_probe
def test_proxy_headers_do_not_pick_the_bucket(limits, clock):
    client = APIClient(REMOTE_ADDR="192.0.2.1")
    for n in range(3):
        client.post("/probe/auth/", {}, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert list(ApiRateLimit.objects.values_list("bucket", "request_count")) == [("ip:192.0.2.1", 3)]


@with_probe
def test_requests_refused_before_the_throttle_are_not_counted(limits):
    assert APIClient().get("/probe/api/").status_code == 401
    assert not ApiRateLimit.objects.exists()


@with_probe
def test_a_view_may_opt_out(limits):
    response = client_for(UserFactory()).get("/probe/uncounted/")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response
    assert not ApiRateLimit.objects.exists()


def test_the_schema_is_not_counted():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response
    assert not ApiRateLimit.objects.exists()


def test_real_endpoints_carry_the_headers(settings):
    response = client_for(UserFactory()).get("/api/v1/api-keys/")
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == str(parse_rate(settings.RATE_LIMITS["api"]).limit)


# --- the system check -------------------------------------------------------------------------


def check_ids() -> list[str]:
    return [error.id for error in check_rate_limits()]


def test_the_check_passes_on_the_shipped_settings():
    assert check_rate_limits() == []


def test_the_check_reports_a_rate_given_as_a_list_instead_of_crashing(limits):
    limits["search"] = ["50/5m"]
    assert check_ids() == ["accounts.E002"]


def test_the_check_rejects_a_malformed_rate(limits):
    limits["search"] = "50 per minute"
    errors = check_rate_limits()
    assert [error.id for error in errors] == ["accounts.E002"]
    assert "search" in errors[0].msg


def test_the_check_wants_a_dict(settings):
    settings.RATE_LIMITS = "1000/h"
    assert check_ids() == ["accounts.E001"]


def test_the_check_wants_the_default_scope(settings):
    settings.RATE_LIMITS = {"auth": "10/5m"}
    assert check_ids() == ["accounts.E003"]


@with_probe
def test_the_check_wants_every_views_scope(limits, monkeypatch):
    module = sys.modules[__name__]
    monkeypatch.setattr(
        module, "urlpatterns", [*urlpatterns, path("probe/unconfigured/", UnconfiguredProbe.as_view())]
    )
    clear_url_caches()
    try:
        errors = check_rate_limits()
    finally:
        monkeypatch.undo()
        clear_url_caches()
    assert [error.id for error in errors] == ["accounts.E003"]
    assert "nonexistent" in errors[0].msg


@pytest.mark.django_db
def test_the_hourly_schedule_prunes_ended_windows():
    now = timezone.now()
    ApiRateLimit.objects.create(bucket="ip:1", endpoint="api", window_start=now - timedelta(days=2))
    current = ApiRateLimit.objects.create(bucket="ip:1", endpoint="api", window_start=now)
    assert prune_rate_limit_windows() == 1
    assert list(ApiRateLimit.objects.values_list("pk", flat=True)) == [current.pk]
