"""persona_export: a task of N personas exported through the API (CSV, ZIP with images, JSON), streamed
through gunicorn and read chunk by chunk, against the plainest code writing the same to a file.

N is 100,000 at full size and 10,000 at small (a task is capped at 300 personas when created; the
rows are written straight into the table, as a stress far beyond that). Each persona has realistic
text (four bios, about, job, cities) and four images of 2 KB, the same four stored files for every
persona (400,000 distinct files would only measure the file system; each is still opened and
copied per persona).

- `persona_export_csv`: personas/s of `GET .../export/?format=csv` (bearer token, one gunicorn sync
  worker, as `manage.py serve` runs them) against `csv.writer` over `.values_list(...).iterator()`
  of the same columns to a file, in this process: the issue's baseline.
- `persona_export_zip`: personas/s of `?format=zip` (details.csv, then a folder per persona with its
  details.json and its four images) against plain `zipfile` writing the same entries to a file from
  `.values_list(...).iterator()` (holding every entry's info in memory, as zipfile does; a folder per
  position, no name to make unique). A CSV writer is no baseline for copying 400,000 images.
- `persona_export_rss`: the most the serving worker's resident memory grew (VmHWM after the export,
  reset before it through /proc/<pid>/clear_refs, minus VmRSS before) in any of the three formats
  at N, against a budget of 64 MB. The `#` line gives each format's growth at N/10 and N: the same
  growth at both is the point.

Every response is checked: a CSV has N + 1 lines, a ZIP's end record counts 1 + 5 N entries, a JSON
export ends the way one does. Rounds alternate which side goes first; the best round per side counts.
"""

import csv
import http.client
import json
import os
import struct
import tempfile
import time
import zipfile
from pathlib import Path

HOST = "127.0.0.1"
BLOCK = 64 * 1024
IMAGES = 4
IMAGE_BYTES = 2048
RSS_BUDGET_MB = 64
PATH = "/api/v1/generation/avatar-tasks/{task_id}/export/?format={fmt}"
FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Gus", "Hana", "Ines", "Jonas"]


# --- data ----------------------------------------------------------------------------------------


def _images() -> list[str]:
    """Four stored PNG-sized files (a PNG signature and random bytes: incompressible, like images)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    return [
        default_storage.save(
            f"personas/bench/{n}.png", ContentFile(b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE_BYTES))
        )
        for n in range(1, IMAGES + 1)
    ]


def _task(*, user, personas: int, images: list[str]):
    """A completed task of `personas` rows, generated inside PostgreSQL."""
    from django.db import connection

    from generation.models import GenerationTask, TaskStatus

    task = GenerationTask.objects.create(
        task_id=f"bench{personas}"[:12],
        user=user,
        persona_description="Cyclists who bake bread and post about it.",
        bio_language="English",
        number_to_generate=300,
        images_per_persona=IMAGES,
        status=TaskStatus.COMPLETED,
    )
    names = "ARRAY[" + ", ".join(f"'{name}'" for name in FIRST_NAMES) + "]"
    with connection.cursor() as cursor:
        # Last names repeat every few dozen rows across first names: some folders need a suffix.
        cursor.execute(
            f"""
            INSERT INTO generated_personas (task_id, position, first_name, last_name, gender, age, ethnicity,
                bio_facebook, bio_instagram, bio_x, bio_tiktok, job_title, workplace, education,
                current_city, current_state, previous_city, previous_state, about, images, image_errors,
                metadata, created_at)
            SELECT %(task)s, i, ({names})[1 + i %% {len(FIRST_NAMES)}], 'Lee' || (i / 13), 'female',
                18 + i %% 60, 'Mixed',
                repeat('Weekend rides, sourdough and a bakery stall at the market. ', 3) || i,
                repeat('Bread, bikes and bridges; photos of all three. ', 3) || i,
                'Baker, cyclist, "slow food" fan, number ' || i,
                repeat('Short videos of long rides. ', 4) || i,
                'Baker', 'The Corner Bakery', 'Culinary school', 'Portland', 'Oregon', 'Eugene', 'Oregon',
                repeat('Grew up in a small town, moved to the city for work, stayed for the bread. ', 4),
                %(images)s::jsonb, '[]'::jsonb, '{{"locale": "en_US"}}'::jsonb, now()
            FROM generate_series(0, %(personas)s - 1) AS i
            """,  # noqa: S608 (constants only)
            {"task": task.pk, "personas": personas, "images": json.dumps(images)},
        )
        cursor.execute("VACUUM (ANALYZE) generated_personas")
    return task


# --- the API side --------------------------------------------------------------------------------


def _worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"persona_export: expected one gunicorn worker, found {children}")
    return int(children[0])


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"persona_export: no {field} for process {pid}")


def _check(fmt: str, *, lines: int, tail: bytes, personas: int) -> None:
    if fmt == "csv" and lines != personas + 1:
        raise RuntimeError(f"persona_export: the CSV has {lines} lines for {personas} personas")
    if fmt == "json" and not tail.endswith(b"\n]}\n"):
        raise RuntimeError(f"persona_export: the JSON ends with {tail[-20:]!r}")
    if fmt == "zip":
        entries = _zip_entries(tail)
        if entries != 1 + personas * (1 + IMAGES):
            raise RuntimeError(f"persona_export: the ZIP holds {entries} entries for {personas} personas")


def _zip_entries(tail: bytes) -> int:
    """The entry count from the end record (from the ZIP64 one past 65,535 entries)."""
    end = tail.rindex(b"PK\x05\x06")
    entries = struct.unpack("<4s4H2LH", tail[end : end + 22])[4]
    if entries == 0xFFFF:
        zip64 = tail.rindex(b"PK\x06\x06")
        entries = struct.unpack("<4sQ2H2L4Q", tail[zip64 : zip64 + 56])[6]
    return entries


def _download(*, port: int, token: str, task_id: str, fmt: str, personas: int) -> tuple[float, int]:
    """One export read in 64 KB reads, checked: (seconds, bytes). Only the last block is kept."""
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    started = time.perf_counter()
    size = lines = 0
    tail = b""
    try:
        connection.request(
            "GET", PATH.format(task_id=task_id, fmt=fmt), headers={"Authorization": f"Bearer {token}"}
        )
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"persona_export: {fmt} answered {response.status}: {response.read(300)!r}")
        while block := response.read(BLOCK):
            size += len(block)
            lines += block.count(b"\n")
            tail = (tail + block)[-BLOCK:]
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    _check(fmt, lines=lines, tail=tail, personas=personas)
    return seconds, size


def _growth_mb(*, worker: int, **download) -> float:
    """How much the worker's resident memory grew at its peak during one export."""
    Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM back to the current VmRSS
    before = _status_kb(worker, "VmRSS")
    _download(**download)
    return (_status_kb(worker, "VmHWM") - before) / 1024


# --- the baselines -------------------------------------------------------------------------------


def _columns():
    from generation.personas.exports import PERSONA_COLUMNS

    return (*PERSONA_COLUMNS, "images", "image_errors")


def _rows(task, columns):
    from generation.models import GeneratedPersona

    return GeneratedPersona.objects.filter(task=task).order_by("position").values_list(*columns).iterator()


def _baseline_csv(task, directory: str) -> float:
    started = time.perf_counter()
    with open(Path(directory) / "baseline.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_columns())
        writer.writerows(_rows(task, _columns()))
    return time.perf_counter() - started


def _baseline_zip(task, directory: str) -> float:
    from django.core.files.storage import default_storage

    started = time.perf_counter()
    columns = (*_columns(), "metadata")
    with zipfile.ZipFile(Path(directory) / "baseline.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("details.csv", mode="w") as entry:
            writer = csv.writer(_Text(entry))
            writer.writerow(_columns())
            writer.writerows(_rows(task, _columns()))
        for row in _rows(task, columns):
            record = dict(zip(columns, row, strict=True))
            archive.writestr(f"profiles/{record['position']}/details.json", json.dumps(record))
            for n, key in enumerate(record["images"], 1):
                archive.write(
                    default_storage.path(key),
                    f"profiles/{record['position']}/images/{n}.png",
                    zipfile.ZIP_STORED,
                )
    return time.perf_counter() - started


class _Text:
    def __init__(self, entry):
        self.entry = entry

    def write(self, text: str) -> None:
        self.entry.write(text.encode())


# --- run -----------------------------------------------------------------------------------------


def run(*, scale: str) -> None:
    from django.db import connections

    from accounts.models import User
    from bench.api_list import PROJECT_ROOT, Gunicorn, _token_for
    from bench.report import emit, emit_budget, spread

    personas, rounds = (100_000, 2) if scale == "full" else (10_000, 3)
    started = time.monotonic()
    user = User.objects.create(username="bench-export", email="bench-export@example.test")
    images = _images()
    task = _task(user=user, personas=personas, images=images)
    tenth = _task(user=user, personas=personas // 10, images=images)
    warm = _task(user=user, personas=20, images=images)
    token = _token_for(user.pk)
    generated = time.monotonic() - started

    connections.close_all()  # the server's worker uses its own
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "RATE_LIMIT_API": "100000000/h",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    # One sync worker, so its memory is the export's; the timeout above the longest export (a sync
    # worker that streams for longer than gunicorn's 30 s is killed: see docs/performance.md).
    server = Gunicorn(env=env, workers=1, timeout=900)
    times: dict[str, list[float]] = {"csv": [], "zip": [], "base_csv": [], "base_zip": []}
    growth: dict[tuple[str, int], float] = {}
    sizes: dict[str, int] = {}
    try:
        server.wait_ready()
        worker = _worker_pid(server.process.pid)
        download = {"port": server.port, "token": token}
        for fmt in ("csv", "zip", "json"):
            _download(**download, task_id=warm.task_id, fmt=fmt, personas=20)
        for fmt in ("json", "csv", "zip"):
            for each in (tenth, task):
                count = personas if each is task else personas // 10
                growth[fmt, count] = _growth_mb(
                    worker=worker, **download, task_id=each.task_id, fmt=fmt, personas=count
                )
        with tempfile.TemporaryDirectory(prefix="bench-persona-export-") as directory:
            for round_number in range(rounds):
                for fmt in ("csv", "zip"):
                    sides = ["ours", "base"] if round_number % 2 == 0 else ["base", "ours"]
                    for side in sides:
                        if side == "ours":
                            seconds, sizes[fmt] = _download(
                                **download, task_id=task.task_id, fmt=fmt, personas=personas
                            )
                        else:
                            baseline = _baseline_csv if fmt == "csv" else _baseline_zip
                            seconds = baseline(task, directory)
                            connections.close_all()
                        times[fmt if side == "ours" else f"base_{fmt}"].append(seconds)
    finally:
        server.stop()

    for fmt, what in (("csv", "`csv.writer` over `.values_list().iterator()`"), ("zip", "plain `zipfile`")):
        ours, baseline = personas / min(times[fmt]), personas / min(times[f"base_{fmt}"])
        emit(
            name=f"persona_export_{fmt}",
            ours=ours,
            baseline=baseline,
            unit="rows/s",
            ratio=ours / baseline,
            op=">=",
            target=0.5,
            note=(
                f"{personas} personas{' with 4 images of 2 KB' if fmt == 'zip' else ''}, `?format={fmt}` "
                f"through gunicorn (1 sync worker) read in 64 KB blocks vs {what} to a file"
            ),
        )
    worst = max(value for (_, count), value in growth.items() if count == personas)
    emit_budget(
        name="persona_export_rss",
        ours=worst,
        budget=RSS_BUDGET_MB,
        unit="MB",
        note=f"most the serving worker's RSS grew exporting {personas} personas (JSON, CSV, ZIP)",
    )
    per_format = ", ".join(
        f"{fmt} {growth[fmt, personas // 10]:.1f} → {growth[fmt, personas]:.1f} MB"
        for fmt in ("json", "csv", "zip")
    )
    csv_mb, zip_mb = sizes["csv"] / 1e6, sizes["zip"] / 1e6
    print(
        f"# persona_export: {personas} personas ({csv_mb:.0f} MB of CSV, {zip_mb:.0f} MB of ZIP), "
        f"generated in {generated:.1f} s; RSS growth at {personas // 10} → {personas}: {per_format}; "
        f"best/median/worst ours csv {spread(times['csv'])}, baseline {spread(times['base_csv'])}; "
        f"ours zip {spread(times['zip'])}, baseline {spread(times['base_zip'])}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
