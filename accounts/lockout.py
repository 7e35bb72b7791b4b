"""The response django-axes gives a locked-out login: JSON for the API, a page for the admin."""

from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render

from core.api.errors import error_body


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else None
    message = "Too many failed sign-in attempts; try again later."
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body(status_code=429, code="locked_out", message=message), status=429)
    else:
        response = render(request, "accounts/locked_out.html", {"minutes": (seconds or 0) // 60}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def lockout_username(request, credentials=None) -> str | None:
    """The name django-axes counts failures under: emails case-folded, so that
    `Ada@x.test` and `ada@x.test` are one account for lockout, as they are for login."""
    if credentials:
        raw = credentials.get("username")
    else:
        raw = getattr(request, "data", request.POST).get("username")
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    return raw.lower() if "@" in raw else raw
