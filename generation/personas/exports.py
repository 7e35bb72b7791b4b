"""Exports of a persona task: JSON, CSV and ZIP, produced as streams of bytes.

Nothing is built in memory: personas are read from the database in chunks (`iterator()`), each
one is serialised and handed on before the next is read; images are copied from storage in
blocks. The ZIP is written by `zipfile` into a sink that the generator drains after every write,
so at most one block is held at a time (zipfile writes data descriptors when it cannot seek).

Layout of the ZIP (as the original's): `details.csv` (every persona) at the top, then one folder
per persona, `profiles/<First_Last>/details.json` with its images in
`profiles/<First_Last>/images/1.png ... n`. Folder names are the persona's name made file-safe;
a repeated name gets `_2`, `_3`, ...
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import default_storage

from generation.models import GeneratedPersona, GenerationTask

EXPORT_FORMATS = ("json", "csv", "zip")
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "zip": "application/zip"}
CHUNK_SIZE = 100
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


def _csv_row(persona: GeneratedPersona) -> list[Any]:
    values = [getattr(persona, name) for name in PERSONA_COLUMNS]
    values = ["" if value is None else value for value in values]
    return [*values, ";".join(persona.images or []), len(persona.image_errors or [])]


def csv_rows(task: GenerationTask) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for persona in _personas(task):
        yield writer.writerow(_csv_row(persona))


def export_csv(task: GenerationTask) -> Iterator[bytes]:
    """A header and one row per persona; `images` holds the storage keys separated by `;`."""
    yield "\ufeff".encode()  # a BOM, so spreadsheet programs read UTF-8
    for line in csv_rows(task):
        yield line.encode()


# --- ZIP -----------------------------------------------------------------------------------------


class _Sink:
    """A write-only, non-seekable file for zipfile; the generator drains it after each write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data) -> int:
        data = bytes(data)
        self._parts.append(data)
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def folder_name(persona: GeneratedPersona) -> str:
    """`First_Last` made safe for a path inside a ZIP (letters of any script kept)."""
    name = unicodedata.normalize("NFC", f"{persona.first_name} {persona.last_name}".strip())
    name = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_.")
    return name[:100] or f"persona_{persona.position + 1}"


def _extension(key: str) -> str:
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", key)
    return match.group(1).lower() if match else "png"


def export_zip(task: GenerationTask) -> Iterator[bytes]:
    sink = _Sink()
    used: set[str] = set()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        with archive.open("details.csv", mode="w") as entry:
            entry.write("\ufeff".encode())
            for line in csv_rows(task):
                entry.write(line.encode())
                yield sink.drain()
        yield sink.drain()
        for persona in _personas(task):
            folder = base = folder_name(persona)
            suffix = 2
            while folder in used:
                folder, suffix = f"{base}_{suffix}", suffix + 1
            used.add(folder)
            names = [f"images/{n}.{_extension(key)}" for n, key in enumerate(persona.images or [], 1)]
            details = _dumps(persona_record(persona, images=names)).encode()
            archive.writestr(f"profiles/{folder}/details.json", details)
            yield sink.drain()
            for name, key in zip(names, persona.images or [], strict=True):
                yield from _copy_image(archive, sink, key=key, name=f"profiles/{folder}/{name}")
    yield sink.drain()


def _copy_image(archive: zipfile.ZipFile, sink: _Sink, *, key: str, name: str) -> Iterator[bytes]:
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
            yield sink.drain()
    yield sink.drain()


EXPORTERS = {"json": export_json, "csv": export_csv, "zip": export_zip}


def avatar_task_export(*, task: GenerationTask, fmt: str) -> tuple[Iterator[bytes], str, str]:
    """(byte chunks, content type, file name) of the task's export in `fmt` (one of EXPORT_FORMATS)."""
    exporter = EXPORTERS[fmt]
    return (chunk for chunk in exporter(task) if chunk), CONTENT_TYPES[fmt], export_filename(task, fmt)
