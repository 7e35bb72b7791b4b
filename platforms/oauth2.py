"""X and LinkedIn connections by OAuth 2.0: the authorisation code flow with PKCE, and refreshing.

    url = oauth2_start(user=..., platform_type="x", redirect_uri=...)     # send the browser there
    connection = oauth2_finish(user=..., state=..., code=...)             # the callback
    connection_token_refresh(connection=...)                              # before the token expires

The operator's app credentials come from settings (X_CLIENT_ID/SECRET, LINKEDIN_CLIENT_ID/SECRET),
as do the endpoints (so tests point them at local fakes):
- X (docs.x.com, "OAuth 2.0 Authorization Code Flow with PKCE"): authorize at
  X_OAUTH_AUTHORIZE_URL with response_type=code, client_id, redirect_uri, scope, state,
  code_challenge (S256); tokens from POST X_OAUTH_TOKEN_URL, form-encoded, with HTTP Basic auth of
  the client id and secret (a confidential client); access tokens live two hours; `offline.access`
  gives a refresh token, and each refresh answers a new one (the old one stops working).
- LinkedIn (Microsoft Learn, "Authorization Code Flow", "Programmatic Refresh Tokens"): authorize
  at LINKEDIN_OAUTH_AUTHORIZE_URL; POST LINKEDIN_OAUTH_TOKEN_URL with client_id and client_secret
  in the form; access tokens live 60 days; refresh tokens (approved apps only) a year, and the
  same refresh token keeps working until then. The PKCE parameters are sent too (LinkedIn ignores
  what it does not use; the verifier still binds the code to this attempt on our side).

An attempt (`OAuth2SignIn`) keeps the state as a SHA-256 hash and the verifier encrypted; it is used
once (a conditional update) and expires after OAUTH2_SIGN_IN_MINUTES. The state is the callback's
CSRF token: it must belong to the signed-in person.

Refreshing holds the connection's row lock across the one token request: with rotating refresh
tokens, two workers refreshing at once would otherwise spend the same refresh token twice and the
second would read as revoked. A refresh the network refuses as `invalid_grant` (X also answers
`invalid_request` "Value passed for the token was invalid") marks the connection `revoked` and
tells its owner (platforms.health). Nothing here logs or returns a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from core.locking import row_lock
from core.outbound import host_of, platform_throttle
from core.urlguard import OutboundRefused, guarded_client
from platforms.health import ConnectionBroken, connection_health_set
from platforms.kinds import common
from platforms.kinds.pkce import new_state, new_verifier, pkce_challenge, state_hash
from platforms.models import ConnectionHealth, OAuth2SignIn, PlatformConnection

logger = logging.getLogger(__name__)

OAUTH2_SIGN_IN_MINUTES = 10
USER_AGENT = "socialdesk/1"


@dataclass(frozen=True)
class Provider:
    platform_type: str
    label: str
    authorize_setting: str
    token_setting: str
    api_setting: str
    client_id_setting: str
    client_secret_setting: str
    scopes: tuple[str, ...]
    #: The client authenticates to the token endpoint with HTTP Basic (X) or in the form (LinkedIn).
    basic_auth: bool

    @property
    def client_id(self) -> str:
        return getattr(settings, self.client_id_setting, "") or ""

    @property
    def client_secret(self) -> str:
        return getattr(settings, self.client_secret_setting, "") or ""

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


PROVIDERS = {
    "x": Provider(
        platform_type="x",
        label="X",
        authorize_setting="X_OAUTH_AUTHORIZE_URL",
        token_setting="X_OAUTH_TOKEN_URL",  # noqa: S106 -- a setting\'s name
        api_setting="X_API_URL",
        client_id_setting="X_CLIENT_ID",
        client_secret_setting="X_CLIENT_SECRET",  # noqa: S106 -- a setting\'s name
        scopes=("tweet.read", "tweet.write", "users.read", "offline.access", "media.write"),
        basic_auth=True,
    ),
    "linkedin": Provider(
        platform_type="linkedin",
        label="LinkedIn",
        authorize_setting="LINKEDIN_OAUTH_AUTHORIZE_URL",
        token_setting="LINKEDIN_OAUTH_TOKEN_URL",  # noqa: S106 -- a setting\'s name
        api_setting="LINKEDIN_API_URL",
        client_id_setting="LINKEDIN_CLIENT_ID",
        client_secret_setting="LINKEDIN_CLIENT_SECRET",  # noqa: S106 -- a setting\'s name
        scopes=("openid", "profile", "w_member_social"),
        basic_auth=False,
    ),
}

#: OAuth error codes on a refresh that say the grant itself is gone (RFC 6749 §5.2), and X's way.
REVOKED_ERRORS = frozenset({"invalid_grant"})


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: int | None

    def __repr__(self) -> str:  # never the tokens
        return f"<Tokens expires_in={self.expires_in}>"


class OAuth2Refused(common.PlatformAuthError):
    """The token endpoint refused: `error` is the OAuth error code."""


def _provider(platform_type: str) -> Provider:
    provider = PROVIDERS.get(platform_type)
    if provider is None:
        raise ValidationError({"platform_type": "OAuth 2.0 sign-in is available for X and LinkedIn."})
    if not provider.configured:
        raise ValidationError(
            {
                "platform_type": f"{provider.label} sign-in is not set up on this server (the operator "
                f"sets {provider.client_id_setting} and {provider.client_secret_setting}); paste an "
                f"access token instead."
            }
        )
    return provider


def oauth2_providers() -> list[Provider]:
    """The networks people can connect by signing in on this server."""
    return [provider for provider in PROVIDERS.values() if provider.configured]


def oauth2_start(
    *,
    user: User,
    platform_type: str,
    redirect_uri: str,
    connection: PlatformConnection | None = None,
) -> str:
    """Record an attempt and return the network's authorize URL to send the browser to. With
    `connection` (the owner's), signing in replaces that connection's tokens."""
    provider = _provider(platform_type)
    if connection is not None and (
        connection.user_id != user.pk or connection.platform_type != platform_type
    ):
        raise ValidationError({"connection": "Reconnect one of your own connections of this network."})
    state = new_state()
    verifier = new_verifier()
    OAuth2SignIn.objects.create(
        user=user,
        platform_type=platform_type,
        state_hash=state_hash(state),
        code_verifier=verifier,
        redirect_uri=redirect_uri,
        connection=connection,
        expires_at=timezone.now() + timedelta(minutes=OAUTH2_SIGN_IN_MINUTES),
    )
    query = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes),
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{getattr(settings, provider.authorize_setting)}?{urlencode(query)}"


def _claim_sign_in(*, user: User, state: str) -> OAuth2SignIn:
    """The attempt this state names, used up now; ValidationError when it is unknown, someone
    else's, used or expired."""
    now = timezone.now()
    sign_in = OAuth2SignIn.objects.filter(state_hash=state_hash(state or ""), user=user).first()
    if sign_in is None:
        raise ValidationError({"state": "This sign-in link is unknown; start connecting again."})
    claimed = OAuth2SignIn.objects.filter(pk=sign_in.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if not claimed:
        raise ValidationError({"state": "This sign-in link was used or has expired; start connecting again."})
    return sign_in


def oauth2_finish(
    *,
    user: User,
    state: str,
    code: str | None,
    error: str | None = None,
    meta: RequestMeta | None = None,
    timeout: float | None = None,
) -> PlatformConnection:
    """The callback: exchange the code for tokens, learn the account, and store the connection
    (a new one, or the one being reconnected, whose health then returns to ok and whose waiting
    work resumes). Bad or refused input is a ValidationError and stores nothing."""
    sign_in = _claim_sign_in(user=user, state=state)
    provider = _provider(sign_in.platform_type)
    if error or not code:
        raise ValidationError(
            {"code": f"{provider.label} did not authorise the connection ({error or 'no code'})."}
        )
    timeout = common.DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        tokens = _token_request(
            provider,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": sign_in.redirect_uri,
                "code_verifier": sign_in.code_verifier,
            },
            timeout=timeout,
        )
    except common.PlatformError as exc:
        logger.info("OAuth 2.0 code exchange with %s failed: %s", provider.label, exc)
        raise ValidationError({"code": f"{provider.label} refused the sign-in: {exc}"}) from None
    instance_url = getattr(settings, provider.api_setting).rstrip("/")
    probe = PlatformConnection(
        user=user,
        name="probe",
        platform_type=provider.platform_type,
        instance_url=instance_url,
        access_token=tokens.access_token,
    )
    try:
        account, learned = probe.kind.verify(probe, timeout=timeout)
    except common.PlatformError as exc:
        raise ValidationError({"code": f"{provider.label} gave a token that does not work: {exc}"}) from None
    session = common.Session(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=_expiry(tokens),
        extra=learned,
    )
    return _store(
        sign_in=sign_in,
        provider=provider,
        instance_url=instance_url,
        account=account,
        session=session,
        meta=meta,
    )


def _store(*, sign_in, provider, instance_url, account, session, meta) -> PlatformConnection:
    from platforms.services import connection_create, connection_session_store

    user = sign_in.user
    connection = sign_in.connection
    if connection is not None and connection.username and connection.username != account.username:
        raise ValidationError(
            {
                "code": f"You signed in to {provider.label} as @{account.username}, but “{connection.name}” "
                f"is @{connection.username}; sign in with that account to reconnect it."
            }
        )
    if connection is None:
        connection = PlatformConnection.objects.filter(
            user=user,
            platform_type=provider.platform_type,
            instance_url=instance_url,
            username=account.username,
        ).first()
    if connection is None:
        with transaction.atomic():
            connection = connection_create(
                user=user,
                name=_free_name(user, f"{provider.label} @{account.username}"),
                platform_type=provider.platform_type,
                instance_url=instance_url,
                access_token=session.access_token,
                username=account.username,
                extra=dict(session.extra),
                actor=user,
                meta=meta,
            )
            connection_session_store(connection=connection, session=session)
    else:
        connection_session_store(connection=connection, session=session)
        audit_log_write(
            action="connection.reconnected",
            actor=user,
            target=connection,
            details={"by": "oauth2"},
            meta=meta,
        )
    connection_health_set(connection=connection, health=ConnectionHealth.OK)
    connection.refresh_from_db()
    return connection


def _free_name(user: User, wanted: str) -> str:
    names = set(PlatformConnection.objects.filter(user=user).values_list("name", flat=True))
    name, n = wanted[:100], 2
    while name in names:
        name = f"{wanted[:95]} ({n})"
        n += 1
    return name


def _expiry(tokens: Tokens):
    return timezone.now() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None


# Refreshing ------------------------------------------------------------------------------------


def connection_token_due(*, connection: PlatformConnection) -> bool:
    """An OAuth 2.0 connection (X, LinkedIn) with a refresh token whose access token expires within
    OAUTH2_REFRESH_MARGIN seconds."""
    if connection.platform_type not in PROVIDERS or not connection.refresh_token:
        return False
    expires = connection.token_expires_at
    margin = timedelta(seconds=int(settings.OAUTH2_REFRESH_MARGIN))
    return expires is not None and expires - margin <= timezone.now()


def connection_can_refresh(*, connection: PlatformConnection) -> bool:
    """An X or LinkedIn connection holding a refresh token."""
    return connection.platform_type in PROVIDERS and bool(connection.refresh_token)


def connection_token_refresh(
    *, connection: PlatformConnection, timeout: float | None = None, refused_token: bool = False
) -> PlatformConnection:
    """Exchange the refresh token for a new access token (and, on X, a new refresh token), stored
    encrypted with the new expiry; the caller's instance gets them too. `refused_token`: the
    network just answered 401 to the access token the caller holds, so refresh whatever its
    expiry says. Raises ConnectionBroken (after marking the connection `revoked` and telling its
    owner) when the network refuses the grant, PlatformUnavailableError when it cannot be asked."""
    provider = _provider(connection.platform_type)
    timeout = common.DEFAULT_TIMEOUT if timeout is None else timeout
    refused: OAuth2Refused | None = None
    with transaction.atomic():
        locked = row_lock(row=connection)
        if refused_token:
            renewed_meanwhile = locked.access_token != connection.access_token
        else:
            renewed_meanwhile = not connection_token_due(connection=locked)
        if renewed_meanwhile or not locked.refresh_token:  # another worker refreshed meanwhile
            _copy_tokens(locked, connection)
            return connection
        try:
            tokens = _token_request(
                provider,
                {"grant_type": "refresh_token", "refresh_token": locked.refresh_token},
                timeout=timeout,
            )
        except OAuth2Refused as exc:
            refused = exc
        else:
            locked.access_token = tokens.access_token
            if tokens.refresh_token:  # X rotates; LinkedIn answers the same one (or none)
                locked.refresh_token = tokens.refresh_token
            locked.token_expires_at = _expiry(tokens)
            locked.save(update_fields=["access_token", "refresh_token", "token_expires_at", "updated_at"])
            audit_log_write(
                action="connection.token_refreshed",
                actor=None,
                target=locked,
                details={
                    "expires_at": locked.token_expires_at.isoformat() if locked.token_expires_at else None
                },
            )
    if refused is not None:
        health = (
            ConnectionHealth.REVOKED if refused.oauth_error in REVOKED_ERRORS else ConnectionHealth.EXPIRED
        )
        reason = f"{provider.label} refused to renew the access token ({refused.oauth_error}): sign in again."
        connection_health_set(connection=connection, health=health, reason=reason)
        raise ConnectionBroken(reason, health=health, status=refused.status)
    _copy_tokens(locked, connection)
    return connection


def _copy_tokens(source: PlatformConnection, target: PlatformConnection) -> None:
    target.access_token = source.access_token
    target.refresh_token = source.refresh_token
    target.token_expires_at = source.token_expires_at


# The token endpoint ----------------------------------------------------------------------------


def _token_request(provider: Provider, form: dict[str, Any], *, timeout: float) -> Tokens:
    """One POST to the token endpoint (not retried: a code is single-use, and a rotated refresh
    token whose answer was lost is spent either way)."""
    url = getattr(settings, provider.token_setting)
    host = host_of(url)
    data = dict(form)
    auth = None
    if provider.basic_auth:
        auth = (provider.client_id, provider.client_secret)
        data["client_id"] = provider.client_id
    else:
        data["client_id"] = provider.client_id
        data["client_secret"] = provider.client_secret
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}

    def send() -> httpx.Response:
        with guarded_client(timeout=timeout, auth=auth, headers=headers) as client:
            return client.post(url, data=data)

    try:
        response = platform_throttle().call(url, send, retry_after_of=lambda exc: None)
    except OutboundRefused as exc:
        raise common.platform_error(
            common.PlatformError, str(exc), reason="refused", retryable=False
        ) from None
    except httpx.TimeoutException:
        raise common.platform_error(
            common.PlatformUnavailableError,
            f"{host} did not answer the token request within {timeout:g} s.",
            reason="timeout",
        ) from None
    except httpx.TransportError:
        raise common.platform_error(
            common.PlatformUnavailableError,
            f"{host} could not be reached for the token request.",
            reason="network",
        ) from None
    body = _json_or_none(response)
    if response.status_code >= 500 or response.status_code == 429:
        raise common.platform_error(
            common.PlatformUnavailableError,
            f"{host} could not answer the token request (HTTP {response.status_code}).",
            status=response.status_code,
        )
    if not response.is_success:
        error = str(body.get("error") or "") if isinstance(body, dict) else ""
        description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        if (
            provider.platform_type == "x"
            and error == "invalid_request"
            and "token was invalid" in description
        ):
            error = "invalid_grant"  # X's answer for a used, revoked or unknown refresh token
        secrets_sent = [str(value) for key, value in data.items() if key != "grant_type"]
        said = common.server_reason(response, secrets=secrets_sent) or error if (error or description) else ""
        exc = OAuth2Refused(
            f"{host} refused the token request (HTTP {response.status_code}{': ' + said if said else ''}).",
            status=response.status_code,
        )
        exc.oauth_error = error or "refused"
        exc.retry_reason = "revoked" if exc.oauth_error in REVOKED_ERRORS else "rejected"
        raise exc
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        raise common.platform_error(
            common.PlatformUnavailableError, f"{host} answered the token request without an access token."
        )
    expires_in = body.get("expires_in")
    refresh = body.get("refresh_token")
    return Tokens(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=int(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else None,
    )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
