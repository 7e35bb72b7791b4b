"""Retention policies of the platforms app (run by `manage.py cleanup`, see core.retention)."""

from datetime import timedelta

from core.retention import RetentionPolicy
from platforms.models import OAuthSignIn


def _oauth_sign_ins(*, now, age):
    # Every attempt ends by its expiry (10 minutes after it began), used or not.
    return OAuthSignIn.objects.filter(expires_at__lt=now - timedelta(days=age))


POLICIES = [
    RetentionPolicy(
        name="platforms.oauth_sign_ins",
        description="fediverse sign-in attempts that ended more than RETENTION_OAUTH_SIGN_IN_DAYS ago",
        rows=_oauth_sign_ins,
        setting="RETENTION_OAUTH_SIGN_IN_DAYS",
        default=7,
    ),
]
