"""Exports of a persona task: JSON, CSV and ZIP, produced as streams of bytes in constant memory.

Nothing is built in memory and nothing grows with the number of personas: they are read from the
database in chunks (`iterator()`: a server-side cursor on PostgreSQL), each one is serialised and
handed on before the next is read; images are copied from storage in blocks. The ZIP is written by
zipfile into a sink drained after every write, with the entries' infos for its central directory
kept on disk (generation.personas.zipstream), and the folder names already given kept in a
temporary SQLite database on disk (`_FolderNames`).

Layout of the ZIP (as the original's): `details.csv` (every persona) at the top, then one folder
per persona, `profiles/<First_Last>/details.json` with its images in
`profiles/<First_Last>/images/1.png ... n`. Folder names are the persona's name made file-safe;
a repeated name gets `_2`, `_3`, ...
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.files.storage import default_storage

from generation.models import GeneratedPersona, GenerationTask
from generation.personas.zipstream import StreamSink, StreamZip

EXPORT_FORMATS = ("json", "csv", "zip")
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "zip": "application/zip"}
# Rows per fetch: a few MB of personas at most, and few round trips for 100,000 of them.
CHUNK_SIZE = 1000
COPY_BLOCK = 64 * 1024
PERSONA_COLUMNS = (
    "position",
    "first_name",
    "last_name",
    "gender",
    "age",
    "ethnicity",
    "job_title",
    "workplace",
    "education",
    "current_city",
    "current_state",
    "previous_city",
    "previous_state",
    "about",
    "bio_facebook",
    "bio_instagram",
    "bio_x",
    "bio_tiktok",
)
CSV_COLUMNS = (*PERSONA_COLUMNS, "images", "image_errors")
TASK_FIELDS = (
    "task_id",
    "status",
    "persona_description",
    "bio_language",
    "number_to_generate",
    "images_per_persona",
    "personas_generated",
    "images_generated",
)


def export_filename(task: GenerationTask, fmt: str) -> str:
    return f"personas-{task.task_id}.{fmt}"


def _personas(task: GenerationTask) -> Iterator[GeneratedPersona]:
    return GeneratedPersona.objects.filter(task=task).order_by("position").iterator(chunk_size=CHUNK_SIZE)


def _csv_values(task: GenerationTask) -> Iterator[tuple]:
    # Tuples, not models: the CSV needs only the columns, and builds no instance per row.
    columns = (*PERSONA_COLUMNS, "images", "image_errors")
    queryset = GeneratedPersona.objects.filter(task=task).order_by("position").values_list(*columns)
    return queryset.iterator(chunk_size=CHUNK_SIZE)


def persona_record(persona: GeneratedPersona, *, images: list[str] | None = None) -> dict[str, Any]:
    """A persona as exported: its fields, its image keys (or the given names), errors, metadata."""
    record: dict[str, Any] = {name: getattr(persona, name) for name in PERSONA_COLUMNS}
    record["full_name"] = persona.full_name
    record["images"] = list(persona.images or []) if images is None else images
    record["image_errors"] = list(persona.image_errors or [])
    record["metadata"] = persona.metadata or {}
    return record


def task_record(task: GenerationTask) -> dict[str, Any]:
    record = {name: getattr(task, name) for name in TASK_FIELDS}
    for name in ("created_at", "completed_at"):
        value = getattr(task, name)
        record[name] = value.isoformat() if value else None
    return record


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- JSON ----------------------------------------------------------------------------------------


def export_json(task: GenerationTask) -> Iterator[bytes]:
    """`{"task": {...}, "personas": [...]}`, one persona per chunk."""
    yield f'{{"task": {_dumps(task_record(task))}, "personas": ['.encode()
    for index, persona in enumerate(_personas(task)):
        yield (("," if index else "") + "\n" + _dumps(persona_record(persona))).encode()
    yield b"\n]}\n"


# --- CSV -----------------------------------------------------------------------------------------


class _Line:
    """A file-like object for csv.writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def _csv_row(values: tuple) -> list[Any]:
    *columns, images, image_errors = values
    columns = ["" if value is None else value for value in columns]
    return [*columns, ";".join(images or []), len(image_errors or [])]


def csv_rows(task: GenerationTask) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for values in _csv_values(task):
        yield writer.writerow(_csv_row(values))


def export_csv(task: GenerationTask) -> Iterator[bytes]:
    """A header and one row per persona; `images` holds the storage keys separated by `;`."""
    yield "\ufeff".encode()  # a BOM, so spreadsheet programs read UTF-8
    for line in csv_rows(task):
        yield line.encode()


# --- ZIP -----------------------------------------------------------------------------------------


def folder_name(persona: GeneratedPersona) -> str:
    """`First_Last` made safe for a path inside a ZIP (letters of any script kept)."""
    name = unicodedata.normalize("NFC", f"{persona.first_name} {persona.last_name}".strip())
    name = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_.")
    return name[:100] or f"persona_{persona.position + 1}"


def _extension(key: str) -> str:
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", key)
    return match.group(1).lower() if match else "png"


class _FolderNames:
    """The folder names given so far, in SQLite's private temporary database (on disk past a small
    page cache), so that 100,000 personas cost no memory. A name's `next` is the first suffix worth
    trying for it: names are only ever added, so a suffix found taken stays taken."""

    def __init__(self) -> None:
        # One consumer at a time, though not always on one thread (a response may be iterated by
        # a server's thread pool).
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.execute("CREATE TABLE names (name TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID")

    def _next(self, name: str) -> int | None:
        row = self._db.execute("SELECT next FROM names WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def unique(self, base: str) -> str:
        """`base`, or the first of `base_2`, `base_3`, ... not given yet."""
        suffix = self._next(base)
        if suffix is None:
            self._db.execute("INSERT INTO names VALUES (?, 2)", (base,))
            return base
        while self._next(name := f"{base}_{suffix}") is not None:
            suffix += 1
        self._db.execute("INSERT INTO names VALUES (?, 2)", (name,))
        self._db.execute("UPDATE names SET next = ? WHERE name = ?", (suffix + 1, base))
        return name

    def close(self) -> None:
        self._db.close()


def export_zip(task: GenerationTask) -> Iterator[bytes]:
    folders = _FolderNames()
    try:
        with StreamZip() as stream:
            archive, sink = stream.archive, stream.sink
            with archive.open("details.csv", mode="w") as entry:
                entry.write("\ufeff".encode())
                for line in csv_rows(task):
                    entry.write(line.encode())
                    yield from sink.drain()
            yield from sink.drain()
            for persona in _personas(task):
                folder = folders.unique(folder_name(persona))
                names = [f"images/{n}.{_extension(key)}" for n, key in enumerate(persona.images or [], 1)]
                details = _dumps(persona_record(persona, images=names)).encode()
                archive.writestr(f"profiles/{folder}/details.json", details)
                yield from sink.drain()
                for name, key in zip(names, persona.images or [], strict=True):
                    yield from _copy_image(archive, sink, key=key, name=f"profiles/{folder}/{name}")
            stream.finish()
            yield from sink.drain()
    finally:
        folders.close()


def _copy_image(archive: zipfile.ZipFile, sink: StreamSink, *, key: str, name: str) -> Iterator[bytes]:
    """One stored image into the archive (stored, not deflated: PNG and JPEG are compressed)."""
    try:
        handle = default_storage.open(key, "rb")
    except (FileNotFoundError, OSError):
        return  # deleted from storage meanwhile: the details still list it under image keys
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    with handle, archive.open(info, mode="w") as entry:
        while block := handle.read(COPY_BLOCK):
            entry.write(block)
            yield from sink.drain()
    yield from sink.drain()


EXPORTERS = {"json": export_json, "csv": export_csv, "zip": export_zip}


def in_blocks(chunks: Iterable[bytes], *, size: int = COPY_BLOCK) -> Iterator[bytes]:
    """The chunks joined into blocks of about `size` bytes, for a response: one write to the
    client per block rather than per row or per ZIP entry (an image entry alone is three pieces).
    Holds at most `size` bytes and one chunk."""
    pending: list[bytes] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(pending)
            pending, length = [], 0
    if pending:
        yield b"".join(pending)


def avatar_task_export(*, task: GenerationTask, fmt: str) -> tuple[Iterator[bytes], str, str]:
    """(byte chunks, content type, file name) of the task's export in `fmt` (one of EXPORT_FORMATS)."""
    exporter = EXPORTERS[fmt]
    return (chunk for chunk in exporter(task) if chunk), CONTENT_TYPES[fmt], export_filename(task, fmt)
