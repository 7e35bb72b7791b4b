"""Every write on platform connections: create, update, delete, set default, verify.

Each change is one transaction and one audit row; audit details name what changed, never a
credential. Bad input raises django's ValidationError naming the field; a concurrent change
that trips a database constraint raises ConnectionConflict (409).
"""

import logging
import math
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from core import urlguard
from core.locking import row_lock
from platforms.errors import (
    ConnectionConflict,
    ConnectionNotFound,
    PlatformUnavailable,
    VerificationFailed,
    VerificationUnsupported,
)
from platforms.health import connection_health_check, connection_health_note_error, connection_health_set
from platforms.kinds import common
from platforms.kinds.registry import PlatformType, kind_of, kinds
from platforms.models import ConnectionHealth, PlatformConnection
from platforms.selectors import connection_account_taken, connection_name_taken

logger = logging.getLogger(__name__)

UPDATABLE_FIELDS = (
    "name",
    "platform_type",
    "instance_url",
    "username",
    "access_token",
    "client_key",
    "client_secret",
    "extra",
    "is_active",
    "is_default",
)


#: Changing one of these on an expired or revoked connection is reconnecting it.
RECONNECTING_FIELDS = frozenset(
    {"access_token", "client_key", "client_secret", "instance_url", "platform_type"}
)


def instance_url_clean(url: str) -> str:
    """An instance's base URL, checked and normalised: https (plain http only for an origin in
    OUTBOUND_ALLOWED_ORIGINS), an address the outbound guard connects to, no credentials, query or
    fragment, lower-case host, no trailing slash."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise ValidationError({"instance_url": "Enter a valid https:// URL."}) from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("https", "http") or not host:
        raise ValidationError({"instance_url": "Enter the instance's https:// URL."})
    policy = urlguard.OutboundPolicy.from_settings()
    if parts.scheme.lower() == "http" and not policy.origin_allowed(urlguard.Origin.of(url)):
        raise ValidationError(
            {"instance_url": "Use an https:// URL (plain http only for origins in OUTBOUND_ALLOWED_ORIGINS)."}
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError({"instance_url": "Do not put credentials in the URL; use the token fields."})
    if parts.query or parts.fragment:
        raise ValidationError({"instance_url": "Give the instance's base URL, without a query or fragment."})
    try:
        urlguard.check_url(url, policy=policy)
    except urlguard.OutboundRefused as exc:
        raise ValidationError({"instance_url": str(exc)}) from None
    netloc = parts.netloc.lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def _unstorable_text(value) -> bool:
    """NUL characters (PostgreSQL's jsonb refuses them) or lone surrogates anywhere in a JSON value."""
    if isinstance(value, str):
        return "\x00" in value or _not_utf8(value)
    if isinstance(value, dict):
        return any(_unstorable_text(key) or _unstorable_text(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unstorable_text(item) for item in value)
    return False


def _not_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_platform_rules(connection: PlatformConnection, errors: dict[str, str]) -> None:
    """The network's own rules (its kind's), then the ones every publisher shares."""
    extra = connection.extra if isinstance(connection.extra, dict) else {}
    errors.update(connection.kind.connection_errors(username=connection.username, extra=extra))
    timeout = extra.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300
    ):
        errors["extra"] = "timeout is a number of seconds between 0 and 300."


def _check(connection: PlatformConnection) -> None:
    """Rules on the whole row, checked before the database sees it."""
    errors: dict[str, str] = {}
    connection.name = (connection.name or "").strip()
    if not connection.name:
        errors["name"] = "A connection needs a name."
    elif connection_name_taken(owner=connection.user, name=connection.name, exclude_pk=connection.pk):
        errors["name"] = "You already have a connection with this name."
    if connection.platform_type not in PlatformType.values:
        errors["platform_type"] = f"Unknown platform; use one of {', '.join(PlatformType.values)}."
    if not connection.access_token:
        errors["access_token"] = "A connection needs its access token."  # noqa: S105
    if not isinstance(connection.extra, dict):
        errors["extra"] = "Must be a JSON object."
    elif _unstorable_text(connection.extra):
        errors["extra"] = "Contains characters that cannot be stored (NUL or unpaired surrogates)."
    connection.username = (connection.username or "").strip() or None
    if (
        connection.username
        and "instance_url" not in errors
        and connection_account_taken(
            owner=connection.user,
            instance_url=connection.instance_url,
            username=connection.username,
            exclude_pk=connection.pk,
        )
    ):
        errors["username"] = "You already connected this account of this instance."
    if "extra" not in errors and "platform_type" not in errors:
        _check_platform_rules(connection, errors)
    if errors:
        raise ValidationError(errors)


def _clear_default(*, owner, keep_pk: int | None) -> None:
    """Unset the owner's current default, holding a lock on the owner so default changes queue up."""
    User.objects.select_for_update().filter(pk=owner.pk).first()
    others = PlatformConnection.objects.filter(user=owner, is_default=True)
    if keep_pk is not None:
        others = others.exclude(pk=keep_pk)
    others.update(is_default=False, updated_at=timezone.now())


def _locked(connection: PlatformConnection) -> PlatformConnection:
    """The row again, locked for this transaction; gone meanwhile (a concurrent delete) is a 404."""
    try:
        return row_lock(row=connection)
    except PlatformConnection.DoesNotExist:
        raise ConnectionNotFound() from None


def _save(connection: PlatformConnection, *, update_fields: list[str] | None = None) -> None:
    """Save in a savepoint so a constraint a concurrent request won becomes a 409, not a 500."""
    try:
        with transaction.atomic():
            connection.save(update_fields=update_fields)
    except IntegrityError:
        raise ConnectionConflict(
            "Another change to your connections happened at the same time (same name, account or "
            "default); reload and try again."
        ) from None


def connection_sign_in(
    *,
    platform_type: str,
    instance_url: str,
    username: str | None,
    password: str,
    timeout: float | None = None,
) -> common.Session:
    """Exchange an account password (Bluesky: an app password) for a session, at once; the
    password is sent to the network once and kept nowhere. A refusal, a rate limit or an
    unreachable server is a ValidationError on `access_token` (the field the password came in),
    so nothing is stored."""
    try:
        return kind_of(platform_type).sign_in(
            instance_url=instance_url,
            username=(username or "").strip(),
            password=password,
            timeout=common.DEFAULT_TIMEOUT if timeout is None else timeout,
        )
    except common.PlatformError as exc:
        logger.info("Signing in to %s failed: %s", instance_url, exc)
        message = f"Signing in failed: {exc}"
        wait = getattr(exc, "retry_after", None)
        if exc.status == 429 and wait:
            message += f" Try again in {math.ceil(wait)} seconds."
        raise ValidationError({"access_token": message}) from None


def apply_session(*, connection: PlatformConnection, session: common.Session) -> list[str]:
    """Put a session on `connection` (not saved): its tokens, their expiry, and what it told about
    the account in `extra`. Returns the fields it set."""
    connection.access_token = session.access_token
    connection.refresh_token = session.refresh_token
    connection.token_expires_at = session.expires_at
    extra = connection.extra if isinstance(connection.extra, dict) else {}
    connection.extra = {**extra, **session.extra}
    return ["access_token", "refresh_token", "token_expires_at", "extra"]


def connection_session_store(*, connection: PlatformConnection, session: common.Session) -> None:
    """Store a renewed session (a publisher refreshed an expired access token): both tokens,
    encrypted, in one short transaction; the caller's instance gets them too."""
    if connection.pk is not None:
        with transaction.atomic():
            try:
                locked = _locked(connection)
            except ConnectionNotFound:  # deleted meanwhile: nothing left to keep the tokens on
                apply_session(connection=connection, session=session)
                return
            fields = apply_session(connection=locked, session=session)
            _save(locked, update_fields=[*fields, "updated_at"])
            audit_log_write(
                action="connection.session_renewed",
                actor=None,
                target=locked,
                details={"expires_at": session.expires_at.isoformat() if session.expires_at else None},
            )
    apply_session(connection=connection, session=session)


def _signs_in(platform_type: str) -> bool:
    return platform_type in PlatformType.values and kind_of(platform_type).signs_in


def connection_create(
    *,
    user: User,
    name: str,
    platform_type: str,
    instance_url: str,
    access_token: str,
    username: str | None = None,
    client_key: str | None = None,
    client_secret: str | None = None,
    extra: dict | None = None,
    is_active: bool = True,
    is_default: bool = False,
    actor: User | None = None,
    meta: RequestMeta | None = None,
) -> PlatformConnection:
    """Store a new connection for `user`; with `is_default` it replaces the previous default."""
    connection = PlatformConnection(
        user=user,
        name=name,
        platform_type=platform_type,
        instance_url=instance_url_clean(instance_url),
        username=username,
        access_token=access_token,
        client_key=client_key or None,
        client_secret=client_secret or None,
        extra={} if extra is None else extra,
        is_active=is_active,
        is_default=is_default,
    )
    if _signs_in(platform_type):
        _check(connection)  # the row's own rules first: no request for a form that is wrong anyway
        session = connection_sign_in(
            platform_type=platform_type,
            instance_url=connection.instance_url,
            username=connection.username,
            password=access_token,
        )
        apply_session(connection=connection, session=session)
    with transaction.atomic():
        _check(connection)
        if is_default:
            _clear_default(owner=user, keep_pk=None)
        _save(connection)
        audit_log_write(
            action="connection.created",
            actor=actor or user,
            target=connection,
            details={"instance_url": connection.instance_url, "is_default": is_default},
            meta=meta,
        )
    return connection


def connection_update(
    *,
    connection: PlatformConnection,
    data: dict[str, Any],
    actor: User | None = None,
    meta: RequestMeta | None = None,
) -> PlatformConnection:
    """Change the given fields (see UPDATABLE_FIELDS); absent fields, credentials included, are kept.

    `client_key`/`client_secret` set to None are removed; `access_token` cannot be removed.
    """
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError({field: "This field cannot be changed." for field in sorted(unknown)})
    session = _session_for_update(connection=connection, data=data)
    if session is not None:
        data = {key: value for key, value in data.items() if key != "access_token"}
    with transaction.atomic():
        connection = _locked(connection)
        changed = []
        for field, value in data.items():
            if field == "instance_url":
                value = instance_url_clean(value)
            elif field == "username":
                value = (value or "").strip() or None
            elif field == "name":
                value = (value or "").strip()
            elif field in ("client_key", "client_secret"):
                value = value or None
            if getattr(connection, field) != value:
                setattr(connection, field, value)
                changed.append(field)
        if session is not None:
            changed.extend(
                field
                for field in apply_session(connection=connection, session=session)
                if field not in changed
            )
        _check(connection)
        if not changed:
            return connection
        if "is_default" in changed and connection.is_default:
            _clear_default(owner=connection.user, keep_pk=connection.pk)
        _save(connection)
        audit_log_write(
            action="connection.updated",
            actor=actor,
            target=connection,
            # Field names only: a credential's value never reaches the audit log.
            details={"changed": sorted(changed)},
            meta=meta,
        )
    if connection.is_broken and RECONNECTING_FIELDS.intersection(changed):
        # Reconnecting: new credentials on a broken connection are checked at once, so its health
        # returns to ok and the work that waited resumes (platforms.health).
        connection_health_check(connection=connection)
    return connection


def _session_for_update(*, connection: PlatformConnection, data: dict[str, Any]) -> common.Session | None:
    """For a network that signs in: a new password is exchanged for a session before anything is
    saved; a new account, server or network without one is refused (the stored session belongs to
    the old account)."""
    platform_type = data.get("platform_type", connection.platform_type)
    if not _signs_in(platform_type):
        return None
    instance_url = (
        instance_url_clean(data["instance_url"]) if "instance_url" in data else connection.instance_url
    )
    username = (data["username"] or "").strip() or None if "username" in data else connection.username
    if not data.get("access_token"):
        moved = (
            platform_type != connection.platform_type
            or instance_url != connection.instance_url
            or username != connection.username
        )
        if moved:
            raise ValidationError(
                {"access_token": "Give the account's app password again to sign in to the changed account."}
            )
        return None
    return connection_sign_in(
        platform_type=platform_type,
        instance_url=instance_url,
        username=username,
        password=data["access_token"],
    )


def connection_delete(
    *,
    connection: PlatformConnection,
    actor: User | None = None,
    meta: RequestMeta | None = None,
) -> None:
    """Delete a connection (its posts, images and caption work go with it: the seed's CASCADE)."""
    with transaction.atomic():
        pk = connection.pk
        audit_log_write(
            action="connection.deleted",
            actor=actor,
            target=connection,
            details={"instance_url": connection.instance_url, "owner_id": connection.user_id},
            meta=meta,
        )
        try:
            with transaction.atomic():
                connection.delete()
        except (ProtectedError, RestrictedError):
            raise ConnectionConflict("This connection is still in use and cannot be deleted.") from None
        connection.pk = pk


def connection_set_default(
    *,
    connection: PlatformConnection,
    actor: User | None = None,
    meta: RequestMeta | None = None,
) -> PlatformConnection:
    """Make `connection` its owner's default, clearing the previous one in the same transaction."""
    with transaction.atomic():
        _clear_default(owner=connection.user, keep_pk=connection.pk)
        connection = _locked(connection)
        if not connection.is_default:
            connection.is_default = True
            _save(connection, update_fields=["is_default", "updated_at"])
            audit_log_write(
                action="connection.default_set",
                actor=actor,
                target=connection,
                details={},
                meta=meta,
            )
    return connection


def connection_verify(
    *,
    connection: PlatformConnection,
    actor: User | None = None,
    meta: RequestMeta | None = None,
    timeout: float | None = None,
) -> common.PlatformAccount:
    """Ask the platform whom the access token belongs to; record `last_used` (and the username
    when it was empty; for LinkedIn the member's author URN in `extra["author_urn"]` when absent;
    for Mastodon-compatible instances their status length limit in `extra["max_characters"]` and
    their media limits, see `platforms.kinds.mastodon.client.mastodon_instance_limits`).
    Mastodon-compatible platforms: verify_credentials; X: GET /2/users/me; LinkedIn: GET
    /v2/userinfo (OpenID); WordPress: GET /wp-json/wp/v2/users/me. Webhooks and ImageFX cannot be
    asked. Raises VerificationUnsupported (400), VerificationFailed (400) or PlatformUnavailable (502)."""
    kind = connection.kind
    if not kind.verifiable:
        raise VerificationUnsupported(
            f"{connection.get_platform_type_display()} connections cannot be verified (there is no "
            f"account to ask about). Verification is available for {_verifiable_names()}."
        )
    timeout = common.DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        account, learned = kind.verify(connection, timeout=timeout)
    except common.PlatformError as exc:
        logger.info("Verifying connection %s failed: %s", connection.pk, exc)
        audit_log_write(
            action="connection.verify_failed",
            actor=actor,
            target=connection,
            details={"reason": exc.reason, "status": exc.status},
            meta=meta,
        )
        # Verifying is a health check too: a 401 marks the connection (and tells its owner once).
        connection_health_note_error(connection=connection, exc=exc)
        if isinstance(exc, common.PlatformAuthError):
            raise VerificationFailed(str(exc)) from None
        raise PlatformUnavailable(str(exc)) from None

    with transaction.atomic():
        connection = _locked(connection)
        connection.last_used = timezone.now()
        fields = ["last_used", "updated_at"]
        if not connection.username and not connection_account_taken(
            owner=connection.user,
            instance_url=connection.instance_url,
            username=account.username,
            exclude_pk=connection.pk,
        ):
            connection.username = account.username
            fields.append("username")
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        if any(extra.get(key) != value for key, value in learned.items()):
            # What verifying learned (LinkedIn's author URN, an instance's status and media limits).
            connection.extra = {**extra, **learned}
            fields.append("extra")
        _save(connection, update_fields=fields)
        audit_log_write(
            action="connection.verified",
            actor=actor,
            target=connection,
            details={"account_id": account.id, "acct": account.acct},
            meta=meta,
        )
    connection_health_set(connection=connection, health=ConnectionHealth.OK)
    return account


def _verifiable_names() -> str:
    """ "Mastodon-compatible platforms (Mastodon, Pixelfed, ...), X, LinkedIn and WordPress"."""
    family = [kind.label for kind in kinds() if kind.verifiable and kind.speaks_mastodon_api]
    others = [kind.label for kind in kinds() if kind.verifiable and not kind.speaks_mastodon_api]
    names = [f"Mastodon-compatible platforms ({', '.join(family)})", *others]
    return ", ".join(names[:-1]) + " and " + names[-1]
