"""Migration operations for the PostgreSQL-only extras (GIN and other indexes
SQLite cannot build). On any other database they do nothing, both ways."""

from django.db import migrations


class PostgresOnlyRunSQL(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return "PostgreSQL-only SQL"


def gin_index(*, table: str, name: str, column: str, opclass: str = "") -> PostgresOnlyRunSQL:
    """A GIN index created only on PostgreSQL; `opclass` e.g. 'jsonb_path_ops'."""
    assert len(name) <= 30, f"index name {name!r} is longer than Django's 30-character limit"
    target = f"{column} {opclass}".strip()
    return PostgresOnlyRunSQL(
        sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING GIN ({target});',
        reverse_sql=f'DROP INDEX IF EXISTS "{name}";',
    )
