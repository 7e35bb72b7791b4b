"""Sign-in sessions: API bearer tokens and browser (admin) logins, one `UserSession` row each.

A token (or a browser's session key) is stored only as `hash_secret(value)`. Revoking sets
`is_active = False` and `revoked_at`; the row stays for the record. Every change is audited.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import SessionKind, User, UserSession
from accounts.request_meta import RequestMeta, request_meta
from accounts.services.audit import audit_log_write
from accounts.tokens import hash_secret, new_session_token

ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)  # last_activity is written at most this often


class FingerprintAction:
    """What SESSION_FINGERPRINT_ACTION asks when a session is used from another client."""

    RECORD = "record"  # audit it and mark the session; the request goes on
    REVOKE = "revoke"  # the same, and the session ends at once

    values = (RECORD, REVOKE)


@transaction.atomic
def session_create(
    *,
    user: User,
    kind: str = SessionKind.API,
    meta: RequestMeta,
    session_key: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, UserSession]:
    """Record a login and return (plain token, session).

    kind=api: a new random token, valid for settings.API_TOKEN_TTL seconds; the caller shows it once.
    kind=browser: the browser's Django session key stands in for the token (pass it and the
    session's expiry); it is returned as given.
    """
    now = timezone.now()
    if kind == SessionKind.API:
        token = new_session_token()
        expires_at = now + timedelta(seconds=settings.API_TOKEN_TTL)
    elif kind == SessionKind.BROWSER:
        if not session_key:
            raise ValueError("A browser session needs the Django session key.")
        token = session_key
        expires_at = expires_at or now + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    else:
        raise ValueError(f"Unknown session kind '{kind}'.")

    session = UserSession.objects.create(
        user=user,
        kind=kind,
        token_hash=hash_secret(token),
        expires_at=expires_at,
        last_activity=now,
        user_agent=meta.user_agent or None,
        ip_address=meta.ip_address,
        session_fingerprint=meta.fingerprint,
    )
    if kind == SessionKind.API:
        # Browser logins go through django.contrib.auth.login(), whose own receiver sets it.
        user.last_login = now
        User.objects.filter(pk=user.pk).update(last_login=now)
    audit_log_write(
        action="auth.login",
        actor=user,
        target=session,
        meta=meta,
        details={"kind": kind, "user_id": user.pk},
    )
    return token, session


@transaction.atomic
def session_revoke(
    *, session: UserSession, actor: User | None, request=None, reason: str = "revoked"
) -> UserSession:
    """End one session. Idempotent: an already revoked session is left as it is (and not re-audited).

    `reason` is "logout" when its owner signs out with it, "expired" when found past its expiry,
    "revoked" otherwise.
    """
    now = timezone.now()
    changed = UserSession.objects.filter(pk=session.pk, is_active=True).update(
        is_active=False, revoked_at=now, updated_at=now
    )
    session.refresh_from_db(fields=["is_active", "revoked_at", "updated_at"])
    if changed:
        audit_log_write(
            action="auth.logout" if reason == "logout" else "auth.session_revoked",
            actor=actor,
            target=session,
            meta=request_meta(request),
            details={"kind": session.kind, "user_id": session.user_id, "reason": reason},
        )
    return session


@transaction.atomic
def session_revoke_all(
    *,
    user: User,
    actor: User | None,
    except_session: UserSession | None = None,
    request=None,
    reason: str = "revoked",
) -> int:
    """End every active session of `user` (API and browser), except `except_session`; return how many."""
    now = timezone.now()
    sessions = UserSession.objects.filter(user=user, is_active=True)
    if except_session is not None:
        sessions = sessions.exclude(pk=except_session.pk)
    count = sessions.update(is_active=False, revoked_at=now, updated_at=now)
    audit_log_write(
        action="auth.sessions_revoked",
        actor=actor,
        target=user,
        meta=request_meta(request),
        details={
            "user_id": user.pk,
            "count": count,
            "kept_session_id": except_session.pk if except_session is not None else None,
            "reason": reason,
        },
    )
    return count


def session_touch(*, session: UserSession, now: datetime | None = None) -> bool:
    """Record activity at most once a minute: a conditional UPDATE, skipped when recent enough."""
    now = now or timezone.now()
    threshold = now - ACTIVITY_WRITE_INTERVAL
    if session.last_activity >= threshold:
        return False
    updated = UserSession.objects.filter(pk=session.pk, last_activity__lt=threshold).update(
        last_activity=now, updated_at=now
    )
    if updated:
        session.last_activity = now
    return bool(updated)


def session_rekey(*, session: UserSession, session_key: str) -> None:
    """Follow a browser session whose Django key was cycled (password change, privilege change)."""
    new_hash = hash_secret(session_key)
    if session.token_hash != new_hash:
        UserSession.objects.filter(pk=session.pk, token_hash=session.token_hash).update(
            token_hash=new_hash, updated_at=timezone.now()
        )
        session.token_hash = new_hash


def session_fingerprint_check(*, session: UserSession, meta: RequestMeta, request=None) -> bool:
    """Compare the client making a request with the one the session was created from; False when
    the session was revoked for it (SESSION_FINGERPRINT_ACTION=revoke).

    A mismatch marks the session (`last_fingerprint`, `fingerprint_mismatch_at`) and is audited as
    "session.fingerprint_changed" once per new fingerprint: a conditional UPDATE decides, so a
    client that keeps using the session from the same other place writes nothing more. A session
    with no recorded fingerprint has nothing to compare with and is left alone.
    """
    seen = meta.fingerprint
    if not session.session_fingerprint or seen == session.session_fingerprint:
        return True
    if seen != session.last_fingerprint:
        now = timezone.now()
        with transaction.atomic():
            marked = (
                UserSession.objects.filter(pk=session.pk)
                .exclude(last_fingerprint=seen)
                .update(last_fingerprint=seen, fingerprint_mismatch_at=now, updated_at=now)
            )
            if marked:
                audit_log_write(
                    action="session.fingerprint_changed",
                    actor=session.user,
                    target=session,
                    meta=meta,
                    details={
                        "kind": session.kind,
                        "user_id": session.user_id,
                        "created_from": session.session_fingerprint,
                        "used_from": seen,
                        "session_action": settings.SESSION_FINGERPRINT_ACTION,
                    },
                )
        session.last_fingerprint, session.fingerprint_mismatch_at = seen, now
    if settings.SESSION_FINGERPRINT_ACTION == FingerprintAction.REVOKE:
        session_revoke(session=session, actor=None, request=request, reason="fingerprint_changed")
        return False
    return True
