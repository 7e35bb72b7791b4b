from django.db import migrations

from core.migration_operations import PostgresOnlyRunSQL

# The same document as 0002's expression index, now computed once per write and stored: a search
# that does not go through the GIN index (newest first, filtering an ordered scan) or rechecks a
# lossy bitmap reads the stored vector instead of parsing every text again (about 0.1-0.3 ms a
# row; docs/performance.md, `artifact_search`). Adding the column rewrites the table.
# Statistics 1000 (default 100): the planner estimates a word missing from the column's
# most-common-elements list from the rarest word on it. With ~900 words listed (default) a word in
# 0.02 % of a million artifacts was estimated at 2,000 rows, and the newest-first search walked the
# created_at index through the whole table (3 s) instead of the GIN index (1.4 ms); with ~5,000
# listed the estimate is right. ANALYZE of artifacts then samples 300,000 rows.
DOCUMENT = "to_tsvector('simple', left(coalesce(title, '') || ' ' || coalesce(content_text, ''), 100000))"


class Migration(migrations.Migration):
    dependencies = [("scraping", "0003_job_items")]

    operations = [
        PostgresOnlyRunSQL(
            sql=[
                f'ALTER TABLE "artifacts" ADD COLUMN "search_vector" tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED;',
                'ALTER TABLE "artifacts" ALTER COLUMN "search_vector" SET STATISTICS 1000;',
                'CREATE INDEX "idx_artifacts_search_vector" ON "artifacts" USING GIN ("search_vector");',
                'DROP INDEX IF EXISTS "idx_artifacts_content_fts";',
            ],
            reverse_sql=[
                f'CREATE INDEX IF NOT EXISTS "idx_artifacts_content_fts" ON "artifacts" USING GIN (({DOCUMENT}));',
                'DROP INDEX IF EXISTS "idx_artifacts_search_vector";',
                'ALTER TABLE "artifacts" DROP COLUMN IF EXISTS "search_vector";',
            ],
        ),
    ]
