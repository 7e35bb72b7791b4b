"""Exports of a 50-persona task in JSON, CSV and ZIP: streamed, with the right contents."""

import csv
import io
import json
import types
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generation.models import TaskStatus
from generation.personas.exports import PERSONA_COLUMNS, avatar_task_export, folder_name
from tests.factories.generation import GeneratedPersonaFactory, GenerationTaskFactory

pytestmark = pytest.mark.django_db

COUNT = 50
IMAGES = 4


@pytest.fixture
def task():
    task = GenerationTaskFactory(
        number_to_generate=COUNT,
        images_per_persona=IMAGES,
        status=TaskStatus.COMPLETED,
        personas_generated=COUNT,
        images_generated=COUNT * IMAGES,
    )
    for position in range(COUNT):
        keys = []
        for n in range(1, IMAGES + 1):
            key = f"personas/{task.task_id}/{position}/{n}.png"
            keys.append(default_storage.save(key, ContentFile(f"png-{position}-{n}".encode())))
        GeneratedPersonaFactory(
            task=task,
            position=position,
            # two people share a name, one has a name that is not file-safe
            first_name="Zoë" if position == 7 else ("Sam" if position in (3, 4) else f"P{position}"),
            last_name="O'Brien/Smith" if position == 7 else "Lee",
            age=20 + position,
            bio_x=f'Bio, with "quotes" and a comma #{position}',
            images=keys,
        )
    return task


def collect(task, fmt):
    chunks, content_type, filename = avatar_task_export(task=task, fmt=fmt)
    assert isinstance(chunks, types.GeneratorType)  # produced lazily, not a built body
    parts = list(chunks)
    return parts, content_type, filename


def test_json_export(task, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        parts, content_type, filename = collect(task, "json")
    assert content_type == "application/json" and filename == f"personas-{task.task_id}.json"
    assert len(parts) > COUNT  # one chunk per persona at least
    data = json.loads(b"".join(parts))
    assert data["task"]["task_id"] == task.task_id and data["task"]["number_to_generate"] == COUNT
    personas = data["personas"]
    assert [p["position"] for p in personas] == list(range(COUNT))
    assert personas[10]["age"] == 30 and personas[10]["full_name"] == "P10 Lee"
    assert personas[10]["images"] == [f"personas/{task.task_id}/10/{n}.png" for n in range(1, 5)]
    assert personas[7]["first_name"] == "Zoë"
    assert set(PERSONA_COLUMNS) <= set(personas[0])


def test_csv_export(task):
    parts, content_type, _ = collect(task, "csv")
    assert content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(parts).decode("utf-8-sig"))))
    assert len(rows) == COUNT
    assert rows[5]["first_name"] == "P5" and rows[5]["age"] == "25"
    assert rows[5]["bio_x"] == 'Bio, with "quotes" and a comma #5'
    assert rows[5]["images"].split(";") == [f"personas/{task.task_id}/5/{n}.png" for n in range(1, 5)]
    assert rows[7]["last_name"] == "O'Brien/Smith"


def test_zip_export(task):
    parts, content_type, filename = collect(task, "zip")
    assert content_type == "application/zip" and filename.endswith(".zip")
    assert len(parts) > COUNT * IMAGES  # drained after every entry
    archive = zipfile.ZipFile(io.BytesIO(b"".join(parts)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == "details.csv"
    rows = list(csv.DictReader(io.StringIO(archive.read("details.csv").decode("utf-8-sig"))))
    assert len(rows) == COUNT

    folders = sorted({name.split("/")[1] for name in names if name.startswith("profiles/")})
    assert len(folders) == COUNT
    assert "Sam_Lee" in folders and "Sam_Lee_2" in folders
    assert "Zoë_O_Brien_Smith" in folders
    assert len([n for n in names if n.endswith("details.json")]) == COUNT
    assert len([n for n in names if "/images/" in n]) == COUNT * IMAGES

    details = json.loads(archive.read("profiles/P12_Lee/details.json"))
    assert details["position"] == 12 and details["age"] == 32
    assert details["images"] == [f"images/{n}.png" for n in range(1, 5)]
    assert archive.read("profiles/P12_Lee/images/3.png") == b"png-12-3"
    assert archive.read("profiles/Sam_Lee_2/images/1.png") == b"png-4-1"


def test_zip_export_of_a_task_without_personas_is_a_valid_archive():
    task = GenerationTaskFactory()
    parts, _, _ = collect(task, "zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(parts)))
    assert archive.namelist() == ["details.csv"]


def test_folder_names_fall_back_to_the_position():
    persona = types.SimpleNamespace(first_name="", last_name="", position=4)
    assert folder_name(persona) == "persona_5"
    persona = types.SimpleNamespace(first_name="../..", last_name="etc", position=0)
    assert ".." not in folder_name(persona) and "/" not in folder_name(persona)
