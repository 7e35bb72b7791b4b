"""PostgreSQL-only checks: the archive move statement and the seed's index names."""

import pytest
from django.db import connection

from generation.models import GeneratedImage, GeneratedImageArchive
from tests.factories.generation import GeneratedImageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def move(sql: str, ids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        return cursor.rowcount


def assert_moved(image: GeneratedImage) -> None:
    assert not GeneratedImage.objects.filter(pk=image.pk).exists()
    archived = GeneratedImageArchive.objects.get(pk=image.pk)
    for field in GeneratedImage._meta.concrete_fields:
        assert getattr(archived, field.attname) == getattr(image, field.attname), field.name
    assert archived.archived_at is not None


def test_rows_move_to_the_archive_with_an_explicit_column_list():
    image = GeneratedImageFactory(metadata={"backend": "builtin"})
    image.refresh_from_db()
    kept = GeneratedImageFactory()
    cols = ", ".join(connection.ops.quote_name(f.column) for f in GeneratedImage._meta.concrete_fields)
    # The column names come from the model; the ids are a query parameter.
    sql = (
        f"WITH moved AS (DELETE FROM generated_images WHERE id = ANY(%s) RETURNING {cols}) "  # noqa: S608
        f"INSERT INTO generated_images_archive ({cols}) SELECT {cols} FROM moved"
    )
    assert move(sql, [image.pk]) == 1
    assert_moved(image)
    assert GeneratedImage.objects.filter(pk=kept.pk).exists()


def test_identical_column_order_also_allows_select_star():
    image = GeneratedImageFactory()
    image.refresh_from_db()
    sql = (
        "WITH moved AS (DELETE FROM generated_images WHERE id = ANY(%s) RETURNING *) "
        "INSERT INTO generated_images_archive SELECT * FROM moved"
    )
    assert move(sql, [image.pk]) == 1
    assert_moved(image)


def names(sql: str, tables: list[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [tables])
        return {row[0] for row in cursor.fetchall()}


def test_index_and_constraint_names():
    tables = [
        "prompts",
        "generated_images",
        "generated_images_archive",
        "generation_tasks",
        "generated_personas",
    ]
    indexes = names("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", tables)
    assert {
        "idx_prompts_user_id",
        "idx_prompts_created_at",
        "idx_generated_images_user_id",
        "idx_generated_images_prompt_id",
        "idx_gen_images_media_gen_id",
        "idx_gen_img_arch_user_id",
        "idx_gen_img_arch_created_at",
        "idx_gen_img_arch_media_gen_id",
        "ix_generation_tasks_user_id",
        "ix_generation_tasks_status",
        "uq_generation_tasks_task_id",
        "uq_generated_persona_position",
    } <= indexes
    constraints = names(
        "SELECT conname FROM pg_constraint"
        " WHERE conrelid IN (SELECT oid FROM pg_class WHERE relname = ANY(%s))",
        tables,
    )
    assert {
        "ck_prompts_seed",
        "ck_prompts_number_of_images",
        "ck_prompts_aspect_ratio",
        "ck_prompts_generation_model",
        "ck_prompts_status",
        "ck_generation_tasks_number_to_generate",
        "ck_generation_tasks_images_per_persona",
        "ck_generation_tasks_status",
        "ck_generation_tasks_personas_generated",
        "ck_generation_tasks_images_generated",
        "ck_generated_personas_position",
        "ck_generated_personas_age",
    } <= constraints
