"""Signing in with one's fediverse account (Mastodon, Pixelfed, Pleroma/Akkoma, GoToSocial):
OAuth 2's authorization code flow, and disconnecting (the token revoked at the instance).

1. `oauth_sign_in_start`: the instance's address is checked as a connection's is; the project's
   application is registered there once (POST /api/v1/apps) and reused by everyone who signs in on
   that instance; PKCE (S256) is used when the instance announces it; an `OAuthSignIn` row keeps
   the attempt (the state's SHA-256 only, the verifier encrypted) for ten minutes. Returns the
   instance's authorize URL.
2. The instance sends the person back to the callback (`platforms.views`), which calls
   `oauth_sign_in_finish`: the state must be this person's, unexpired and unused, and is claimed by
   one conditional update, so a replayed callback finds nothing to claim. The code is exchanged
   for a token, the token's account is asked (verify_credentials, and the instance's limits), and
   the person's connection for that account is created or renewed.
3. `connection_disconnect`: the connection is deleted and its token revoked at the instance
   (POST /oauth/revoke); a revocation that fails is reported, the local token is gone anyway.

A refusal changes nothing: no application, attempt or connection is stored for an instance that
cannot be reached or refuses. Every step writes an audit row; none names a secret.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from platforms.errors import PlatformUnavailable, SignInRefused
from platforms.kinds import common
from platforms.kinds.mastodon import oauth as wire
from platforms.kinds.pkce import new_state, new_verifier, pkce_challenge, state_hash
from platforms.kinds.registry import kind_of, kinds
from platforms.models import OAuthApplication, OAuthSignIn, PlatformConnection
from platforms.selectors import connection_name_taken
from platforms.services import connection_create, connection_delete, connection_update, instance_url_clean

logger = logging.getLogger(__name__)

SIGN_IN_LIFETIME = timedelta(minutes=10)
CLIENT_NAME = "socialdesk"
CALLBACK_URL_NAME = "platforms-oauth-callback"


@dataclass(frozen=True)
class Disconnected:
    """What `connection_disconnect` did: the connection is gone; `revoked` says whether the
    instance confirmed the token's revocation, `problem` why not."""

    revoked: bool
    problem: str | None = None


def oauth_platform_types() -> list[tuple[str, str]]:
    """(type, label) of the kinds one signs in to with OAuth."""
    return [(kind.type, kind.label) for kind in kinds() if kind.oauth_scopes]


def oauth_redirect_uri() -> str:
    """The callback's absolute URL, on PUBLIC_BASE_URL: the redirect URI registered at instances."""
    return settings.PUBLIC_BASE_URL + reverse(CALLBACK_URL_NAME)


def oauth_sign_in_start(
    *,
    user: User,
    platform_type: str,
    instance_url: str,
    meta: RequestMeta | None = None,
    timeout: float | None = None,
) -> str:
    """Begin a sign-in at `instance_url`; returns the URL of the instance's consent page.

    Raises ValidationError (a kind without OAuth sign-in, an address the project does not connect
    to), SignInRefused (the instance refused to register the application) or PlatformUnavailable
    (it could not be reached)."""
    types = dict(oauth_platform_types())
    if platform_type not in types:
        raise ValidationError(
            {
                "platform_type": f"Signing in is available for {', '.join(types.values())}; "
                f"choose one of {', '.join(types)}."
            }
        )
    instance_url = instance_url_clean(instance_url)
    kind = kind_of(platform_type)
    timeout = common.DEFAULT_TIMEOUT if timeout is None else timeout
    redirect_uri = oauth_redirect_uri()
    try:
        application = _application_for(
            user=user,
            platform_type=platform_type,
            instance_url=instance_url,
            redirect_uri=redirect_uri,
            scopes=kind.oauth_scopes,
            meta=meta,
            timeout=timeout,
        )
        pkce = wire.announces_pkce(instance_url=instance_url, timeout=timeout)
    except common.PlatformError as exc:
        _audit_failure(user=user, meta=meta, stage="register", instance_url=instance_url, exc=exc)
        raise _domain_error(exc, doing="Registering this project on the instance") from None
    state = new_state()
    verifier = new_verifier() if pkce else ""
    now = timezone.now()
    sign_in = OAuthSignIn.objects.create(
        user=user,
        platform_type=platform_type,
        instance_url=instance_url,
        application=application,
        state_hash=state_hash(state),
        code_verifier=verifier,
        created_at=now,
        expires_at=now + SIGN_IN_LIFETIME,
    )
    audit_log_write(
        action="connection.oauth_started",
        actor=user,
        target=sign_in,
        details={"instance_url": instance_url, "platform_type": platform_type, "pkce": pkce},
        meta=meta,
    )
    return wire.authorize_url(
        instance_url=instance_url,
        client_id=application.client_id,
        redirect_uri=application.redirect_uri,
        scopes=application.scopes,
        state=state,
        code_challenge=pkce_challenge(verifier) if verifier else None,
    )


def _application_for(
    *,
    user: User,
    platform_type: str,
    instance_url: str,
    redirect_uri: str,
    scopes: str,
    meta: RequestMeta | None,
    timeout: float,
) -> OAuthApplication:
    """The project's application on the instance: the stored one, else registered now."""
    lookup = {"instance_url": instance_url, "redirect_uri": redirect_uri, "scopes": scopes}
    existing = OAuthApplication.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    registered = wire.register_application(
        instance_url=instance_url,
        client_name=CLIENT_NAME,
        redirect_uri=redirect_uri,
        scopes=scopes,
        website=settings.PUBLIC_BASE_URL,
        timeout=timeout,
    )
    try:
        with transaction.atomic():
            application = OAuthApplication.objects.create(
                platform_type=platform_type,
                client_id=registered.client_id,
                client_secret=registered.client_secret,
                **lookup,
            )
            audit_log_write(
                action="connection.oauth_app_registered",
                actor=user,
                target=application,
                details={"instance_url": instance_url, "scopes": scopes, "redirect_uri": redirect_uri},
                meta=meta,
            )
    except IntegrityError:
        # Someone else's sign-in registered it meanwhile: theirs is kept, this one left unused.
        return OAuthApplication.objects.get(**lookup)
    return application


def oauth_sign_in_finish(
    *,
    user: User,
    state: str,
    code: str | None = None,
    error: str | None = None,
    meta: RequestMeta | None = None,
    timeout: float | None = None,
) -> PlatformConnection:
    """Finish a sign-in at the callback: the person's connection for the account, new or renewed.

    `error` is what the instance sent instead of a code (`access_denied` when the person declined).
    Raises SignInRefused (state unknown, another person's, expired or used; declined; the code
    refused) or PlatformUnavailable (the instance could not be reached); nothing is stored then."""
    sign_in = _claim(user=user, state=state, meta=meta)
    if error or not code:
        declined = error == "access_denied"
        audit_log_write(
            action="connection.oauth_declined" if declined else "connection.oauth_failed",
            actor=user,
            target=sign_in,
            details={
                "instance_url": sign_in.instance_url,
                "stage": "authorize",
                "error": (error or "no code")[:100],
            },
            meta=meta,
        )
        if declined:
            raise SignInRefused(
                f"You declined the authorization at {_host(sign_in.instance_url)}; nothing was connected."
            )
        raise SignInRefused(
            f"{_host(sign_in.instance_url)} did not authorize the sign-in "
            f"({(error or 'no code was sent')[:100]}); nothing was connected."
        )
    application = sign_in.application
    timeout = common.DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        token = wire.exchange_code(
            instance_url=sign_in.instance_url,
            client_id=application.client_id,
            client_secret=application.client_secret,
            redirect_uri=application.redirect_uri,
            code=code,
            scopes=application.scopes,
            code_verifier=sign_in.code_verifier or None,
            timeout=timeout,
        )
    except common.PlatformError as exc:
        _audit_failure(
            user=user, meta=meta, stage="token", instance_url=sign_in.instance_url, exc=exc, target=sign_in
        )
        raise _domain_error(exc, doing="Exchanging the authorization code") from None
    probe = PlatformConnection(
        user=user, platform_type=sign_in.platform_type, instance_url=sign_in.instance_url, access_token=token
    )
    try:
        account, learned = probe.kind.verify(probe, timeout=timeout)
    except common.PlatformError as exc:
        _audit_failure(
            user=user, meta=meta, stage="verify", instance_url=sign_in.instance_url, exc=exc, target=sign_in
        )
        _revoke_quietly(
            application=application, instance_url=sign_in.instance_url, token=token, timeout=timeout
        )
        raise _domain_error(exc, doing="Verifying the new token") from None
    connection, created = _store(sign_in=sign_in, token=token, account=account, learned=learned, meta=meta)
    audit_log_write(
        action="connection.oauth_connected",
        actor=user,
        target=connection,
        details={
            "instance_url": sign_in.instance_url,
            "acct": account.acct,
            "created": created,
            "pkce": bool(sign_in.code_verifier),
        },
        meta=meta,
    )
    return connection


def _claim(*, user: User, state: str, meta: RequestMeta | None) -> OAuthSignIn:
    """Mark the attempt used, in one conditional update that only an unused, unexpired attempt of
    this person passes: of two callbacks with the same state, one wins."""
    digest = state_hash(state or "")
    now = timezone.now()
    claimed = OAuthSignIn.objects.filter(
        state_hash=digest, user=user, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    found = OAuthSignIn.objects.select_related("application").filter(state_hash=digest).first()
    if claimed == 1 and found is not None:
        return found
    if found is None or found.user_id != user.pk:
        reason, message = (
            "unknown_state",
            "This sign-in link is unknown (or not yours); start the sign-in again.",
        )
    elif found.used_at is not None:
        reason, message = "used", "This sign-in was already completed or refused; start the sign-in again."
    else:
        reason, message = "expired", "This sign-in took longer than 10 minutes and expired; start it again."
    audit_log_write(
        action="connection.oauth_refused",
        actor=user,
        target=found if found is not None and found.user_id == user.pk else None,
        resource_type=None if found is not None and found.user_id == user.pk else "oauth_sign_in",
        details={"reason": reason},
        meta=meta,
    )
    raise SignInRefused(message)


def _store(
    *,
    sign_in: OAuthSignIn,
    token: str,
    account: common.PlatformAccount,
    learned: dict,
    meta: RequestMeta | None,
) -> tuple[PlatformConnection, bool]:
    """The person's connection for the account: renewed when it exists, else created."""
    application = sign_in.application
    user = sign_in.user
    existing = PlatformConnection.objects.filter(
        user=user, instance_url=sign_in.instance_url, username=account.username
    ).first()
    if existing is not None:
        extra = existing.extra if isinstance(existing.extra, dict) else {}
        connection = connection_update(
            connection=existing,
            data={
                "platform_type": sign_in.platform_type,
                "access_token": token,
                "client_key": application.client_id,
                "client_secret": application.client_secret,
                "extra": {**extra, **learned},
                "is_active": True,
            },
            actor=user,
            meta=meta,
        )
        created = False
    else:
        connection = connection_create(
            user=user,
            name=_free_name(user=user, account=account, instance_url=sign_in.instance_url),
            platform_type=sign_in.platform_type,
            instance_url=sign_in.instance_url,
            username=account.username,
            access_token=token,
            client_key=application.client_id,
            client_secret=application.client_secret,
            extra=dict(learned),
            actor=user,
            meta=meta,
        )
        created = True
    connection.last_used = timezone.now()
    PlatformConnection.objects.filter(pk=connection.pk).update(last_used=connection.last_used)
    return connection, created


def _free_name(*, user: User, account: common.PlatformAccount, instance_url: str) -> str:
    """A name like alice@mastodon.example, with " (2)" and on when the person already uses it."""
    base = f"{account.username}@{_host(instance_url)}"[:90]
    name, number = base, 1
    while connection_name_taken(owner=user, name=name):
        number += 1
        name = f"{base} ({number})"
    return name


def connection_disconnect(
    *,
    connection: PlatformConnection,
    actor: User | None = None,
    meta: RequestMeta | None = None,
    timeout: float | None = None,
) -> Disconnected:
    """Delete the connection and revoke its token at the instance (POST /oauth/revoke, with the
    application's client id and secret it was signed in with). The connection is deleted first,
    so a connection still in use (ConnectionConflict) keeps a working token; a revocation that fails
    afterwards is reported in the result and the audit log, and the local token is gone anyway."""
    instance_url, token = connection.instance_url, connection.access_token
    client_id, client_secret = connection.client_key, connection.client_secret
    revocable = connection.uses_mastodon_api and bool(client_id and client_secret)
    connection_delete(connection=connection, actor=actor, meta=meta)
    if not revocable:
        result = Disconnected(
            revoked=False,
            problem=(
                "The token was not revoked: this connection has no application credentials (its token "
                "was pasted, or its network has no revocation here); revoke it in the network's settings."
            ),
        )
    else:
        try:
            wire.revoke_token(
                instance_url=instance_url,
                client_id=client_id,
                client_secret=client_secret,
                token=token,
                timeout=common.DEFAULT_TIMEOUT if timeout is None else timeout,
            )
            result = Disconnected(revoked=True)
        except common.PlatformError as exc:
            logger.info("Revoking the token of connection %s failed: %s", connection.pk, exc)
            result = Disconnected(
                revoked=False,
                problem=f"The connection was removed, but revoking its token failed: {exc} Revoke it in the "
                "instance's settings (Authorized apps).",
            )
    audit_log_write(
        action="connection.token_revoked" if result.revoked else "connection.token_not_revoked",
        actor=actor,
        target=connection,
        details={"instance_url": instance_url, "problem": result.problem},
        meta=meta,
    )
    return result


# Helpers ------------------------------------------------------------------------------------------


def _host(instance_url: str) -> str:
    return urlsplit(instance_url).netloc or instance_url


def _domain_error(exc: common.PlatformError, *, doing: str) -> Exception:
    if isinstance(exc, common.PlatformAuthError):
        return SignInRefused(f"{doing} was refused: {exc} Nothing was connected.")
    if isinstance(exc, common.PlatformUnavailableError):
        return PlatformUnavailable(f"{doing} failed: {exc} Nothing was connected.")
    return SignInRefused(f"{doing} failed: {exc}")


def _audit_failure(
    *,
    user: User,
    meta: RequestMeta | None,
    stage: str,
    instance_url: str,
    exc: common.PlatformError,
    target: OAuthSignIn | None = None,
) -> None:
    logger.info("Fediverse sign-in at %s failed (%s): %s", instance_url, stage, exc)
    audit_log_write(
        action="connection.oauth_failed",
        actor=user,
        target=target,
        resource_type=None if target is not None else "oauth_sign_in",
        details={"instance_url": instance_url, "stage": stage, "reason": exc.reason, "status": exc.status},
        meta=meta,
    )


def _revoke_quietly(*, application: OAuthApplication, instance_url: str, token: str, timeout: float) -> None:
    """A token that cannot be used (its account could not be verified) is not kept anywhere:
    revoke it, and let a failure go (it was never stored)."""
    try:
        wire.revoke_token(
            instance_url=instance_url,
            client_id=application.client_id,
            client_secret=application.client_secret,
            token=token,
            timeout=timeout,
        )
    except common.PlatformError as exc:
        logger.info("Revoking an unverified token at %s failed: %s", instance_url, exc)


__all__ = [
    "Disconnected",
    "connection_disconnect",
    "oauth_platform_types",
    "oauth_redirect_uri",
    "oauth_sign_in_finish",
    "oauth_sign_in_start",
]
