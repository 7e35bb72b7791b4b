"""Starting and cancelling workflows.

`workflow_create` validates everything first (nothing is written on bad input), then in one
transaction writes the workflow (running), one pending `PlatformState` per platform and an audit
row; once that commits, the engine's first step is queued per platform and the call returns: the
work happens in the background (`workflows.services.engine`).

The engine reads its source from one place: `source_content` holds the manual text, or in
template mode the rendered template (`template_input` is kept as given), plus the chosen
`resource_ids` as strings.

Errors are `ValidationError`s keyed like the API's input; nested input uses dotted keys
(`source_content.text`, `manual_options.tone`), as `workflows.content_templates` does.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from accounts.request_meta import RequestMeta
from accounts.selectors import visible_to
from accounts.services.audit import audit_log_write
from core.locking import row_lock
from workflows.errors import NotVisible, WorkflowNotCancellable
from workflows.models import (
    LIVE_PUBLISHING_STATUSES,
    Platform,
    PlatformState,
    PlatformStatus,
    PublishingStatus,
    Resource,
    Workflow,
    WorkflowMode,
    WorkflowStatus,
)

MAX_SOURCE_CHARS = 50_000
MAX_TITLE_CHARS = 300
MAX_URLS = 10
MAX_URL_CHARS = 2000
MAX_RESOURCE_IDS = 20
MAX_TONE_CHARS = 100
MAX_OPTION_CHARS = 500
MAX_HASHTAGS = 30
MAX_HASHTAG_CHARS = 100
LENGTHS = ("short", "medium", "long")
CANCELLABLE = (WorkflowStatus.RUNNING, WorkflowStatus.AWAITING_REVIEW)


# --- validation --------------------------------------------------------------------------------


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _clean_urls(raw: Any, errors: dict[str, str]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        errors["source_content.urls"] = "Give a list of URLs."
        return []
    if len(raw) > MAX_URLS:
        errors["source_content.urls"] = f"At most {MAX_URLS} URLs."
        return []
    validate = URLValidator(schemes=["http", "https"])
    urls: list[str] = []
    for index, url in enumerate(raw):
        if not _is_text(url) or len(url) > MAX_URL_CHARS:
            errors[f"source_content.urls.{index}"] = "Enter a valid http(s) URL."
            continue
        try:
            validate(url.strip())
        except ValidationError:
            errors[f"source_content.urls.{index}"] = "Enter a valid http(s) URL."
            continue
        urls.append(url.strip())
    return list(dict.fromkeys(urls))


def source_content_clean(raw: Any) -> dict:
    """Manual source: {"text" (required), "title", "urls"}; ValidationError keyed `source_content...`."""
    if not isinstance(raw, dict):
        raise ValidationError({"source_content": "Give the source as an object with `text`."})
    errors: dict[str, str] = {}
    unknown = sorted(set(raw) - {"text", "title", "urls"})
    for key in unknown:
        errors[f"source_content.{key}"] = "Unknown field."
    text = raw.get("text")
    if not _is_text(text) or not text.strip():
        errors["source_content.text"] = "The source text is required."
    elif len(text) > MAX_SOURCE_CHARS:
        errors["source_content.text"] = f"At most {MAX_SOURCE_CHARS} characters (got {len(text)})."
    title = raw.get("title")
    if title is None:
        title = ""
    elif not _is_text(title):
        errors["source_content.title"] = "Must be text."
    elif len(title.strip()) > MAX_TITLE_CHARS:
        errors["source_content.title"] = f"At most {MAX_TITLE_CHARS} characters."
    urls = _clean_urls(raw.get("urls"), errors)
    if errors:
        raise ValidationError(errors)
    return {"text": text.strip(), "title": title.strip(), "urls": urls}


def source_content_from_url(url: Any) -> dict:
    """A manual source read from a web page: the page's main text and title, the URL as its link.
    The URL is checked by the same rule as `source_content.urls`; a page that cannot be read is a
    ValidationError on `source_content.urls` (nothing is written either way)."""
    from core.pages import PageFetchError, page_main_text

    errors: dict[str, str] = {}
    urls = _clean_urls([url], errors)
    if errors or not urls:
        raise ValidationError({"source_content.urls": "Enter a valid http(s) URL."})
    try:
        page = page_main_text(urls[0])
    except PageFetchError as exc:
        raise ValidationError({"source_content.urls": str(exc)}) from None
    text = page.text.strip()[:MAX_SOURCE_CHARS]
    if not text:
        raise ValidationError({"source_content.urls": "The page has no readable text."})
    return {"text": text, "title": (page.title or "").strip()[:MAX_TITLE_CHARS], "urls": urls}


def manual_options_clean(raw: Any) -> dict:
    """tone, length (short|medium|long), hashtags (bool or list of words), call_to_action, audience."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError({"manual_options": "Give the options as an object."})
    errors: dict[str, str] = {}
    options: dict[str, Any] = {}
    for key in sorted(set(raw) - {"tone", "length", "hashtags", "call_to_action", "audience"}):
        errors[f"manual_options.{key}"] = "Unknown option."
    text_options = {"tone": MAX_TONE_CHARS, "call_to_action": MAX_OPTION_CHARS, "audience": MAX_OPTION_CHARS}
    for key, limit in text_options.items():
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        if not _is_text(value):
            errors[f"manual_options.{key}"] = "Must be text."
        elif len(value.strip()) > limit:
            errors[f"manual_options.{key}"] = f"At most {limit} characters."
        elif value.strip():
            options[key] = value.strip()
    length = raw.get("length")
    if length is not None:
        if length not in LENGTHS:
            errors["manual_options.length"] = f"Choose one of: {', '.join(LENGTHS)}."
        else:
            options["length"] = length
    hashtags = raw.get("hashtags")
    if isinstance(hashtags, bool):
        options["hashtags"] = hashtags
    elif isinstance(hashtags, list):
        words = []
        for tag in hashtags:
            if not _is_text(tag) or not tag.strip().lstrip("#").strip() or len(tag) > MAX_HASHTAG_CHARS:
                errors["manual_options.hashtags"] = (
                    f"Each hashtag is a word of at most {MAX_HASHTAG_CHARS} characters."
                )
                break
            words.append(tag.strip())
        if len(hashtags) > MAX_HASHTAGS:
            errors["manual_options.hashtags"] = f"At most {MAX_HASHTAGS} hashtags."
        options["hashtags"] = list(dict.fromkeys(words))
    elif hashtags is not None:
        errors["manual_options.hashtags"] = "Give true, false or a list of hashtags."
    if errors:
        raise ValidationError(errors)
    return options


def platforms_clean(raw: Any) -> list[str]:
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationError({"platforms": "Choose at least one platform."})
    unknown = [p for p in raw if p not in Platform.values]
    if unknown:
        raise ValidationError(
            {"platforms": f"Unknown platform {unknown[0]!r}; choose from: {', '.join(Platform.values)}."}
        )
    if len(set(raw)) != len(raw):
        raise ValidationError({"platforms": "Each platform may appear once."})
    return list(raw)


def resource_ids_clean(raw: Any, *, user) -> list[str]:
    """The user's own resources only: another user's id is "unknown", exactly like a made-up one."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise ValidationError({"resource_ids": "Give a list of resource ids."})
    if len(raw) > MAX_RESOURCE_IDS:
        raise ValidationError({"resource_ids": f"At most {MAX_RESOURCE_IDS} resources."})
    ids: list[uuid.UUID] = []
    for value in raw:
        try:
            ids.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except (TypeError, ValueError, AttributeError):
            raise ValidationError({"resource_ids": f"Unknown resource {str(value)[:64]!r}."}) from None
    ids = list(dict.fromkeys(ids))
    owned = set(Resource.objects.filter(user=user, pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in owned]
    if missing:
        raise ValidationError({"resource_ids": f"Unknown resource {str(missing[0])!r}."})
    return [str(i) for i in ids]


def _template_source(template_input: Any) -> tuple[dict, dict]:
    """(template_input as stored, rendered source_content)."""
    from workflows.content_templates import template_render

    if not isinstance(template_input, dict):
        raise ValidationError({"template_input": "Give the template name and its fields."})
    unknown = sorted(set(template_input) - {"template", "fields"})
    if unknown:
        raise ValidationError({f"template_input.{key}": "Unknown field." for key in unknown})
    name = template_input.get("template")
    if not _is_text(name) or not name:
        raise ValidationError({"template_input.template": "Name a template."})
    fields = template_input.get("fields") or {}
    source = template_render(name=name, fields=fields)
    if not source.text.strip():
        raise ValidationError({"template_input": "The template rendered no text."})
    stored = {"template": name, "fields": fields}
    rendered = {"text": source.text, "title": source.title, "urls": list(source.urls), "template": name}
    return stored, rendered


# --- services ----------------------------------------------------------------------------------


def workflow_create(
    *,
    user,
    mode: str,
    platforms: list[str],
    source_content: dict | None = None,
    template_input: dict | None = None,
    manual_options: dict | None = None,
    resource_ids: list | None = None,
    meta: RequestMeta | None = None,
) -> Workflow:
    """Validate, write the workflow and its pending platform states, queue the engine; returns at once."""
    from workflows.services.engine import platform_step_queue

    errors: dict[str, list[str]] = {}

    def collect(clean, *args, **kwargs):
        try:
            return clean(*args, **kwargs)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
            return None

    if mode not in WorkflowMode.values:
        errors["mode"] = [f"Choose one of: {', '.join(WorkflowMode.values)}."]
    stored_template = None
    source = None
    if mode == WorkflowMode.MANUAL:
        if template_input is not None:
            errors["template_input"] = ["Only in template mode."]
        if source_content is None:
            errors["source_content"] = ["The source text is required in manual mode."]
        else:
            source = collect(source_content_clean, source_content)
    elif mode == WorkflowMode.TEMPLATE:
        if source_content is not None:
            errors["source_content"] = ["Only in manual mode: template mode renders its source."]
        if template_input is None:
            errors["template_input"] = ["The template and its fields are required in template mode."]
        else:
            result = collect(_template_source, template_input)
            if result is not None:
                stored_template, source = result
    chosen = collect(platforms_clean, platforms)
    options = collect(manual_options_clean, manual_options)
    resources = collect(resource_ids_clean, resource_ids, user=user)
    if errors:
        raise ValidationError(errors)

    source = {**source, "resource_ids": resources}
    with transaction.atomic():
        workflow = Workflow.objects.create(
            user=user,
            status=WorkflowStatus.RUNNING,
            mode=mode,
            source_content=source,
            template_input=stored_template,
            manual_options=options,
        )
        states = PlatformState.objects.bulk_create(
            [PlatformState(workflow=workflow, platform=p, status=PlatformStatus.PENDING) for p in chosen]
        )
        audit_log_write(
            action="workflow.created",
            actor=user,
            target=workflow,
            meta=meta,
            details={"mode": mode, "platforms": chosen, "resource_ids": resources},
        )
        for state in states:
            platform_step_queue(state_id=state.pk)
    return workflow


def workflow_cancel(*, workflow: Workflow, actor, meta: RequestMeta | None = None) -> Workflow:
    """running / awaiting_review -> cancelled. Platforms still working stop at their next step (the
    step finds the workflow cancelled); queued and scheduled publishing jobs are cancelled with it.
    Cancelling a cancelled workflow changes nothing; any other status is WorkflowNotCancellable (409)."""
    from workflows.services.publishing import publishing_job_cancel

    if actor is not None and not visible_to(Workflow.objects.filter(pk=workflow.pk), user=actor).exists():
        raise NotVisible("No such workflow.")
    with transaction.atomic():
        locked = row_lock(row=workflow)
        if locked.status == WorkflowStatus.CANCELLED:
            return locked
        if locked.status not in CANCELLABLE:
            raise WorkflowNotCancellable(
                f"The workflow is {locked.get_status_display().lower()}; it cannot be cancelled."
            )
        previous = locked.status
        locked.status = WorkflowStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        # A job already `publishing` is in flight and cannot be called back; it finishes on its own.
        jobs = list(
            locked.publishing_jobs.filter(
                status__in=[s for s in LIVE_PUBLISHING_STATUSES if s != PublishingStatus.PUBLISHING]
            )
        )
        for job in jobs:
            publishing_job_cancel(job=job, actor=actor, meta=meta)
        audit_log_write(
            action="workflow.cancelled",
            actor=actor,
            target=locked,
            meta=meta,
            details={"from": previous, "cancelled_jobs": [str(job.pk) for job in jobs]},
        )
    return locked
