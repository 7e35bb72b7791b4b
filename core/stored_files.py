"""Deleting stored files once the rows that named them are gone (retention, deletions).

Files are removed through Django's storage API (local files, S3/MinIO alike), after the
transaction that deleted their rows commits: a rolled-back delete keeps rows whose files still
exist. Deleting is idempotent: a file already gone counts as deleted (storages delete a missing
name silently; a `FileNotFoundError` is treated the same). Any other storage failure is logged
with the file's name and the error's class only (a storage error's text can carry an endpoint
URL or credentials), counted as failed and never raised: the rows are gone for good by then, and
an orphan file is only space.

A name ending in "/" is a folder: every file stored under it goes (`listdir`, recursively), for
files no row records, such as those an interrupted persona task wrote before recording them.
Folders are swept after the named files, so they count only what was not named.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass
class FileTally:
    """Files deleted (or already gone) and files the storage failed to delete."""

    deleted: int = 0
    failed: int = 0


def stored_files_delete(*, names: Iterable[str], tally: FileTally | None = None) -> FileTally:
    """Delete each named file (or folder, see the module docstring) now; never raises."""
    tally = tally if tally is not None else FileTally()
    names = sorted({name for name in names if name})
    # Files before folders, so a folder's sweep finds (and counts) only what no name listed.
    for name in names:
        if not name.endswith("/"):
            _file_delete(name, tally=tally)
    for name in names:
        if name.endswith("/"):
            _folder_delete(name, tally=tally)
    return tally


def stored_files_delete_on_commit(
    *, names: Iterable[str], tally: FileTally | None = None, using: str | None = None
) -> None:
    """Delete the files once the current transaction commits (at once outside a transaction)."""
    names = [name for name in names if name]
    if names:
        transaction.on_commit(lambda: stored_files_delete(names=names, tally=tally), using=using, robust=True)


def _file_delete(name: str, *, tally: FileTally) -> None:
    try:
        default_storage.delete(name)
    except FileNotFoundError:
        pass  # gone already: what we wanted
    except Exception as exc:
        tally.failed += 1
        logger.warning("Could not delete the stored file %s (%s)", name, type(exc).__name__)
        return
    tally.deleted += 1


def _folder_delete(folder: str, *, tally: FileTally) -> None:
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return  # no such folder: nothing left behind
    except Exception as exc:
        tally.failed += 1
        logger.warning("Could not list the stored folder %s (%s)", folder, type(exc).__name__)
        return
    for file in files:
        _file_delete(f"{folder}{file}", tally=tally)
    for sub in folders:
        _folder_delete(f"{folder}{sub}/", tally=tally)
