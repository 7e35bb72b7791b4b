"""The browser's end of signing in with a network: it sends the person back here with `code` and
`state` (or `error`). Fediverse instances come back to `oauth_callback` (platforms.oauth), X and
LinkedIn to `oauth2_callback` (platforms.oauth2). A GET that changes state is safe here because
`state` is the CSRF token of the flow: made for this person's sign-in, kept only as a hash, unused
and unexpired, and it works once. Thin: the services check, exchange and store; the views show the
connection's page, or the list with the reason it failed.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.request_meta import request_meta
from core.errors import DomainError
from platforms.oauth import oauth_sign_in_finish
from platforms.oauth2 import oauth2_finish


def oauth2_redirect_uri() -> str:
    """The callback URL registered with the networks: on PUBLIC_BASE_URL, the address browsers use."""
    return settings.PUBLIC_BASE_URL + reverse("platforms-oauth2-callback")


@require_GET
@login_required(login_url="admin:login")
def oauth2_callback(request):
    try:
        connection = oauth2_finish(
            user=request.user,
            state=request.GET.get("state", ""),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            meta=request_meta(request),
        )
    except ValidationError as exc:
        messages.error(request, "Connecting failed: " + " ".join(exc.messages))
        return redirect("admin:platforms_platformconnection_changelist")
    messages.success(request, f"Connected “{connection.name}”.")
    return redirect("admin:platforms_platformconnection_change", connection.pk)


@require_GET
@login_required(login_url="admin:login")
def oauth_callback(request):
    try:
        connection = oauth_sign_in_finish(
            user=request.user,
            state=request.GET.get("state", ""),
            code=request.GET.get("code") or None,
            error=request.GET.get("error") or None,
            meta=request_meta(request),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("admin:platforms_platformconnection_changelist")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("admin:platforms_platformconnection_changelist")
    messages.success(request, f"Connected {connection.name}: the instance confirmed the account.")
    return redirect("admin:platforms_platformconnection_change", connection.pk)
