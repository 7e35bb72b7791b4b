"""A user's resources: style samples, references and images that feed generation.

A resource is text: given as `content`, or fetched from `url` (the page's main text through
`core.pages.page_main_text`; the page's title when none is given; metadata `source_url`,
`fetched_at`, `language`). An image resource is never fetched: its content is a description of
the image, or its URL (kept in metadata `url`). The fetch happens before any transaction.
Creation and deletion are audited.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from core import urlguard
from core.locking import row_lock
from workflows.models import Resource, ResourceType

MAX_CONTENT_CHARS = 100_000
MAX_TITLE_CHARS = 255
MAX_URL_CHARS = 2_000
MAX_METADATA_CHARS = 10_000
# Keys the service sets from a fetch; a caller's metadata may not forge them.
FETCH_KEYS = ("source_url", "fetched_at", "language")


def _clean_type(value) -> str:
    if value not in ResourceType.values:
        raise ValidationError({"type": f"Choose one of: {', '.join(ResourceType.values)}."})
    return value


def _clean_title(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({"title": "Must be text."})
    value = value.strip()
    if len(value) > MAX_TITLE_CHARS:
        raise ValidationError({"title": f"At most {MAX_TITLE_CHARS} characters."})
    return value


def _clean_content(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"content": "The text is empty."})
    value = value.strip()
    if len(value) > MAX_CONTENT_CHARS:
        raise ValidationError({"content": f"At most {MAX_CONTENT_CHARS:,} characters (got {len(value):,})."})
    return value


def _clean_metadata(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"metadata": "Must be an object."})
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        raise ValidationError({"metadata": "Must be plain JSON."}) from None
    if size > MAX_METADATA_CHARS:
        raise ValidationError({"metadata": f"At most {MAX_METADATA_CHARS:,} characters of JSON."})
    return value


def _clean_url(value) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise ValidationError({"url": "Enter a valid http(s) URL."})
    value = value.strip()
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError({"url": "Enter a valid http(s) URL."}) from None
    try:
        urlguard.check_url(value, resolve=False)
    except urlguard.OutboundRefused as exc:
        raise ValidationError({"url": str(exc)}) from None
    return value


def resource_create(
    *,
    user,
    type: str,
    title: str = "",
    content: str | None = None,
    url: str | None = None,
    metadata: dict | None = None,
    meta: RequestMeta | None = None,
) -> Resource:
    """Create a resource from `content` or from `url` (exactly one of them)."""
    from core.pages import PageFetchError, page_main_text

    kind = _clean_type(type)
    title = _clean_title(title)
    extra = _clean_metadata(metadata)
    if content is not None and url is not None:
        raise ValidationError({"url": "Give either the text (`content`) or a `url`, not both."})
    if content is None and url is None:
        raise ValidationError({"content": "Give the text (`content`) or a `url` to fetch it from."})

    if content is not None:
        text = _clean_content(content)
    elif kind == ResourceType.IMAGE:
        # Images are described, not downloaded: the URL itself is what generation gets.
        text = _clean_url(url)
        extra = {**extra, "url": text}
    else:
        address = _clean_url(url)
        try:
            page = page_main_text(address)
        except PageFetchError as exc:
            raise ValidationError({"url": str(exc)}) from None
        text = page.text.strip()
        if not text:
            raise ValidationError({"url": "The page has no readable text."})
        extra = {key: value for key, value in extra.items() if key not in FETCH_KEYS}
        if len(text) > MAX_CONTENT_CHARS:
            text = text[:MAX_CONTENT_CHARS]
            extra["truncated"] = True
        extra["source_url"] = page.url or address
        extra["fetched_at"] = timezone.now().isoformat()
        extra["language"] = page.language
        title = title or (page.title or "").strip()[:MAX_TITLE_CHARS]

    with transaction.atomic():
        resource = Resource.objects.create(
            user=user, type=kind, title=title, content=text, metadata=extra or None
        )
        audit_log_write(
            action="resource.created",
            actor=user,
            target=resource,
            meta=meta,
            details={"type": kind, "from_url": url is not None, "characters": len(text)},
        )
    return resource


def resource_update(
    *,
    resource: Resource,
    actor,
    title: str | None = None,
    content: str | None = None,
    metadata: dict | None = None,
    meta: RequestMeta | None = None,
) -> Resource:
    """Change a resource's title, text or metadata (None leaves a field as it is)."""
    changes: dict = {}
    if title is not None:
        changes["title"] = _clean_title(title)
    if content is not None:
        changes["content"] = _clean_content(content)
    if metadata is not None:
        changes["metadata"] = _clean_metadata(metadata) or None
    if not changes:
        return resource
    with transaction.atomic():
        locked = row_lock(row=resource)
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_log_write(
            action="resource.updated",
            actor=actor,
            target=locked,
            meta=meta,
            details={"fields": sorted(changes)},
        )
    return locked


def resource_delete(*, resource: Resource, actor, meta: RequestMeta | None = None) -> None:
    """Delete a resource. Workflows that chose it simply go without it from their next step on."""
    with transaction.atomic():
        audit_log_write(
            action="resource.deleted",
            actor=actor,
            target=resource,
            meta=meta,
            details={"type": resource.type, "title": resource.title},
        )
        Resource.objects.filter(pk=resource.pk).delete()
