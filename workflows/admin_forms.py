"""Forms of the workflows admin: starting a workflow and reviewing one platform's draft.

The forms only shape the browser's input; the rules are the services' (`workflow_create`,
`workflow_review`, `publishing_job_create`), whose ValidationErrors `add_service_errors` puts next
to the field they name. Nothing here writes.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from workflows.content_templates import ContentTemplate, template_list
from workflows.models import Platform, WorkflowMode
from workflows.selectors import resource_list
from workflows.services.workflows import LENGTHS

TEMPLATE_FIELD_PREFIX = "tpl"
MAX_RESOURCE_CHOICES = 50
HASHTAG_SEPARATORS = re.compile(r"[\s,]+")


def template_field_name(template: str, field: str) -> str:
    return f"{TEMPLATE_FIELD_PREFIX}__{template}__{field}"


def add_service_errors(form: forms.Form, error: ValidationError, field_of) -> None:
    """Put a service's ValidationError (keys like `source_content.text`) next to the form's fields;
    `field_of(key)` names the form field for a key, None for the form as a whole."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, messages in error.message_dict.items():
        name = field_of(key)
        form.add_error(name if name in form.fields else None, messages)


class WorkflowStartForm(forms.Form):
    """What `POST /api/v1/workflows/` takes, as a form: a source (text or a page's URL) or a
    template, the platforms, a few writing options and the owner's resources."""

    mode = forms.ChoiceField(
        choices=[
            (WorkflowMode.MANUAL, "From a source text or web page"),
            (WorkflowMode.TEMPLATE, "From a template"),
        ],
        initial=WorkflowMode.MANUAL,
        widget=forms.RadioSelect,
    )
    source_text = forms.CharField(
        label="Source text",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Paste the text to repurpose, or give a web page's address below (one of the two).",
    )
    source_url = forms.CharField(
        label="Source URL",
        required=False,
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://…"}),
        help_text="The page's main text becomes the source; the address is kept as its link.",
    )
    title = forms.CharField(
        label="Title", required=False, help_text="Optional; a page's own title otherwise."
    )
    template = forms.ChoiceField(label="Template", required=False)
    platforms = forms.MultipleChoiceField(
        choices=Platform.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one platform."},
    )
    tone = forms.CharField(label="Tone", required=False, help_text="e.g. friendly, formal.")
    length = forms.ChoiceField(
        label="Length", required=False, choices=[("", "Writer decides"), *((v, v) for v in LENGTHS)]
    )
    hashtags = forms.CharField(
        label="Hashtags", required=False, help_text="Words to use as hashtags, separated by spaces or commas."
    )
    resources = forms.MultipleChoiceField(
        label="Style samples and references",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Your resources to write from (the newest 50).",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.templates: list[ContentTemplate] = template_list()
        self.fields["template"].choices = [("", "—")] + [(t.name, t.title) for t in self.templates]
        for template in self.templates:
            for spec in template.fields:
                self.fields[template_field_name(template.name, spec.name)] = forms.CharField(
                    label=spec.label,
                    required=False,
                    widget=forms.URLInput() if spec.is_url else forms.Textarea(attrs={"rows": 2}),
                )
        owned = resource_list(user=user).filter(user=user).order_by("-created_at")[:MAX_RESOURCE_CHOICES]
        self.fields["resources"].choices = [(str(r.pk), str(r)) for r in owned.only("id", "title", "type")]

    def template_groups(self):
        """(template, its bound fields) for the template fieldsets; the script shows the chosen one."""
        return [
            (template, [self[template_field_name(template.name, spec.name)] for spec in template.fields])
            for template in self.templates
        ]

    def clean(self):
        data = super().clean()
        if data.get("mode") == WorkflowMode.MANUAL:
            has_text = bool((data.get("source_text") or "").strip())
            has_url = bool((data.get("source_url") or "").strip())
            if has_text == has_url:
                message = "Give either a source text or a source URL, not both."
                if not has_text:
                    message = "Give a source text or a source URL."
                self.add_error("source_text", message)
                self.add_error("source_url", message)
        elif data.get("mode") == WorkflowMode.TEMPLATE and not data.get("template"):
            self.add_error("template", "Choose a template.")
        return data

    def manual_options(self) -> dict:
        data = self.cleaned_data
        options: dict = {}
        if data.get("tone"):
            options["tone"] = data["tone"]
        if data.get("length"):
            options["length"] = data["length"]
        words = [w for w in HASHTAG_SEPARATORS.split(data.get("hashtags") or "") if w]
        if words:
            options["hashtags"] = words
        return options

    def template_input(self) -> dict:
        name = self.cleaned_data["template"]
        template = next(t for t in self.templates if t.name == name)
        fields = {
            spec.name: self.cleaned_data.get(template_field_name(name, spec.name)) or ""
            for spec in template.fields
        }
        return {"template": name, "fields": {key: value for key, value in fields.items() if value}}

    def field_of(self, key: str) -> str | None:
        """The form field for a key of workflow_create's (or source_content_from_url's) errors."""
        if key.startswith("source_content.urls"):
            return "source_url"
        if key.startswith("manual_options."):
            return key.split(".", 1)[1]
        if key.startswith("template_input.fields."):
            return template_field_name(self.cleaned_data.get("template") or "", key.rsplit(".", 1)[1])
        return {
            "mode": "mode",
            "platforms": "platforms",
            "source_content": "source_text",
            "source_content.text": "source_text",
            "source_content.title": "title",
            "template_input": "template",
            "template_input.template": "template",
            "template_input.name": "template",
            "resource_ids": "resources",
        }.get(key)


class DraftReviewForm(forms.Form):
    """One platform's review on the workflow's review page (prefixed with the platform)."""

    content = forms.CharField(
        label="Draft",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "wf-editor"}),
    )
    feedback = forms.CharField(
        label="Feedback or reason",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Refine: what the next AI draft should change. Reject: why.",
    )
    scheduled_for = forms.DateTimeField(
        label="Publish at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_content(self) -> str:
        # Browsers send a textarea's line breaks as CRLF; the counter (and the reader) see one
        # character per line break, so the text is counted and stored with LF.
        return self.cleaned_data["content"].replace("\r\n", "\n").replace("\r", "\n")

    def field_of(self, key: str) -> str | None:
        return key if key in ("content", "feedback", "scheduled_for") else None


class MediaAltTextForm(forms.Form):
    """One attachment's alt text on the review page (prefixed `media-<id>`): Save, Approve and
    Regenerate (with the optional instruction) send it."""

    alt_text = forms.CharField(
        label="Alt text",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "wf-alt-editor"}),
    )
    instruction = forms.CharField(
        label="Instruction for Regenerate",
        required=False,
        max_length=500,
        # Enter here presses Regenerate, not the form's first button (Save).
        widget=forms.TextInput(attrs={"data-enter-presses": "regenerate"}),
        help_text="Optional: what the AI should do differently (e.g. “name the chart's axes”).",
    )

    def clean_alt_text(self) -> str:
        return self.cleaned_data["alt_text"].replace("\r\n", "\n").replace("\r", "\n")

    def field_of(self, key: str) -> str | None:
        return {"alt_text": "alt_text", "text": "alt_text", "instruction": "instruction"}.get(key)


class MediaAttachForm(forms.Form):
    """ "Add media" on the review page: an upload (the content decides what it is), or one of the
    owner's generated images, or a persona image by its reference; optionally for one platform
    and with a focus point. media_attach checks everything else."""

    file = forms.FileField(label="Upload an image or video", required=False)
    generated = forms.ChoiceField(label="…or one of the owner's generated images", required=False)
    persona = forms.CharField(
        label="…or a persona image",
        required=False,
        max_length=40,
        help_text="The persona's id and the image's number, e.g. 12/1.",
    )
    platform = forms.ChoiceField(label="Only on", required=False)
    focus_x = forms.FloatField(
        label="Focus x", required=False, min_value=-1, max_value=1, help_text="-1 (left) to 1 (right)."
    )
    focus_y = forms.FloatField(
        label="Focus y", required=False, min_value=-1, max_value=1, help_text="-1 (bottom) to 1 (top)."
    )

    def __init__(self, *args, platforms: list[tuple[str, str]], generated: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].choices = [("", "Every platform's post"), *platforms]
        self.fields["generated"].choices = [("", "—"), *generated]

    def clean(self):
        data = super().clean()
        if data.get("generated") and (data.get("persona") or "").strip():
            self.add_error("persona", "Pick a generated image or a persona image, not both.")
        has_x, has_y = data.get("focus_x") is not None, data.get("focus_y") is not None
        if has_x != has_y:
            missing = "focus_y" if has_x else "focus_x"
            self.add_error(missing, "Give both numbers of the focus point, or neither.")
        return data

    def source(self) -> tuple[str | None, str | None]:
        """(source name, ref) for media_attach; (None, None) for an upload (or nothing chosen)."""
        if self.cleaned_data.get("generated"):
            return "generated", self.cleaned_data["generated"]
        persona = (self.cleaned_data.get("persona") or "").strip()
        if persona:
            return "persona", persona
        return None, None

    def focus(self) -> list[float] | None:
        x, y = self.cleaned_data.get("focus_x"), self.cleaned_data.get("focus_y")
        return None if x is None or y is None else [x, y]

    def field_of(self, key: str) -> str | None:
        if key in ("source", "ref"):
            return "persona" if (self.cleaned_data.get("persona") or "").strip() else "generated"
        return {"file": "file", "platform": "platform", "focus": "focus_x"}.get(key)
