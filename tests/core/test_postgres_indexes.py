"""Every PostgreSQL-only index the migrations declare exists after migrate."""

import re

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from core.migration_operations import PostgresOnlyRunSQL

CREATED_INDEX = re.compile(r'CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF NOT EXISTS\s+)?"?(\w+)"?', re.IGNORECASE)
DROPPED_INDEX = re.compile(r'DROP\s+INDEX\s+(?:IF EXISTS\s+)?"?(\w+)"?', re.IGNORECASE)


def declared_postgres_indexes() -> set[str]:
    """Created by a migration and not dropped by a later one (scraping 0004 replaces 0002's
    full-text index)."""
    created, dropped = set(), set()
    for migration in MigrationLoader(None, ignore_no_migrations=True).disk_migrations.values():
        for operation in migration.operations:
            if isinstance(operation, PostgresOnlyRunSQL):
                sql = operation.sql if isinstance(operation.sql, str) else " ".join(map(str, operation.sql))
                created.update(CREATED_INDEX.findall(sql))
                dropped.update(DROPPED_INDEX.findall(sql))
    return created - dropped


def test_the_project_declares_postgres_only_indexes():
    assert {
        "idx_audit_logs_details",
        "idx_artifacts_keywords",
        "idx_artifacts_tags",
        "idx_artifacts_search_vector",
    } <= declared_postgres_indexes()
    assert "idx_artifacts_content_fts" not in declared_postgres_indexes()


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_declared_postgres_index_exists_after_migrate():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
        existing = dict(cursor.fetchall())
    missing = declared_postgres_indexes() - existing.keys()
    assert not missing, f"declared but not created: {sorted(missing)}"
    assert "USING gin (details jsonb_path_ops)" in existing["idx_audit_logs_details"]
