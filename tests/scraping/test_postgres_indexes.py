import pytest
from django.db import connection

from scraping.models import Artifact, ContentExtraction
from tests.factories.scraping import ArtifactFactory, ContentExtractionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

GIN_INDEXES = {
    "idx_artifacts_keywords": "artifacts",
    "idx_artifacts_tags": "artifacts",
    "idx_artifacts_search_vector": "artifacts",
    "idx_content_extractions_data": "content_extractions",
}


def _indexdefs():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s)",
            [sorted(set(GIN_INDEXES.values()))],
        )
        return {name: (table, definition) for name, table, definition in cursor.fetchall()}


def test_gin_indexes_exist():
    indexes = _indexdefs()
    for name, table in GIN_INDEXES.items():
        assert name in indexes, name
        assert indexes[name][0] == table
        assert "USING gin" in indexes[name][1]
    for name in ("idx_artifacts_keywords", "idx_artifacts_tags", "idx_content_extractions_data"):
        assert "jsonb_path_ops" in indexes[name][1]
    assert "(search_vector)" in indexes["idx_artifacts_search_vector"][1]
    assert "idx_artifacts_content_fts" not in indexes  # replaced by the stored vector's index


def test_the_search_vector_is_generated_from_title_and_capped_text():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = 'artifacts'::regclass AND a.attname = 'search_vector'"
        )
        (expression,) = cursor.fetchone()
    assert expression.startswith("to_tsvector('simple'::regconfig, \"left\"(")
    assert "title" in expression and "content_text" in expression and "100000" in expression


def _plan(sql, params):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_json_containment_queries_use_the_gin_indexes():
    ArtifactFactory(keywords=["solar"], tags=["energy"])
    ContentExtractionFactory(extracted_data={"language": "en"})
    for queryset, index in [
        (Artifact.objects.filter(keywords__contains=["solar"]), "idx_artifacts_keywords"),
        (Artifact.objects.filter(tags__contains=["energy"]), "idx_artifacts_tags"),
        (
            ContentExtraction.objects.filter(extracted_data__contains={"language": "en"}),
            "idx_content_extractions_data",
        ),
    ]:
        sql, params = queryset.query.sql_with_params()
        assert index in _plan(sql, params)
        assert queryset.exists()


def test_full_text_query_on_the_stored_vector_uses_the_index():
    artifact = ArtifactFactory(title="Offshore wind", content_text="Turbine capacity doubled in 2025.")
    sql = "SELECT id FROM artifacts WHERE search_vector @@ plainto_tsquery('simple', %s)"
    assert "idx_artifacts_search_vector" in _plan(sql, ["turbine"])
    with connection.cursor() as cursor:
        cursor.execute(sql, ["offshore turbine"])
        assert [row[0] for row in cursor.fetchall()] == [artifact.pk]


def test_a_token_dense_document_still_stores():
    # ~1.3 MB of distinct tokens exceeds tsvector's 1 MB limit unless the index caps the text.
    text = " ".join(f"{n:032x}" for n in range(40_000))
    artifact = ArtifactFactory(content_text=text)
    assert Artifact.objects.filter(pk=artifact.pk).exists()
