"""Starting image prompts and persona tasks in the admin, watching them, exporting and seeing
their pictures.

The forms type what a person enters and hand it to the services the API's create endpoints call
(`prompt_create`, `avatar_task_create`): they validate every field before they write and queue
the work once the transaction commits; what they refuse shows next to the field. The forms show
the ranges those services check (the same constants), and leave the deciding to them.

A prompt's and a persona task's change pages show their progress live with a Cancel button
(core.admin_progress; `prompt_cancel`, `avatar_task_cancel`, as the API's cancel endpoints). A
persona task's page has Export buttons (JSON, CSV, ZIP: `avatar_task_export`, as the API's export).
Generated images and persona images show as thumbnails served by admin-only views, from the
database (generated images) or the storage (persona images), for rows the admin's queryset and
`visible_to` let the user see; never from a public URL.
"""

from __future__ import annotations

import io

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.request_meta import request_meta
from accounts.selectors import visible_to
from core.admin_progress import Progress, progress_context, progress_urls, visible_object
from core.admin_start import start_view, validation_error_apply
from core.admin_thumbnails import stored_thumbnail_response, thumbnail_response
from generation.models import (
    MAX_IMAGES_PER_PROMPT,
    MAX_PERSONAS_PER_TASK,
    AspectRatio,
    GeneratedPersona,
    GenerationModel,
    GenerationTask,
    ImagesPerPersona,
    Prompt,
    PromptStatus,
    TaskStatus,
)
from generation.personas.exports import EXPORT_FORMATS, avatar_task_export, in_blocks
from generation.services import avatar_tasks, prompts
from generation.services.avatar_tasks import DESCRIPTION_MAX_CHARS, LANGUAGE_MAX_CHARS, avatar_task_create
from generation.services.prompts import PROMPT_MAX_CHARS, SEED_MAX, generated_image_bytes, prompt_create

LIST_THUMBNAIL = 64
PAGE_THUMBNAIL = 160
LARGE_SIZE = 1024


def _number(low: int, high: int) -> forms.NumberInput:
    # Shown and offered by the browser; the service decides.
    return forms.NumberInput(attrs={"min": low, "max": high, "step": 1})


# --- image prompts -------------------------------------------------------------------------------


class PromptForm(forms.Form):
    prompt_text = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 5, "cols": 70}),
        help_text=f"Describe the image: 1 to {PROMPT_MAX_CHARS:,} characters.",
    )
    number_of_images = forms.IntegerField(
        label="Images",
        required=False,
        initial=1,
        widget=_number(1, MAX_IMAGES_PER_PROMPT),
        help_text=f"From 1 to {MAX_IMAGES_PER_PROMPT}; default 1.",
    )
    aspect_ratio = forms.ChoiceField(choices=AspectRatio.choices, initial=AspectRatio.SQUARE)
    generation_model = forms.ChoiceField(
        label="Model", choices=GenerationModel.choices, initial=GenerationModel.IMAGEN_3
    )
    seed = forms.IntegerField(
        required=False,
        initial=0,
        widget=_number(0, SEED_MAX),
        help_text=f"From 0 to {SEED_MAX:,}; the same seed and prompt give the same images. Default 0.",
    )

    def service_arguments(self) -> dict:
        # Left empty: the service's (and the API's) default.
        return {name: value for name, value in self.cleaned_data.items() if value is not None}


def prompt_start_view(model_admin, request):
    def start(form):
        try:
            return prompt_create(user=request.user, meta=request_meta(request), **form.service_arguments())
        except ValidationError as exc:
            validation_error_apply(form, exc)
            return None

    return start_view(
        model_admin,
        request,
        form_class=PromptForm,
        fieldsets=[
            (
                None,
                {"fields": ["prompt_text", "number_of_images", "aspect_ratio", "generation_model", "seed"]},
            )
        ],
        start=start,
        title="Generate images from a prompt",
        submit_label="Generate",
        extra_context={
            "start_intro": "The images are generated in the background by the configured image backend.",
        },
    )


# --- persona tasks -------------------------------------------------------------------------------


class PersonaTaskForm(forms.Form):
    persona_description = forms.CharField(
        label="Who are the personas?",
        widget=forms.Textarea(attrs={"rows": 5, "cols": 70}),
        help_text=f"1 to {DESCRIPTION_MAX_CHARS:,} characters.",
    )
    bio_language = forms.CharField(
        label="Language of the bios",
        initial="English",
        help_text=f"A language name or code (English, de, pt-BR); at most {LANGUAGE_MAX_CHARS} characters.",
    )
    number_to_generate = forms.IntegerField(
        label="Personas",
        widget=_number(1, MAX_PERSONAS_PER_TASK),
        help_text=f"From 1 to {MAX_PERSONAS_PER_TASK}.",
    )
    images_per_persona = forms.TypedChoiceField(
        label="Images per persona",
        choices=ImagesPerPersona.choices,
        coerce=int,
        initial=ImagesPerPersona.FOUR,
        widget=forms.RadioSelect,
    )


def persona_task_start_view(model_admin, request):
    def start(form):
        try:
            return avatar_task_create(user=request.user, meta=request_meta(request), **form.cleaned_data)
        except ValidationError as exc:
            validation_error_apply(form, exc)
            return None

    return start_view(
        model_admin,
        request,
        form_class=PersonaTaskForm,
        fieldsets=[
            (
                None,
                {
                    "fields": [
                        "persona_description",
                        "bio_language",
                        "number_to_generate",
                        "images_per_persona",
                    ]
                },
            )
        ],
        start=start,
        title="Generate a persona dataset",
        submit_label="Generate personas",
        extra_context={
            "start_intro": (
                "The personas' data is written first, then a base portrait and its variations for "
                "each. When it is done, export the dataset as JSON, CSV or a ZIP with the images."
            ),
        },
    )


# --- progress ------------------------------------------------------------------------------------


def _scope(queryset, user):
    return visible_to(queryset, user=user)


def prompt_progress(prompt: Prompt) -> Progress:
    made = prompt.generated_images.count()
    return Progress(
        status=prompt.status,
        status_label=prompt.get_status_display(),
        percent=100 if prompt.status == PromptStatus.COMPLETED else None,
        step=f"{made} of {prompt.number_of_images} images",
        terminal=prompt.status in prompts.FINISHED_STATUSES,
        cancellable=prompt.status in prompts.CANCELLABLE_STATUSES,
        error=prompt.error_message or "",
    )


def persona_task_progress(task: GenerationTask) -> Progress:
    planned = task.number_to_generate + task.images_expected
    done = min(task.personas_generated, task.number_to_generate) + min(
        task.images_generated, task.images_expected
    )
    return Progress(
        status=task.status,
        status_label=task.get_status_display(),
        percent=100 if task.status == TaskStatus.COMPLETED else done * 100 // max(planned, 1),
        step=(
            f"{task.personas_generated} of {task.number_to_generate} personas, "
            f"{task.images_generated} of {task.images_expected} images"
        ),
        terminal=task.status in avatar_tasks.FINISHED_STATUSES,
        cancellable=task.status in avatar_tasks.CANCELLABLE_STATUSES,
        error=task.error_log or "",
    )


def _change_context(model_admin, request, object_id, snapshot) -> tuple[object | None, dict]:
    try:
        obj = visible_object(model_admin, request, object_id, scope=_scope)
    except (Http404, PermissionDenied):  # the change view answers these itself
        return None, {}
    return obj, progress_context(model_admin, request, obj, snapshot=snapshot, cancel=True)


def _prompt_cancel(prompt, request):
    return prompts.prompt_cancel(prompt=prompt, actor=request.user, meta=request_meta(request))


def _persona_task_cancel(task, request):
    return avatar_tasks.avatar_task_cancel(task=task, actor=request.user, meta=request_meta(request))


def prompt_urls(model_admin) -> list:
    return progress_urls(model_admin, snapshot=prompt_progress, scope=_scope, cancel=_prompt_cancel)


def prompt_change_context(model_admin, request, object_id) -> dict:
    return _change_context(model_admin, request, object_id, prompt_progress)[1]


def persona_task_urls(model_admin) -> list:
    def export_view(request, object_id, fmt):
        task = visible_object(model_admin, request, object_id, scope=_scope)
        if fmt not in EXPORT_FORMATS:
            raise Http404("No such export format.")
        chunks, content_type, filename = avatar_task_export(task=task, fmt=fmt)
        response = StreamingHttpResponse(in_blocks(chunks), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    export = path(
        "<path:object_id>/export/<str:fmt>/",
        model_admin.admin_site.admin_view(export_view),
        name="generation_generationtask_export",
    )
    progress = progress_urls(
        model_admin, snapshot=persona_task_progress, scope=_scope, cancel=_persona_task_cancel
    )
    return [export, *progress]


def persona_task_change_context(model_admin, request, object_id) -> dict:
    task, context = _change_context(model_admin, request, object_id, persona_task_progress)
    if task is None:
        return context
    buttons = [
        {
            "label": f"Export {fmt.upper()}",
            "url": reverse("admin:generation_generationtask_export", args=[task.pk, fmt]),
            "download": True,
        }
        for fmt in EXPORT_FORMATS
    ]
    return {**context, "sd_buttons": buttons}


# --- thumbnails ----------------------------------------------------------------------------------


def generated_image_urls(model_admin) -> list:
    def thumbnail_view(request, object_id):
        image = visible_object(model_admin, request, object_id, scope=_scope)
        try:
            data = generated_image_bytes(image=image)
        except ValidationError:
            raise Http404("The stored image cannot be decoded.") from None
        return thumbnail_response(lambda: io.BytesIO(data), size=PAGE_THUMBNAIL)

    view = model_admin.admin_site.admin_view(thumbnail_view)
    return [path("<path:object_id>/thumbnail/", view, name="generation_generatedimage_thumbnail")]


def generated_image_thumbnail(image, *, size: int = LIST_THUMBNAIL) -> str:
    if not image.pk:
        return "—"
    url = reverse("admin:generation_generatedimage_thumbnail", args=[image.pk])
    return format_html(
        '<img src="{}" alt="generated image {}" loading="lazy" class="sd-thumb-{}">', url, image.pk, size
    )


def _persona_scope(queryset, user):
    return visible_to(queryset, user=user, owner_field="task__user")


def persona_urls(model_admin) -> list:
    def image_view(request, object_id, number, size):
        persona = visible_object(model_admin, request, object_id, scope=_persona_scope)
        keys = [key for key in (persona.images or []) if isinstance(key, str)]
        if number >= len(keys):
            raise Http404("No such image.")
        return stored_thumbnail_response(keys[number], size=size)

    wrap = model_admin.admin_site.admin_view
    return [
        path(
            "<path:object_id>/image/<int:number>/",
            wrap(lambda request, object_id, number: image_view(request, object_id, number, PAGE_THUMBNAIL)),
            name="generation_generatedpersona_image",
        ),
        path(
            "<path:object_id>/image/<int:number>/large/",
            wrap(lambda request, object_id, number: image_view(request, object_id, number, LARGE_SIZE)),
            name="generation_generatedpersona_image_large",
        ),
    ]


def _persona_image(persona: GeneratedPersona, number: int, size: int) -> str:
    small = reverse("admin:generation_generatedpersona_image", args=[persona.pk, number])
    large = reverse("admin:generation_generatedpersona_image_large", args=[persona.pk, number])
    return format_html(
        '<a href="{}"><img src="{}" alt="{} image {}" loading="lazy" class="sd-thumb-{}"></a>',
        large,
        small,
        persona,
        number + 1,
        size,
    )


def persona_portrait(persona: GeneratedPersona) -> str:
    """The persona's first image, small (lists)."""
    if not persona.pk or not persona.images:
        return "—"
    return _persona_image(persona, 0, LIST_THUMBNAIL)


def persona_gallery(persona: GeneratedPersona) -> str:
    """Every image of the persona, each linking to a larger copy."""
    if not persona.pk or not persona.images:
        return "—"
    tiles = format_html_join(
        "",
        "{}",
        ((_persona_image(persona, number, PAGE_THUMBNAIL),) for number in range(len(persona.images))),
    )
    return format_html('<div class="sd-persona-gallery">{}</div>', tiles)
