from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiKey, ApiRateLimit, AuditLog, UserSession
from core.retention import policy_run
from tests.factories.accounts import ApiKeyFactory, AuditLogFactory, UserSessionFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _set(obj, **fields):
    """Write timestamps straight to the row (auto_now would overwrite them on save)."""
    type(obj).objects.filter(pk=obj.pk).update(**fields)
    return obj.pk


def _left(model, pks):
    return set(model.objects.filter(pk__in=pks).values_list("pk", flat=True))


def test_sessions_expired_or_revoked_go_live_ones_stay():
    expired = UserSessionFactory(expires_at=NOW - timedelta(minutes=1)).pk
    revoked = _set(
        UserSessionFactory(),
        is_active=False,
        revoked_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(hours=1),
    )
    live = UserSessionFactory(expires_at=NOW + timedelta(minutes=1)).pk
    just_revoked = _set(UserSessionFactory(), is_active=False, updated_at=NOW + timedelta(seconds=1))

    result = policy_run(name="accounts.sessions", now=NOW)

    assert result.rows == 2
    assert _left(UserSession, [expired, revoked, live, just_revoked]) == {live, just_revoked}


def test_sessions_grace_period_from_settings(settings):
    settings.RETENTION_SESSION_DAYS = 2
    old = UserSessionFactory(expires_at=NOW - timedelta(days=2, minutes=1)).pk
    recent = UserSessionFactory(expires_at=NOW - timedelta(days=1)).pk

    policy_run(name="accounts.sessions", now=NOW)

    assert _left(UserSession, [old, recent]) == {recent}


def _window(start, bucket):
    return ApiRateLimit.objects.create(bucket=bucket, endpoint="api", request_count=1, window_start=start).pk


def test_rate_limit_windows_older_than_a_day_go(settings):
    settings.RATE_LIMITS = {"api": "1000/h"}
    old = _window(NOW - timedelta(hours=25), "ip:a")
    inside = _window(NOW - timedelta(hours=23), "ip:b")

    assert policy_run(name="accounts.rate_limits", now=NOW).rows == 1
    assert _left(ApiRateLimit, [old, inside]) == {inside}


def test_rate_limit_windows_never_pruned_before_the_longest_window_ends(settings):
    settings.RATE_LIMITS = {"api": "1000/2d"}
    inside = _window(NOW - timedelta(hours=30), "ip:a")
    old = _window(NOW - timedelta(days=2, hours=1), "ip:b")

    policy_run(name="accounts.rate_limits", now=NOW)

    assert _left(ApiRateLimit, [old, inside]) == {inside}


def test_api_keys_expired_or_revoked_over_30_days_go():
    expired_long = ApiKeyFactory(is_active=False, expires_at=NOW - timedelta(days=31)).pk
    expired_recently = ApiKeyFactory(is_active=False, expires_at=NOW - timedelta(days=29)).pk
    revoked_long = _set(ApiKeyFactory(), is_active=False, updated_at=NOW - timedelta(days=31))
    revoked_recently = _set(ApiKeyFactory(), is_active=False, updated_at=NOW - timedelta(days=29))
    active = _set(ApiKeyFactory(expires_at=None), updated_at=NOW - timedelta(days=400))

    assert policy_run(name="accounts.api_keys", now=NOW).rows == 2
    assert _left(ApiKey, [expired_long, expired_recently, revoked_long, revoked_recently, active]) == {
        expired_recently,
        revoked_recently,
        active,
    }


def test_audit_logs_past_the_configured_age_go(settings):
    old = _set(AuditLogFactory(), created_at=NOW - timedelta(days=366))
    inside = _set(AuditLogFactory(), created_at=NOW - timedelta(days=364))
    assert policy_run(name="accounts.audit_logs", now=NOW).rows == 1
    assert _left(AuditLog, [old, inside]) == {inside}

    settings.RETENTION_AUDIT_DAYS = 10
    assert policy_run(name="accounts.audit_logs", now=NOW).rows == 1
    assert not AuditLog.objects.filter(pk=inside).exists()


def test_notifications_past_the_configured_age_go_with_their_deliveries(settings):
    from accounts.models import Notification, NotificationDelivery
    from accounts.services.notifications import notification_raise
    from tests.factories.accounts import UserFactory

    def raised(key, days):
        notification = notification_raise(user=owner, event="job_failed", key=key, title="A job failed")
        return _set(notification, created_at=NOW - timedelta(days=days))

    owner = UserFactory()
    old, inside = raised("old", 91), raised("inside", 89)
    assert NotificationDelivery.objects.count() == 2  # an email each, by default
    assert policy_run(name="accounts.notifications", now=NOW).rows == 1
    assert _left(Notification, [old, inside]) == {inside}
    assert list(NotificationDelivery.objects.values_list("notification_id", flat=True)) == [inside]

    settings.RETENTION_NOTIFICATION_DAYS = 10
    assert policy_run(name="accounts.notifications", now=NOW).rows == 1
    assert not Notification.objects.exists() and not NotificationDelivery.objects.exists()
