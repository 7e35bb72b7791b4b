"""Migrations: in step with the models, and reversible from the top to zero and back.

The round trip runs `manage.py` in a subprocess against a scratch database of the same
engine as the suite (a temporary SQLite file, or a new PostgreSQL database), so the test
database the other tests share is never touched.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_models_and_migrations_agree():
    try:
        call_command("makemigrations", check=True, dry_run=True, verbosity=0)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"makemigrations --check found model changes without a migration (exit {exc.code})")


@pytest.fixture
def scratch_database_url(tmp_path):
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    import psycopg

    name = f"scratch_migrations_{uuid.uuid4().hex[:10]}"
    params = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "dbname": "postgres",
    }
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    try:
        yield f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


TABLES = "from django.db import connection; print(sorted(connection.introspection.table_names()))"


def test_all_migrations_apply_from_zero_and_reverse_to_zero(scratch_database_url):
    manage(scratch_database_url, "migrate", "--noinput")
    tables = manage(scratch_database_url, "shell", "--no-imports", "-c", TABLES)
    assert "'users'" in tables and "'generated_images_archive'" in tables

    # Every other app depends on contenttypes (through auth and accounts), except these four.
    for app in ("contenttypes", "core", "django_q", "sessions", "axes"):
        manage(scratch_database_url, "migrate", app, "zero", "--noinput")
    assert "[X]" not in manage(scratch_database_url, "showmigrations", "--list")
    assert (
        manage(scratch_database_url, "shell", "--no-imports", "-c", TABLES).strip() == "['django_migrations']"
    )

    manage(scratch_database_url, "migrate", "--noinput")
    assert "[ ]" not in manage(scratch_database_url, "showmigrations", "--list")
