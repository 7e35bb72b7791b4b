"""Where an artifact's bytes live: Django's default storage, under a key made of owner and hash.

The key is content-addressed (`artifacts/<user>/<hash[:2]>/<hash>`), so writing the same bytes
twice is a no-op: a run that crashed after the write and before the database row finds the file
there and skips the write. Any storage backend works (local files by default, S3/MinIO through
django-storages); `Artifact.minio_path` holds the key.
"""

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)


def artifact_storage_key(*, user_id, content_hash: str) -> str:
    """The storage key of a user's content: `artifacts/<user>/<hash[:2]>/<hash>`."""
    content_hash = str(content_hash).lower()
    return f"artifacts/{user_id}/{content_hash[:2]}/{content_hash}"


def artifact_bytes_store(*, key: str, content: bytes) -> str:
    """Write `content` at `key` unless something is there already (same key = same bytes).

    Two workers storing the same content at once: the loser's storage may pick another name
    (FileSystemStorage appends a suffix); that copy is removed and the key is returned.
    """
    if default_storage.exists(key):
        return key
    saved = default_storage.save(key, ContentFile(content))
    if saved != key:
        default_storage.delete(saved)
    return key


def artifact_bytes_delete(*, key: str | None) -> None:
    """Remove a stored file; a missing file or a storage failure is logged, never raised (the row
    is gone already, and an orphan file is only disk space)."""
    if not key:
        return
    try:
        default_storage.delete(key)
    except Exception:
        logger.warning("Could not delete the stored artifact file %s", key, exc_info=True)
