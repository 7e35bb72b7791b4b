"""DRF authentication: `Authorization: Bearer <session token>` and `Authorization: Api-Key <key>`.

An unknown, expired or revoked credential is a 401, never an anonymous request.

Every API request looks its credential up, with its user, by one exact hash. That lookup is one
plain SQL statement written once per model (`_with_user`) rather than an ORM query: compiling a
two-model `select_related` query on every request cost more than running it (docs/performance.md).
"""

from datetime import timedelta
from functools import cache

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiKey, SessionKind, User, UserSession
from accounts.request_meta import request_meta
from accounts.services.sessions import session_fingerprint_check
from accounts.time_zones import time_zone_activate_for
from accounts.tokens import hash_secret
from core.sql import columns_of, instance_from_row, names

ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)


@cache
def _select_with_user(model: type[Model], where: tuple[str, ...]) -> str:
    """SELECT every column of `model` and of its `user`, joined, filtered on `where` (columns)."""
    own, users = names(model), names(User)
    conditions = " AND ".join(f"{own.of(column)} = %s" for column in where)
    # Names from the models' metadata, never from input; the values are parameters.
    select = f"SELECT {columns_of(model)}, {columns_of(User)} FROM {own.table} "  # noqa: S608
    return select + f"INNER JOIN {users.table} ON {own.of('user')} = {users.of('id')} WHERE {conditions}"


def _with_user(model: type[Model], **where: str):
    """The one `model` row whose fields equal `where`, with its user loaded, or None."""
    with connection.cursor() as cursor:
        cursor.execute(_select_with_user(model, tuple(where)), list(where.values()))
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(model._meta.concrete_fields)
    instance = instance_from_row(model, row[:split])
    instance.user = instance_from_row(User, row[split:])
    return instance


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
        session = _with_user(UserSession, token_hash=hash_secret(token), kind=SessionKind.API.value)
        if (
            session is None
            or not session.is_active
            or session.expires_at <= now
            or not session.user.is_active
        ):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not session_fingerprint_check(session=session, meta=request_meta(request), request=request):
            raise exceptions.AuthenticationFailed(
                "This token was revoked: it was used from another client or network. Sign in again."
            )
        # Written at most once a minute, by a conditional update: no write per request.
        if session.last_activity < now - ACTIVITY_WRITE_INTERVAL:
            UserSession.objects.filter(pk=session.pk, last_activity__lt=now - ACTIVITY_WRITE_INTERVAL).update(
                last_activity=now, updated_at=now
            )
        time_zone_activate_for(session.user)  # DRF authenticates after the middleware ran
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
        api_key = _with_user(ApiKey, key_hash=hash_secret(key))
        if (
            api_key is None
            or not api_key.is_active
            or (api_key.expires_at is not None and api_key.expires_at <= now)
            or not api_key.user.is_active
        ):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        if api_key.last_used_at is None or api_key.last_used_at < now - ACTIVITY_WRITE_INTERVAL:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        time_zone_activate_for(api_key.user)  # DRF authenticates after the middleware ran
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword
