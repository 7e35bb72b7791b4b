"""Receivers that tie Django's and django-axes' sign-in events to sessions and the audit log.

Connected in AccountsConfig.ready():
- user_logged_in (a browser login through django.contrib.auth.login) starts a browser UserSession;
- user_logged_out revokes it;
- user_login_failed (every failed or refused attempt, API and admin) and axes' user_locked_out
  write audit rows with the attempted username, IP and user agent, never the password.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import Q

from accounts.models import SessionKind, UserSession
from accounts.request_meta import request_meta
from accounts.services.audit import audit_log_write
from accounts.services.sessions import session_create, session_revoke
from accounts.tokens import hash_secret

# The browser session remembers which UserSession row it is, so the row can follow the
# session when Django cycles its key (password change); the key's hash is checked as well.
SESSION_ROW_KEY = "_user_session_id"
USERNAME_MAX_CHARS = 255


def browser_session_row(request) -> UserSession | None:
    """The UserSession row of the request's browser session, if it has one."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        return None
    match = Q(token_hash=hash_secret(session.session_key))
    row_id = session.get(SESSION_ROW_KEY)
    if isinstance(row_id, int):
        match |= Q(pk=row_id)
    return UserSession.objects.filter(match, kind=SessionKind.BROWSER).order_by("-pk").first()


def on_user_logged_in(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        return
    _, row = session_create(
        user=user,
        kind=SessionKind.BROWSER,
        meta=request_meta(request),
        session_key=session.session_key,
        expires_at=session.get_expiry_date(),
    )
    session[SESSION_ROW_KEY] = row.pk


def on_user_logged_out(sender, request, user, **kwargs):
    if request is None:
        return
    row = browser_session_row(request)
    if row is not None and (user is None or row.user_id == user.pk):
        session_revoke(session=row, actor=user, request=request, reason="logout")


def _attempted_username(credentials: dict | None) -> str:
    username = (credentials or {}).get(get_user_model().USERNAME_FIELD) or ""
    return str(username)[:USERNAME_MAX_CHARS]


def _account_id(username: str):
    """The id of the account an attempted username or email names, for the audit row only."""
    if not username:
        return None
    User = get_user_model()
    lookup = {"email__iexact": username.strip()} if "@" in username else {"username": username}
    return User.objects.filter(**lookup).values_list("pk", flat=True).first()


def on_user_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password in `credentials`; only the username is kept.
    username = _attempted_username(credentials)
    meta = request_meta(request)
    account = _account_id(username)
    audit_log_write(
        action="auth.login_failed",
        resource_type="user" if account is not None else None,
        resource_id=account,
        details={
            "username": username,
            "ip_address": meta.ip_address,
            "user_agent": meta.user_agent,
            "locked_out": bool(getattr(request, "axes_locked_out", False)),
        },
        meta=meta,
    )


def on_user_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    """axes sends this when a failure reaches the limit and for each attempt refused while locked."""
    username = str(username or "")[:USERNAME_MAX_CHARS]
    meta = request_meta(request)
    account = _account_id(username)
    audit_log_write(
        action="auth.locked_out",
        resource_type="user" if account is not None else None,
        resource_id=account,
        details={
            "username": username,
            "ip_address": ip_address or meta.ip_address,
            "user_agent": meta.user_agent,
            "failures": getattr(request, "axes_failures_since_start", None),
        },
        meta=meta,
    )


def connect() -> None:
    from axes.signals import user_locked_out

    user_logged_in.connect(on_user_logged_in, dispatch_uid="accounts.browser_session_start")
    user_logged_out.connect(on_user_logged_out, dispatch_uid="accounts.browser_session_end")
    user_login_failed.connect(on_user_login_failed, dispatch_uid="accounts.audit_login_failed")
    user_locked_out.connect(on_user_locked_out, dispatch_uid="accounts.audit_locked_out")
