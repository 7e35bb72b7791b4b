"""Retention policies of the platforms app (run by `manage.py cleanup`, see core.retention)."""

from datetime import timedelta

from core.retention import RetentionPolicy
from platforms.models import OAuth2SignIn, OAuthSignIn


def _oauth2_sign_ins(*, now, age):
    # Used or not, an attempt is worthless once expired; a day's grace keeps recent ones to look at.
    return OAuth2SignIn.objects.filter(expires_at__lt=now - timedelta(days=age))


def _oauth_sign_ins(*, now, age):
    # Every attempt ends by its expiry (10 minutes after it began), used or not.
    return OAuthSignIn.objects.filter(expires_at__lt=now - timedelta(days=age))


POLICIES = [
    RetentionPolicy(
        name="platforms.oauth2_sign_ins",
        description="OAuth 2.0 sign-in attempts expired more than a day ago",
        rows=_oauth2_sign_ins,
        default=1,
    ),
    RetentionPolicy(
        name="platforms.oauth_sign_ins",
        description="fediverse sign-in attempts that ended more than RETENTION_OAUTH_SIGN_IN_DAYS ago",
        rows=_oauth_sign_ins,
        setting="RETENTION_OAUTH_SIGN_IN_DAYS",
        default=7,
    ),
]
