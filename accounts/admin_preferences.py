"""The admin's "Preferences" page: a person's own settings (their time zone, what the alt text of
their drafts' images needs before publishing, and whether their work may leave the machine for an
AI server), for every role
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

from accounts.models import AltTextGate
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


def preferences_view(request):
    user = request.user
    form = PreferencesForm(
        request.POST or None,
        initial={
            "time_zone": user.time_zone,
            "alt_text_gate": user.alt_text_gate,
            "ai_builtin_only": user.ai_builtin_only,
        },
    )
    if request.method == "POST" and form.is_valid():
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
    context = {
        **admin.site.each_context(request),
        "title": "Preferences",
        "form": form,
        "ai": ai_disclosure(user=user),
        # Shown in the zone this request runs in, the person's own (accounts.middleware).
        "now": timezone.now(),
    }
    return TemplateResponse(request, "admin/accounts/preferences.html", context)


# Signed-in staff only, as every admin page; what the page changes is the person's own account.
preferences = admin.site.admin_view(preferences_view)
