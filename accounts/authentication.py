"""DRF authentication: `Authorization: Bearer <session token>` and `Authorization: Api-Key <key>`.

An unknown, expired or revoked credential is a 401, never an anonymous request.
"""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiKey, SessionKind, UserSession
from accounts.tokens import hash_secret
from core.compiled_lookup import CompiledLookup

ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)

# On every API request: compiled once (core.compiled_lookup), each a unique hash.
_api_session = CompiledLookup(
    lambda token_hash: (
        UserSession.objects.select_related("user")
        .filter(token_hash=token_hash, kind=SessionKind.API)
        .order_by()
    )
)
_api_key = CompiledLookup(
    lambda key_hash: ApiKey.objects.select_related("user").filter(key_hash=key_hash).order_by()
)


def _credential(request, keyword: str) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    parts = header.split()
    if not parts or parts[0].lower() != keyword.lower():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            f"Malformed Authorization header: use '{keyword} <credential>'."
        )
    return parts[1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        token = _credential(request, self.keyword)
        if token is None:
            return None
        now = timezone.now()
        session = _api_session.first(hash_secret(token))
        if (
            session is None
            or not session.is_active
            or session.expires_at <= now
            or not session.user.is_active
        ):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        # Written at most once a minute, by a conditional update: no write per request.
        if session.last_activity < now - ACTIVITY_WRITE_INTERVAL:
            UserSession.objects.filter(pk=session.pk, last_activity__lt=now - ACTIVITY_WRITE_INTERVAL).update(
                last_activity=now, updated_at=now
            )
        return session.user, session

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        key = _credential(request, self.keyword)
        if key is None:
            return None
        now = timezone.now()
        api_key = _api_key.first(hash_secret(key))
        if (
            api_key is None
            or not api_key.is_active
            or (api_key.expires_at is not None and api_key.expires_at <= now)
            or not api_key.user.is_active
        ):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        if api_key.last_used_at is None or api_key.last_used_at < now - ACTIVITY_WRITE_INTERVAL:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword
