import pytest
from django.db import connection, models

from generation.models import (
    AspectRatio,
    GeneratedImage,
    GeneratedImageArchive,
    GeneratedPersona,
    GenerationModel,
    GenerationTask,
    ImagesPerPersona,
    Prompt,
    PromptStatus,
    TaskStatus,
)
from tests.constraints import violates
from tests.factories.accounts import UserFactory
from tests.factories.generation import (
    GeneratedImageArchiveFactory,
    GeneratedImageFactory,
    GeneratedPersonaFactory,
    GenerationTaskFactory,
    PromptFactory,
)

pytestmark = pytest.mark.django_db


def table_columns(model) -> list[str]:
    """The table's columns in their order in the database."""
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, model._meta.db_table)
    return [col.name for col in description]


# --- prompts -------------------------------------------------------------------------------------


def test_prompt_defaults():
    prompt = Prompt.objects.create(user=UserFactory(), prompt_text="a red fox")
    prompt.refresh_from_db()
    assert prompt.seed == 0
    assert prompt.number_of_images == 1
    assert prompt.aspect_ratio == AspectRatio.SQUARE == "IMAGE_ASPECT_RATIO_SQUARE"
    assert prompt.generation_model == GenerationModel.IMAGEN_3 == "IMAGEN_3"
    assert prompt.status == PromptStatus.QUEUED
    assert prompt.backend == ""
    assert prompt.attempts == 0
    assert prompt.workflow_id is None
    assert prompt.error_message is None
    assert prompt.started_at is prompt.completed_at is prompt.heartbeat_at is None
    assert prompt.created_at is not None
    assert prompt.updated_at is not None


@pytest.mark.parametrize(
    ("field", "value", "rejected_by"),
    [
        ("seed", -1, lambda: violates("ck_prompts_seed")),
        ("number_of_images", 0, lambda: violates("ck_prompts_number_of_images")),
        ("number_of_images", 9, lambda: violates("ck_prompts_number_of_images")),
        ("aspect_ratio", "IMAGE_ASPECT_RATIO_WIDE", lambda: violates("ck_prompts_aspect_ratio")),
        ("generation_model", "IMAGEN_4", lambda: violates("ck_prompts_generation_model")),
        ("status", "canceled", lambda: violates("ck_prompts_status")),
    ],
)
def test_prompt_check_constraints_reject(field, value, rejected_by):
    with rejected_by():
        PromptFactory(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", 0),
        ("seed", 2_147_483_647),
        ("number_of_images", 1),
        ("number_of_images", 8),
        *[("aspect_ratio", value) for value in AspectRatio.values],
        *[("generation_model", value) for value in GenerationModel.values],
        *[("status", value) for value in PromptStatus.values],
    ],
)
def test_prompt_check_constraints_accept(field, value):
    prompt = PromptFactory(**{field: value})
    prompt.refresh_from_db()
    assert getattr(prompt, field) == value


def test_prompt_is_deleted_with_its_user():
    prompt = PromptFactory()
    prompt.user.delete()
    assert not Prompt.objects.filter(pk=prompt.pk).exists()


def test_prompt_str_is_a_short_single_line():
    assert str(PromptFactory(prompt_text="a fox\n in   snow")) == "a fox in snow"
    long = str(PromptFactory(prompt_text="x" * 200))
    assert len(long) == 60
    assert long.endswith("…")


# --- generated images and their archive ----------------------------------------------------------


def test_generated_image_defaults():
    image = GeneratedImage.objects.create(user=UserFactory(), media_generation_id="m-1", encoded_image="AAAA")
    image.refresh_from_db()
    assert image.mime_type == "image/png"
    assert image.metadata == {}
    assert image.prompt is None
    assert image.created_at is not None
    assert str(image) == "m-1"
    assert image.encoded_size == 3


def test_media_generation_id_is_unique():
    image = GeneratedImageFactory()
    with violates("idx_gen_images_media_gen_id"):
        GeneratedImageFactory(media_generation_id=image.media_generation_id)


def test_deleting_a_prompt_keeps_its_images():
    image = GeneratedImageFactory()
    archived = GeneratedImageArchiveFactory(prompt=image.prompt, user=image.user)
    image.prompt.delete()
    image.refresh_from_db()
    archived.refresh_from_db()
    assert image.prompt_id is None
    assert archived.prompt_id is None


def test_images_and_archived_images_are_deleted_with_their_user():
    image = GeneratedImageFactory()
    archived = GeneratedImageArchiveFactory(user=image.user, prompt=image.prompt)
    other = GeneratedImageArchiveFactory()
    image.user.delete()
    assert not GeneratedImage.objects.filter(pk=image.pk).exists()
    assert not GeneratedImageArchive.objects.filter(pk=archived.pk).exists()
    assert GeneratedImageArchive.objects.filter(pk=other.pk).exists()


def test_reverse_accessors_exist_only_on_the_live_table():
    image = GeneratedImageFactory()
    GeneratedImageArchiveFactory(user=image.user, prompt=image.prompt)
    assert list(image.user.generated_images.all()) == [image]
    assert list(image.prompt.generated_images.all()) == [image]


def test_archive_keeps_the_given_id_and_stamps_archived_at():
    archived = GeneratedImageArchiveFactory(id=987_654_321)
    archived.refresh_from_db()
    assert archived.pk == 987_654_321
    assert archived.archived_at is not None
    assert archived.mime_type == "image/png"


def test_archive_media_generation_id_is_unique():
    archived = GeneratedImageArchiveFactory()
    with violates("idx_gen_img_arch_media_gen_id"):
        GeneratedImageArchiveFactory(media_generation_id=archived.media_generation_id)


def test_live_and_archive_tables_have_identical_columns_in_the_same_order():
    live = table_columns(GeneratedImage)
    archive = table_columns(GeneratedImageArchive)
    assert live[:3] == ["id", "user_id", "prompt_id"]
    assert archive == [*live, "archived_at"]
    # The models agree with the tables, so the move can list `_meta.concrete_fields`.
    assert [f.column for f in GeneratedImage._meta.concrete_fields] == live
    assert [f.column for f in GeneratedImageArchive._meta.concrete_fields] == archive


def test_live_and_archive_columns_have_the_same_types():
    archive_fields = {f.column: f for f in GeneratedImageArchive._meta.concrete_fields}
    for field in GeneratedImage._meta.concrete_fields:
        if field.primary_key:
            assert isinstance(field, models.BigAutoField)
            assert type(archive_fields["id"]) is models.BigIntegerField  # keeps the live row's id
            continue
        other = archive_fields[field.column]
        assert field.db_type(connection) == other.db_type(connection), field.column
        assert field.null == other.null, field.column


# --- generation tasks ----------------------------------------------------------------------------


def test_generation_task_defaults():
    task = GenerationTaskFactory()
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING == "pending"
    assert task.personas_generated == task.images_generated == task.attempts == 0
    assert task.error_log is None
    assert task.completed_at is task.started_at is task.heartbeat_at is None
    assert task.created_at is not None
    assert task.updated_at is not None
    assert task.images_expected == 40
    assert str(task) == task.task_id


def test_status_values_keep_the_seed_spelling():
    assert TaskStatus.GENERATING_DATA == "generating-data"
    assert TaskStatus.DATA_GENERATED == "data-generated"
    assert TaskStatus.GENERATING_IMAGES == "generating-images"


def test_task_id_is_unique():
    task = GenerationTaskFactory()
    with violates("uq_generation_tasks_task_id"):
        GenerationTaskFactory(task_id=task.task_id)


@pytest.mark.parametrize(
    ("field", "value", "rejected_by"),
    [
        ("number_to_generate", 0, lambda: violates("ck_generation_tasks_number_to_generate")),
        ("number_to_generate", 301, lambda: violates("ck_generation_tasks_number_to_generate")),
        ("images_per_persona", 5, lambda: violates("ck_generation_tasks_images_per_persona")),
        ("images_per_persona", 0, lambda: violates("ck_generation_tasks_images_per_persona")),
        ("status", "canceled", lambda: violates("ck_generation_tasks_status")),
        ("personas_generated", -1, lambda: violates("ck_generation_tasks_personas_generated")),
        ("images_generated", -1, lambda: violates("ck_generation_tasks_images_generated")),
    ],
)
def test_generation_task_check_constraints_reject(field, value, rejected_by):
    with rejected_by():
        GenerationTaskFactory(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number_to_generate", 1),
        ("number_to_generate", 300),
        *[("images_per_persona", value) for value in ImagesPerPersona.values],
        *[("status", value) for value in TaskStatus.values],
        ("personas_generated", 0),
        ("images_generated", 2400),
    ],
)
def test_generation_task_check_constraints_accept(field, value):
    task = GenerationTaskFactory(**{field: value})
    task.refresh_from_db()
    assert getattr(task, field) == value


def test_generation_task_is_deleted_with_its_user_and_takes_its_personas():
    persona = GeneratedPersonaFactory()
    persona.task.user.delete()
    assert not GenerationTask.objects.filter(pk=persona.task_id).exists()
    assert not GeneratedPersona.objects.filter(pk=persona.pk).exists()


# --- generated personas --------------------------------------------------------------------------


def test_generated_persona_defaults():
    persona = GeneratedPersona.objects.create(task=GenerationTaskFactory(), position=0)
    persona.refresh_from_db()
    assert persona.images == []
    assert persona.image_errors == []
    assert persona.metadata == {}
    assert persona.age is None
    assert persona.bio_x == persona.about == persona.first_name == ""
    assert persona.created_at is not None
    assert persona.full_name == ""
    assert str(persona) == "persona #0"


def test_full_name():
    persona = GeneratedPersonaFactory(first_name="Ada", last_name="Quinn")
    assert persona.full_name == "Ada Quinn"
    assert str(persona) == "Ada Quinn"
    assert GeneratedPersonaFactory(first_name="Mononym", last_name="").full_name == "Mononym"


def test_position_is_unique_within_a_task():
    persona = GeneratedPersonaFactory(position=3)
    GeneratedPersonaFactory(position=3)  # another task
    with violates("uq_generated_persona_position"):
        GeneratedPersonaFactory(task=persona.task, position=3)


@pytest.mark.parametrize(
    ("field", "value", "rejected_by"),
    [
        ("age", 12, lambda: violates("ck_generated_personas_age")),
        ("age", 121, lambda: violates("ck_generated_personas_age")),
        ("position", -1, lambda: violates("ck_generated_personas_position")),
    ],
)
def test_generated_persona_check_constraints_reject(field, value, rejected_by):
    with rejected_by():
        GeneratedPersonaFactory(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("age", 13), ("age", 120), ("age", None), ("position", 0)])
def test_generated_persona_check_constraints_accept(field, value):
    persona = GeneratedPersonaFactory(**{field: value})
    persona.refresh_from_db()
    assert getattr(persona, field) == value


def test_personas_are_ordered_by_position_within_a_task():
    task = GenerationTaskFactory()
    for position in (2, 0, 1):
        GeneratedPersonaFactory(task=task, position=position)
    assert [p.position for p in task.personas.all()] == [0, 1, 2]
