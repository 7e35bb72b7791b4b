"""Keep browser (admin) logins tied to their UserSession rows.

For a request authenticated by its Django session: find the session's row; if it is missing,
revoked or expired, log the user out, so a revocation from the API or the admin takes effect on
the next request; if it is used from a client other than the one it started from, record that
(and, with SESSION_FINGERPRINT_ACTION=revoke, revoke it and log out: accounts.services.sessions);
otherwise record activity at most once a minute (a conditional UPDATE).

Requests authenticated by `Authorization: Bearer`/`Api-Key` headers are not browser sessions:
DRF authenticates those later, in the view; this middleware only looks at the session's user.
Runs after AuthenticationMiddleware.
"""

from django.contrib.auth import SESSION_KEY, logout
from django.utils import timezone

from accounts.request_meta import request_meta
from accounts.services.sessions import (
    session_fingerprint_check,
    session_rekey,
    session_revoke,
    session_touch,
)
from accounts.signals import browser_session_row
from accounts.time_zones import time_zone_activate_for


class UserSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.check(request)
        return self.get_response(request)

    def check(self, request) -> None:
        session = getattr(request, "session", None)
        # No session cookie, or an anonymous session: nothing to do and no query.
        if session is None or SESSION_KEY not in session:
            return
        user = request.user
        if not user.is_authenticated:
            return
        row = browser_session_row(request)
        now = timezone.now()
        if row is None or row.user_id != user.pk or not row.is_active:
            logout(request)
            return
        if row.expires_at <= now:
            session_revoke(session=row, actor=None, request=request, reason="expired")
            logout(request)
            return
        if not session_fingerprint_check(session=row, meta=request_meta(request), request=request):
            logout(request)
            return
        session_rekey(session=row, session_key=session.session_key)
        session_touch(session=row, now=now)
        request.browser_session = row


class UserTimeZoneMiddleware:
    """Run each request in the signed-in person's time zone (accounts.time_zones), and switch back
    afterwards: the zone is per thread, and the next request on this thread may be someone else's.

    Sees the user of a browser session; an API token or key is recognised later, inside the view,
    by the authentication class, which switches the zone itself. Runs after UserSessionMiddleware,
    so a revoked session's user (logged out there) is not taken into account.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        time_zone_activate_for(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
