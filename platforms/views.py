"""The browser's end of a fediverse sign-in (platforms.oauth): the instance sends the person back
here with `code` and `state` (or `error`). A GET that changes state is safe here because `state`
is the CSRF token: it was made for this person's sign-in, is kept only as a hash, and works once."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from accounts.request_meta import request_meta
from core.errors import DomainError
from platforms.oauth import oauth_sign_in_finish


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
