"""The browser end of OAuth 2.0 sign-in (X, LinkedIn): the network sends the browser back here.

Thin: `platforms.oauth2.oauth2_finish` checks the state (the CSRF token of this flow: it must be
an attempt of the signed-in person, unused and not expired), exchanges the code and stores the
connection; the view then shows the connection's page, or the list with the reason it failed.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.request_meta import request_meta
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
