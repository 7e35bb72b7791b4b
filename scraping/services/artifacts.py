"""Changes a user makes to stored artifacts: title, description, visibility, tags, deletion.

The runner creates artifacts (`scraping.services.runner`); these services edit them. The caller
passes an artifact it already found through a selector (so another user's artifact is a 404
before it gets here); each change writes an audit row.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write
from scraping.models import Artifact
from scraping.services.storage import artifact_bytes_delete

MAX_TAGS = 50
MAX_TAG_CHARS = 50
TITLE_MAX_CHARS = 500


def artifact_update(
    *,
    artifact: Artifact,
    actor: User,
    title: str | None = None,
    description: str | None = None,
    is_public: bool | None = None,
    meta: RequestMeta | None = None,
) -> Artifact:
    """Change the given fields (None: leave as is). An empty title or description clears it."""
    changes: dict = {}
    if title is not None:
        title = title.strip()
        if len(title) > TITLE_MAX_CHARS:
            raise ValidationError({"title": f"At most {TITLE_MAX_CHARS} characters."})
        changes["title"] = title or None
    if description is not None:
        changes["description"] = description.strip() or None
    if is_public is not None:
        if not isinstance(is_public, bool):
            raise ValidationError({"is_public": "Must be true or false."})
        changes["is_public"] = is_public
    changed = {name: value for name, value in changes.items() if getattr(artifact, name) != value}
    if not changed:
        return artifact
    with transaction.atomic():
        Artifact.objects.filter(pk=artifact.pk).update(**changed, updated_at=timezone.now())
        audit_log_write(
            action="artifact.updated",
            actor=actor,
            target=artifact,
            meta=meta,
            details={"fields": sorted(changed)},
        )
    for name, value in changed.items():
        setattr(artifact, name, value)
    return artifact


def artifact_delete(*, artifact: Artifact, actor: User, meta: RequestMeta | None = None) -> None:
    """Delete the artifact with its tags and extractions; its file goes once the deletion commits
    (a rolled-back deletion keeps a row whose file still exists)."""
    key = artifact.minio_path
    with transaction.atomic():
        audit_log_write(
            action="artifact.deleted",
            actor=actor,
            target=artifact,
            meta=meta,
            details={"content_hash": artifact.content_hash, "owner": artifact.user_id},
        )
        artifact.delete()
        # Only when no other row of the same user points at the key (imports may share one).
        if not Artifact.objects.filter(minio_path=key).exists():
            transaction.on_commit(lambda: artifact_bytes_delete(key=key), robust=True)


def tag_normalise(text: str) -> str:
    """Tags compare case-insensitively: NFKC, lower case, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _normalise_tag(raw) -> str:
    if not isinstance(raw, str):
        raise ValidationError({"tags": "Each tag must be a string."})
    tag = tag_normalise(raw)
    if not tag:
        raise ValidationError({"tags": "Tags cannot be empty."})
    if len(tag) > MAX_TAG_CHARS:
        raise ValidationError({"tags": f"Each tag has at most {MAX_TAG_CHARS} characters."})
    return tag


def _normalise_tags(tags) -> list[str]:
    if not isinstance(tags, list | tuple) or not tags:
        raise ValidationError({"tags": "Give a non-empty list of tags."})
    return list(dict.fromkeys(_normalise_tag(tag) for tag in tags))


def _write_tags(*, artifact: Artifact, actor: User, meta, action: str, compute) -> Artifact:
    with transaction.atomic():
        # Locked, so two concurrent tag requests do not overwrite each other's list.
        current = Artifact.objects.select_for_update().values_list("tags", flat=True).get(pk=artifact.pk)
        before = list(current or [])
        after, details = compute(before)
        if after != before:
            Artifact.objects.filter(pk=artifact.pk).update(tags=after, updated_at=timezone.now())
            audit_log_write(action=action, actor=actor, target=artifact, meta=meta, details=details)
    artifact.tags = after
    return artifact


def artifact_tags_add(
    *, artifact: Artifact, actor: User, tags: list[str], meta: RequestMeta | None = None
) -> Artifact:
    """Add tags (normalised, deduplicated); more than MAX_TAGS in all is a ValidationError."""
    wanted = _normalise_tags(tags)

    def compute(before: list[str]):
        after = list(dict.fromkeys([*before, *wanted]))
        if len(after) > MAX_TAGS:
            raise ValidationError({"tags": f"An artifact has at most {MAX_TAGS} tags."})
        return after, {"added": [tag for tag in after if tag not in before]}

    return _write_tags(
        artifact=artifact, actor=actor, meta=meta, action="artifact.tags_added", compute=compute
    )


def artifact_tags_remove(
    *, artifact: Artifact, actor: User, tags: list[str], meta: RequestMeta | None = None
) -> Artifact:
    """Remove tags (compared after normalisation); tags it does not have are ignored."""
    unwanted = set(_normalise_tags(tags))

    def compute(before: list[str]):
        after = [tag for tag in before if tag not in unwanted]
        return after, {"removed": [tag for tag in before if tag in unwanted]}

    return _write_tags(
        artifact=artifact, actor=actor, meta=meta, action="artifact.tags_removed", compute=compute
    )
