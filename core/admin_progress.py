"""Live progress of background work on its admin change page, and its Cancel button.

A ModelAdmin whose rows are background work (a caption task, a scraping job, a persona task)
adds two URLs with `progress_urls` and passes `progress_context` to its change page:

- `admin:<app>_<model>_progress` (GET `<id>/progress/`): the row's `Progress` as JSON;
- `admin:<app>_<model>_cancel` (POST `<id>/cancel/`): calls the app's cancel service, then back to
  the change page with its message (only when the admin gave a `cancel`).

Both find the row through the ModelAdmin's own queryset narrowed by the app's `scope` (its
`visible_to`: the kernel imports no app), so another user's row is a 404 like everywhere else.
The page's panel (templates/admin/includes/sd_progress.html) is polled by
core/static/core/progress.js; the JSON contract is `Progress.as_json`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse

from core.errors import DomainError

POLL_MILLISECONDS = 2000


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What the panel shows. `percent` None: the work has no measure of its own (a bar without a
    value). `terminal`: it will not change any more (the page stops polling)."""

    status: str
    status_label: str
    percent: int | None
    step: str = ""
    terminal: bool
    cancellable: bool = False
    error: str = ""

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "status_label": self.status_label,
            "percent": None if self.percent is None else max(0, min(100, int(self.percent))),
            "step": self.step,
            "terminal": self.terminal,
            "cancellable": self.cancellable,
            "error": self.error,
        }


Snapshot = Callable[[object], Progress]
Cancel = Callable[..., object]  # cancel(obj, request) -> anything; raises DomainError to refuse
Scope = Callable[[QuerySet, object], QuerySet]  # scope(queryset, user) -> what the user may see


def _url_name(model_admin, suffix: str) -> str:
    return f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_{suffix}"


def visible_object(model_admin, request, object_id: str, *, scope: Scope):
    """The row, through the admin's queryset and the caller's isolation; else 404."""
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404("No such object.")
    if not scope(type(obj)._default_manager.filter(pk=obj.pk), request.user).exists():
        raise Http404("No such object.")
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    return obj


def progress_urls(model_admin, *, snapshot: Snapshot, scope: Scope, cancel: Cancel | None = None):
    """The progress (and cancel) URLs, to put before the ModelAdmin's own."""

    def progress_view(request, object_id):
        obj = visible_object(model_admin, request, object_id, scope=scope)
        response = JsonResponse(snapshot(obj).as_json())
        response["Cache-Control"] = "no-store"
        return response

    def cancel_view(request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = visible_object(model_admin, request, object_id, scope=scope)
        if not model_admin.has_change_permission(request, obj):
            raise PermissionDenied
        try:
            cancel(obj, request)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Cancelled: running work stops at its next step.")
        return HttpResponseRedirect(reverse(f"admin:{_url_name(model_admin, 'change')}", args=[obj.pk]))

    wrap = model_admin.admin_site.admin_view
    urls = [path("<path:object_id>/progress/", wrap(progress_view), name=_url_name(model_admin, "progress"))]
    if cancel is not None:
        urls.append(
            path("<path:object_id>/cancel/", wrap(cancel_view), name=_url_name(model_admin, "cancel"))
        )
    return urls


def progress_context(model_admin, request, obj, *, snapshot: Snapshot, cancel: bool) -> dict:
    """The change page's `sd_progress`: the panel's first state and its URLs."""
    if obj is None:
        return {}
    current = snapshot(obj)
    may_cancel = cancel and model_admin.has_change_permission(request, obj)
    return {
        "sd_progress": {
            "url": reverse(f"admin:{_url_name(model_admin, 'progress')}", args=[obj.pk]),
            "cancel_url": reverse(f"admin:{_url_name(model_admin, 'cancel')}", args=[obj.pk])
            if may_cancel
            else "",
            "state": current.as_json(),
            "poll_ms": POLL_MILLISECONDS,
        }
    }
