"""Starting a caption scan in the admin, and watching it run.

The add page of caption tasks picks one of the user's own connections (from
`platforms.selectors.connection_list`, narrowed to their own even for moderators, who may scan
anyone's through the API: a page listing every account of the site would help nobody) and shows,
for each, the settings the scan will run with: what `caption_settings_snapshot` resolves (the
owner's saved settings for the connection, else the defaults), the same call the task service
makes when it queues the task. Submitting runs the API's create serializer and then
`caption_task_create`, which queues the task once the transaction commits.

A task's change page shows its progress live (core.admin_progress) with a Cancel button
(`caption_task_cancel`) while it is queued or running.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from accounts.request_meta import request_meta
from accounts.selectors import visible_to
from captions.models import ACTIVE_TASK_STATUSES, CaptionGenerationTask
from captions.selectors import CONNECTION_OWNER
from captions.services.tasks import caption_settings_snapshot, caption_task_cancel, caption_task_create
from core.admin_progress import Progress, progress_context, progress_urls, visible_object
from core.admin_start import start_view
from core.ai import ai_disclosure
from core.errors import DomainError
from platforms.selectors import connection_list


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.get_platform_type_display()}, @{obj.username})"


class CaptionScanForm(forms.Form):
    platform_connection = ConnectionChoiceField(
        queryset=None,
        label="Connection",
        empty_label="Choose a connection",
        help_text="The account whose posts are scanned for images without alt text.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform_connection"].queryset = scannable_connections(user=user)


def scannable_connections(*, user):
    """The user's own connections that have captions at all (Mastodon-compatible ones, Bluesky)."""
    own = connection_list(user=user).filter(user=user).select_related("user").order_by("name", "pk")
    return own.filter(pk__in=[connection.pk for connection in own if connection.has_caption_scan])


def scan_settings_rows(*, connections) -> list[dict]:
    """Per connection, the settings a scan started now would run with."""
    return [
        {
            "connection": connection,
            "settings": caption_settings_snapshot(user=connection.user, connection=connection),
        }
        for connection in connections
    ]


def caption_scan_view(model_admin, request):
    def start(form):
        try:
            return caption_task_create(
                user=request.user,
                connection=form.cleaned_data["platform_connection"],
                meta=request_meta(request),
            )
        except DomainError as exc:  # one active task per connection, or a connection gone meanwhile
            form.add_error("platform_connection", exc.message)
            return None

    form_kwargs = {"user": request.user}
    connections = CaptionScanForm(**form_kwargs).fields["platform_connection"].queryset
    return start_view(
        model_admin,
        request,
        form_class=CaptionScanForm,
        form_kwargs=form_kwargs,
        fieldsets=[(None, {"fields": ["platform_connection"]})],
        start=start,
        title="Start a caption scan",
        submit_label="Start scan",
        template="admin/captions/captiongenerationtask/scan_form.html",
        extra_context={
            "start_intro": (
                "The scan reads the connection's recent posts, finds images without alt text and "
                "writes a caption for each, for you to review. One scan per connection at a time."
            ),
            "settings_rows": scan_settings_rows(connections=connections),
            "ai": ai_disclosure(user=request.user),  # a scan captions the starter's own connections
            "settings_url": reverse("admin:captions_captiongenerationusersettings_changelist"),
            "start_styles": ["captions/scan_form.css"],
            "start_scripts": ["captions/scan_form.js"],
        },
    )


# --- progress ------------------------------------------------------------------------------------


def caption_task_progress(task: CaptionGenerationTask) -> Progress:
    active = task.status in ACTIVE_TASK_STATUSES
    return Progress(
        status=task.status,
        status_label=task.get_status_display(),
        percent=task.progress_percent,
        step=task.current_step or "",
        terminal=not active,
        cancellable=active,
        error=task.error_message or "",
    )


def _scope(queryset, user):
    return visible_to(queryset, user=user, owner_field=CONNECTION_OWNER)


def _cancel(task, request):
    return caption_task_cancel(task=task, actor=request.user, meta=request_meta(request))


def caption_task_urls(model_admin) -> list:
    return progress_urls(model_admin, snapshot=caption_task_progress, scope=_scope, cancel=_cancel)


def caption_task_change_context(model_admin, request, object_id) -> dict:
    try:
        task = visible_object(model_admin, request, object_id, scope=_scope)
    except (Http404, PermissionDenied):  # the change view answers these itself
        return {}
    return progress_context(model_admin, request, task, snapshot=caption_task_progress, cancel=True)
