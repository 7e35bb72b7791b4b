"""Exports in constant memory: the same bytes as before, rows read in chunks, the ZIP is zipfile's
own archive, and what the export holds does not grow with the number of personas.

The JSON and CSV of a fixed task are compared with files written by the export as it was before it
kept its ZIP bookkeeping on disk (tests/generation/personas/data/); the ZIP with the archive the
standard zipfile writes, holding everything in memory, from the same entries (its deflated bytes
depend on the zlib at hand, so no file of them is kept).
"""

import csv
import datetime
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models.query import QuerySet
from django.http import StreamingHttpResponse

from generation.models import GeneratedPersona, GenerationTask, TaskStatus
from generation.personas import exports
from generation.personas.exports import _FolderNames, avatar_task_export, folder_name, in_blocks
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedPersonaFactory
from tests.isolation import client_for

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
WHEN = datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC)
# Two of one name, a persona actually named like the second's folder, a name that is not file-safe,
# an empty one, and text a CSV must quote.
PEOPLE = [
    ("Sam", "Lee", 34, "Bikes, beans and bridges."),
    ("Sam", "Lee", None, 'Says "hello"\nand waves.'),
    ("Sam", "Lee 2", 51, "Bakes bread; sells it."),
    ("Sam", "Lee", 29, ""),
    ("Zoë", "O'Brien/Smith", 42, "Ünïcödé, and a comma"),
    ("", "", 19, "No name at all."),
]


def _bytes(chunks) -> bytes:
    return b"".join(chunks)


@pytest.fixture
def fixed_task():
    """A task whose export is the same on every run: fixed ids, dates, names and image files."""
    task = GenerationTask.objects.create(
        task_id="golden01",
        user=UserFactory(),
        persona_description="Cyclists who bake.",
        bio_language="English",
        number_to_generate=len(PEOPLE),
        images_per_persona=4,
        status=TaskStatus.COMPLETED,
        personas_generated=len(PEOPLE),
        images_generated=len(PEOPLE) * 2,
    )
    GenerationTask.objects.filter(pk=task.pk).update(created_at=WHEN, completed_at=WHEN)
    task.refresh_from_db()
    for position, (first, last, age, bio) in enumerate(PEOPLE):
        keys = [
            default_storage.save(
                f"personas/golden01/{position}/{n}.png", ContentFile(f"png-{position}-{n}".encode() * 50)
            )
            for n in (1, 2)
        ]
        GeneratedPersonaFactory(
            task=task,
            position=position,
            first_name=first,
            last_name=last,
            age=age,
            bio_x=bio,
            about=f"About #{position}",
            images=keys,
            image_errors=[{"error": "refused", "index": 3}] if position == 2 else [],
            metadata={"seed": position, "locale": "en_US"},  # in jsonb's key order too
        )
    default_storage.delete("personas/golden01/5/2.png")  # gone from storage: listed, not in the ZIP
    return task


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_json_and_csv_are_byte_for_byte_as_before(fixed_task, fmt):
    chunks, _, _ = avatar_task_export(task=fixed_task, fmt=fmt)

    assert _bytes(chunks) == (DATA / f"export-before.{fmt}").read_bytes()


def _zip_in_memory(task) -> bytes:
    """The ZIP as plain zipfile writes it (every entry's info in memory), from the JSON export."""
    data = json.loads(_bytes(avatar_task_export(task=task, fmt="json")[0]))
    output = io.BytesIO()
    given: set[str] = set()

    class Unseekable:
        write, flush = output.write, output.flush

    with zipfile.ZipFile(Unseekable(), "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        with archive.open("details.csv", mode="w") as entry:
            entry.write(_bytes(avatar_task_export(task=task, fmt="csv")[0]))
        for record in data["personas"]:
            folder = base = folder_name(GeneratedPersona(**{k: record[k] for k in exports.PERSONA_COLUMNS}))
            suffix = 2
            while folder in given:
                folder, suffix = f"{base}_{suffix}", suffix + 1
            given.add(folder)
            keys, record["images"] = record["images"], [f"images/{n}.png" for n in range(1, 3)]
            archive.writestr(f"profiles/{folder}/details.json", json.dumps(record, ensure_ascii=False))
            for name, key in zip(record["images"], keys, strict=True):
                if default_storage.exists(key):
                    info = zipfile.ZipInfo(f"profiles/{folder}/{name}")
                    with default_storage.open(key, "rb") as image, archive.open(info, mode="w") as entry:
                        entry.write(image.read())
    return output.getvalue()


def test_the_zip_is_the_archive_zipfile_makes_in_memory(fixed_task, monkeypatch):
    # writestr stamps the current time: the same second for both archives.
    monkeypatch.setattr(zipfile.time, "time", lambda: WHEN.timestamp())

    streamed = _bytes(avatar_task_export(task=fixed_task, fmt="zip")[0])

    assert streamed == _zip_in_memory(fixed_task)
    archive = zipfile.ZipFile(io.BytesIO(streamed))
    assert archive.testzip() is None
    folders = [name.split("/")[1] for name in archive.namelist() if name.endswith("details.json")]
    assert folders == ["Sam_Lee", "Sam_Lee_2", "Sam_Lee_2_2", "Sam_Lee_3", "Zoë_O_Brien_Smith", "persona_6"]
    assert "profiles/persona_6/images/2.png" not in archive.namelist()


def test_folder_names_match_a_set_of_every_name_given():
    bases = ["a", "a", "a_2", "a", "a_2", "b", "a_3", "a", "b", "b_2", "b_2"]
    given: set[str] = set()
    expected = []
    for base in bases:
        name, suffix = base, 2
        while name in given:
            name, suffix = f"{base}_{suffix}", suffix + 1
        given.add(name)
        expected.append(name)
    names = _FolderNames()

    assert [names.unique(base) for base in bases] == expected
    names.close()


def _personas(task, count: int, *, start: int = 0) -> None:
    key = default_storage.save("personas/shared/1.png", ContentFile(b"\x89PNG" + bytes(300)))
    GeneratedPersona.objects.bulk_create(
        GeneratedPersona(
            task=task,
            position=position,
            first_name=f"First{position % 7}",  # repeated names: the suffix path too
            last_name=f"Last{position // 7}",
            age=30,
            bio_x="A bio of a usual length, about cycling and bread. " * 3,
            images=[key, key],
        )
        for position in range(start, start + count)
    )


@pytest.fixture
def many_task():
    return GenerationTask.objects.create(
        task_id="many0001",
        user=UserFactory(),
        persona_description="Many.",
        bio_language="English",
        number_to_generate=300,
        images_per_persona=4,
        status=TaskStatus.COMPLETED,
    )


@pytest.mark.parametrize("fmt", ["json", "csv", "zip"])
def test_rows_are_read_in_chunks_never_as_a_list(many_task, fmt, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 10)
    _personas(many_task, 35)
    chunk_sizes: list[int] = []
    whole_lists: list[type] = []
    iterator, fetch_all = QuerySet.iterator, QuerySet._fetch_all

    def spy_iterator(self, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return iterator(self, chunk_size=chunk_size)

    def spy_fetch_all(self):
        whole_lists.append(self.model)
        return fetch_all(self)

    monkeypatch.setattr(QuerySet, "iterator", spy_iterator)
    monkeypatch.setattr(QuerySet, "_fetch_all", spy_fetch_all)

    # As many queries for 35 personas in 4 chunks as for a handful: one per pass over the rows.
    with django_assert_max_num_queries(2):
        body = _bytes(avatar_task_export(task=many_task, fmt=fmt)[0])

    assert chunk_sizes == ([10, 10] if fmt == "zip" else [10])  # the ZIP's details.csv, then the folders
    assert GeneratedPersona not in whole_lists
    if fmt == "zip":
        assert len(zipfile.ZipFile(io.BytesIO(body)).namelist()) == 1 + 35 * 3
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))) == 1 + 35
    else:
        assert len(json.loads(body)["personas"]) == 35


def _peak_while_streaming(task, fmt: str) -> tuple[int, int]:
    """(peak bytes Python held while the export streamed, bytes of the export), after a first export
    of the same rows (the first after a bulk insert leaves a few hundred KB of caches behind)."""
    _bytes(avatar_task_export(task=task, fmt=fmt)[0])
    size = 0
    tracemalloc.start()
    try:
        for chunk in avatar_task_export(task=task, fmt=fmt)[0]:
            size += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "csv", "zip"])
def test_what_the_export_holds_does_not_grow_with_the_personas(many_task, fmt, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 50)  # both runs read full chunks
    # At 2,000 personas the ZIP's entry infos alone (6,001 entries) would be about 3 MB held to the
    # end, and the folder names a few hundred KB; ten times the personas must cost no more than a
    # little noise.
    _personas(many_task, 200)
    few, few_size = _peak_while_streaming(many_task, fmt)
    _personas(many_task, 1800, start=200)
    many, many_size = _peak_while_streaming(many_task, fmt)

    assert many_size > 8 * few_size
    assert many - few < 256 * 1024, (few, many)


def test_a_zip_abandoned_half_way_leaves_nothing_open(many_task):
    _personas(many_task, 5)
    chunks = avatar_task_export(task=many_task, fmt="zip")[0]
    next(chunks)
    chunks.close()  # the client went away: no error, no central directory written


def test_responses_join_the_chunks_into_blocks():
    chunks = [b"0123456789"] * 25

    blocks = list(in_blocks(iter(chunks), size=64))

    assert b"".join(blocks) == b"".join(chunks)
    assert [len(block) for block in blocks] == [70, 70, 70, 40]


@pytest.mark.parametrize("fmt", ["json", "csv", "zip"])
def test_the_api_streams_the_same_bytes_in_blocks_to_its_owner_only(fixed_task, fmt, monkeypatch):
    monkeypatch.setattr(zipfile.time, "time", lambda: WHEN.timestamp())
    url = f"/api/v1/generation/avatar-tasks/{fixed_task.task_id}/export/?format={fmt}"

    response = client_for(fixed_task.user).get(url)

    assert isinstance(response, StreamingHttpResponse) and not response.has_header("Content-Length")
    assert b"".join(response.streaming_content) == _bytes(avatar_task_export(task=fixed_task, fmt=fmt)[0])
    assert client_for(UserFactory()).get(url).status_code == 404
