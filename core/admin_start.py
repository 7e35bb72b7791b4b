"""Starting work from the admin: a plain form laid out as an admin add page, and the errors of a
service put next to the fields they name.

The forms themselves only type the input (text, numbers, dates, choices); the rules are the API's:
a start view calls the same service the API's create endpoint calls, which validates everything
before it writes, and shows what it refused with `validation_error_apply` (the admin imports
nothing from the API: the rules live in the services). So a form holds no second copy of a rule,
and a bad value creates nothing.

    def add_view(self, request, form_url="", extra_context=None):
        return start_view(self, request, form_class=..., fieldsets=..., start=..., title=...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

from core.errors import DomainError

START_FORM_TEMPLATE = "admin/start_form.html"


def _messages_of(value: Any) -> list[str]:
    """Every message in a DRF error value (a list, a dict by index, nested) or a Django one."""
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _messages_of(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _messages_of(item)]
    if isinstance(value, ValidationError):
        return list(value.messages)
    return [str(value)]


def form_errors_apply(
    form: forms.Form, errors: Mapping[str, Any] | list, *, field_map: Mapping[str, str] | None = None
) -> None:
    """Add `errors` ({name: messages}, as a ValidationError's `message_dict`) to `form`: each
    next to the form field it names (`field_map` renames the service's names, e.g.
    "configuration.urls" -> "urls"), anything else above the form."""
    if not isinstance(errors, Mapping):
        for text in _messages_of(errors):
            form.add_error(None, text)
        return
    field_map = field_map or {}
    for name, value in errors.items():
        target = field_map.get(name, name)
        if target not in form.fields:
            target = None
        for text in _messages_of(value):
            named = target is None and name not in ("__all__", "non_field_errors")
            form.add_error(target, f"{name}: {text}" if named else text)


def validation_error_apply(form: forms.Form, exc: ValidationError, **kwargs) -> None:
    """A service's ValidationError, by field where it names them."""
    if hasattr(exc, "error_dict"):
        form_errors_apply(form, exc.message_dict, **kwargs)
    else:
        form_errors_apply(form, list(exc.messages), **kwargs)


def start_view(
    model_admin,
    request,
    *,
    form_class: type[forms.Form],
    fieldsets: list,
    start: Callable[[forms.Form], Any],
    title: str,
    form_kwargs: dict | None = None,
    extra_context: dict | None = None,
    submit_label: str = "Start",
    template: str | None = None,
    done: Callable[[Any], HttpResponse] | None = None,
):
    """The admin add page of `model_admin`, with `form_class` instead of a model form.

    On a valid POST, `start(form)` calls the service and returns the new object; it may add errors
    to the form (then returns None) or raise a ValidationError or DomainError, shown on the form.
    The new object's change page follows, where its progress shows; `done(created)` answers
    instead when given (a sign-in goes on at the instance's own page).
    """
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = form_class(request.POST if request.method == "POST" else None, **(form_kwargs or {}))
    if request.method == "POST" and form.is_valid():
        created = None
        try:
            created = start(form)
        except ValidationError as exc:
            validation_error_apply(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        if created is not None and not form.errors and done is not None:
            return done(created)
        if created is not None and not form.errors:
            opts = model_admin.opts
            messages.success(request, f"Started: {created}. Its progress shows below.")
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[created.pk])
            return HttpResponseRedirect(url)
    admin_form = helpers.AdminForm(form, fieldsets, {}, model_admin=model_admin)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "adminform": admin_form,
        "object_id": None,
        "original": None,
        "is_popup": False,
        "to_field": None,
        "media": model_admin.media + admin_form.media,
        "inline_admin_formsets": [],
        "errors": helpers.AdminErrorList(form, []),
        "preserved_filters": model_admin.get_preserved_filters(request),
        "submit_label": submit_label,
        **(extra_context or {}),
    }
    response = model_admin.render_change_form(request, context, add=True)
    # A TemplateResponse renders late: its template can still be chosen here, without touching
    # the ModelAdmin (shared by every request).
    response.template_name = template or START_FORM_TEMPLATE
    return response
