from django.db import migrations

from core.migration_operations import PostgresOnlyRunSQL, gin_index

# The expression must match the one the search queries use, or PostgreSQL ignores the index.
# The text is capped: a tsvector holds at most 1 MB, and an uncapped token-dense document would
# make the INSERT of its artifact fail.
ARTIFACTS_FTS_EXPRESSION = (
    "to_tsvector('simple', left(coalesce(title, '') || ' ' || coalesce(content_text, ''), 100000))"
)


class Migration(migrations.Migration):
    dependencies = [("scraping", "0001_initial")]

    operations = [
        gin_index(
            table="artifacts", name="idx_artifacts_keywords", column="keywords", opclass="jsonb_path_ops"
        ),
        gin_index(table="artifacts", name="idx_artifacts_tags", column="tags", opclass="jsonb_path_ops"),
        PostgresOnlyRunSQL(
            sql=f'CREATE INDEX IF NOT EXISTS "idx_artifacts_content_fts" ON "artifacts" USING GIN (({ARTIFACTS_FTS_EXPRESSION}));',
            reverse_sql='DROP INDEX IF EXISTS "idx_artifacts_content_fts";',
        ),
        gin_index(
            table="content_extractions",
            name="idx_content_extractions_data",
            column="extracted_data",
            opclass="jsonb_path_ops",
        ),
    ]
