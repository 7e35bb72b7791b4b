"""Retention policies of the accounts app (run by `manage.py cleanup`, see core.retention)."""

from datetime import timedelta

from django.db.models import Q

from accounts.models import ApiKey, AuditLog, Notification, UserSession
from accounts.services.rate_limits import rate_limit_windows_ended
from core.retention import RetentionPolicy


def _sessions(*, now, age):
    # Expired, or revoked (inactive) for longer than the grace period; revoking sets updated_at.
    cutoff = now - timedelta(days=age)
    return UserSession.objects.filter(Q(expires_at__lt=cutoff) | Q(is_active=False, updated_at__lt=cutoff))


def _rate_limits(*, now, age):
    return rate_limit_windows_ended(now=now, min_age=timedelta(hours=age))


def _api_keys(*, now, age):
    # An expired key stopped working at expiry, active flag or not; a revoked one when revoked.
    cutoff = now - timedelta(days=age)
    return ApiKey.objects.filter(Q(expires_at__lt=cutoff) | Q(is_active=False, updated_at__lt=cutoff))


def _notifications(*, now, age):
    # Read or not: a notification is news; its deliveries go with it (CASCADE).
    return Notification.objects.filter(created_at__lt=now - timedelta(days=age))


def _audit_logs(*, now, age):
    return AuditLog.objects.filter(created_at__lt=now - timedelta(days=age))


POLICIES = [
    RetentionPolicy(
        name="accounts.sessions",
        description="sessions expired or revoked more than RETENTION_SESSION_DAYS ago",
        rows=_sessions,
        setting="RETENTION_SESSION_DAYS",
        default=0,
    ),
    RetentionPolicy(
        name="accounts.rate_limits",
        description="rate-limit windows older than RETENTION_RATE_LIMIT_HOURS (and every window)",
        rows=_rate_limits,
        setting="RETENTION_RATE_LIMIT_HOURS",
        default=24,
    ),
    RetentionPolicy(
        name="accounts.api_keys",
        description="API keys expired or revoked more than RETENTION_API_KEY_DAYS ago",
        rows=_api_keys,
        setting="RETENTION_API_KEY_DAYS",
        default=30,
    ),
    RetentionPolicy(
        name="accounts.audit_logs",
        description="audit log rows older than RETENTION_AUDIT_DAYS",
        rows=_audit_logs,
        setting="RETENTION_AUDIT_DAYS",
        default=365,
    ),
    RetentionPolicy(
        name="accounts.notifications",
        description="notifications (and their deliveries) older than RETENTION_NOTIFICATION_DAYS",
        rows=_notifications,
        setting="RETENTION_NOTIFICATION_DAYS",
        default=90,
    ),
]
