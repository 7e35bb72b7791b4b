"""The admin's "Preferences" page: a person's own settings (their time zone, what the alt text of
their drafts' images needs before publishing, and whether their work may leave the machine for an
AI server; which notifications reach them on which channel, and their notification webhook with
its delivery log), for every role
that signs in to the admin, including those who may not open the user list.

Linked from the user tools at the top of every admin page (templates/admin/base_site.html); the
change goes through the same service as the API's `PATCH /api/v1/auth/me/`.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.models import AltTextGate, NotificationChannel, NotificationEvent
from accounts.request_meta import request_meta
from accounts.selectors import notification_deliveries_of, notification_webhook_of
from accounts.services.notification_webhooks import (
    notification_webhook_delete,
    notification_webhook_rotate_secret,
    notification_webhook_save,
    notification_webhook_set_active,
    notification_webhook_test,
    secret_masked,
)
from accounts.services.notifications import (
    channel_available,
    notification_preferences_grid,
    notification_preferences_set,
)
from accounts.services.users import user_update_profile
from accounts.time_zones import time_zone_names
from core.ai import ai_disclosure


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        required=False,
        help_text="Dates and times in the admin and the API are shown in this zone, and a time you "
        "type without a zone (e.g. when scheduling) is read in it.",
    )

    alt_text_gate = forms.ChoiceField(
        label="Images on my drafts need",
        choices=AltTextGate.choices,
        required=False,  # left out: unchanged
        widget=forms.RadioSelect,
        help_text="Every image your drafts carry is published with its alt text. By default a "
        "person must approve that text first; you may relax this to “not empty”, which lets text "
        "the AI wrote go out unread. Nothing ever goes out without alt text.",
    )

    ai_builtin_only = forms.BooleanField(
        label="Builtin AI only",
        required=False,
        help_text="Captions, alt text, drafts, scores, personas and images for your work are made by "
        "the builtin backends on this server: nothing of yours leaves the machine. They are plainer "
        "than a language model's.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        site_default = ("", f"The site's time zone ({settings.TIME_ZONE})")
        self.fields["time_zone"].choices = [site_default, *((name, name) for name in time_zone_names())]


DELIVERY_LOG_ROWS = 50


def _grid_rows(user) -> list[dict]:
    grid = notification_preferences_grid(user=user)
    return [
        {
            "event": event,
            "label": label,
            "cells": [
                {
                    "name": f"notify:{event}:{channel}",
                    "channel": channel_label,
                    "checked": grid[event][channel],
                    "available": channel_available(event=event, channel=channel),
                }
                for channel, channel_label in NotificationChannel.choices
            ],
        }
        for event, label in NotificationEvent.choices
    ]


def _save_notification_grid(request) -> None:
    choices = {
        event: {
            channel: f"notify:{event}:{channel}" in request.POST
            for channel in NotificationChannel.values
            if channel_available(event=event, channel=channel)
        }
        for event in NotificationEvent.values
    }
    notification_preferences_set(user=request.user, choices=choices)
    messages.success(request, "Your notification choices were saved.")


def _webhook_action(request, context: dict):
    """Returns a response to send, or None to render the page with `context` (e.g. a new secret)."""
    user, meta = request.user, request_meta(request)
    action = request.POST.get("webhook_action")
    webhook = notification_webhook_of(user=user)
    if action == "save":
        try:
            webhook, secret = notification_webhook_save(
                user=user, url=request.POST.get("webhook_url"), meta=meta
            )
        except ValidationError as exc:
            context["webhook_error"] = " ".join(exc.message_dict.get("url", exc.messages))
            context["webhook_url"] = request.POST.get("webhook_url", "")
            return None
        if secret is None:
            messages.success(request, "The webhook's URL was saved; it is enabled.")
            return redirect("admin-preferences")
        context["new_secret"] = secret
        return None
    if webhook is None:
        return redirect("admin-preferences")
    if action == "rotate":
        context["new_secret"] = notification_webhook_rotate_secret(webhook=webhook, actor=user, meta=meta)
        return None
    if action in ("enable", "disable"):
        notification_webhook_set_active(webhook=webhook, active=action == "enable", actor=user, meta=meta)
        messages.success(request, f"The webhook is {'enabled' if action == 'enable' else 'disabled'}.")
    elif action == "delete":
        notification_webhook_delete(webhook=webhook, actor=user, meta=meta)
        messages.success(request, "The webhook was removed.")
    elif action == "test":
        delivered, what = notification_webhook_test(webhook=webhook)
        (messages.success if delivered else messages.error)(request, f"Test sent. {what}")
    return redirect("admin-preferences")


def preferences_view(request):
    user = request.user
    posted = request.method == "POST"
    section = request.POST.get("section", "profile") if posted else None
    form = PreferencesForm(
        request.POST if section == "profile" else None,
        initial={
            "time_zone": user.time_zone,
            "alt_text_gate": user.alt_text_gate,
            "ai_builtin_only": user.ai_builtin_only,
        },
    )
    context = {}
    if section == "profile" and form.is_valid():
        try:
            # A blank zone (the site's) and an unticked box are answers; a missing gate is not.
            always = {"time_zone", "ai_builtin_only"}
            data = {name: value for name, value in form.cleaned_data.items() if name in always or value}
            user_update_profile(user=user, data=data, request=request)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Your preferences were saved.")
            return redirect("admin-preferences")
    elif section == "notifications":
        _save_notification_grid(request)
        return redirect("admin-preferences")
    elif section == "webhook":
        response = _webhook_action(request, context)
        if response is not None:
            return response
    webhook = notification_webhook_of(user=user)
    context = {
        **admin.site.each_context(request),
        "title": "Preferences",
        "form": form,
        "ai": ai_disclosure(user=user),
        # Shown in the zone this request runs in, the person's own (accounts.middleware).
        "now": timezone.now(),
        "channels": NotificationChannel.choices,
        "grid": _grid_rows(user),
        "webhook": webhook,
        "webhook_secret_masked": secret_masked(webhook) if webhook else "",
        "webhook_url": webhook.url if webhook else "",
        "deliveries": notification_deliveries_of(user=user)[:DELIVERY_LOG_ROWS],
        **context,
    }
    return TemplateResponse(request, "admin/accounts/preferences.html", context)


# Signed-in staff only, as every admin page; what the page changes is the person's own account.
preferences = admin.site.admin_view(preferences_view)
