"""The data step: the LLM writer against a local OpenAI-compatible chat server, and the builtin
(Faker) writer."""

import json

import pytest

from core.models import SystemConfig
from generation.models import GeneratedPersona, GenerationTask, TaskStatus
from generation.personas.data import (
    BIO_LIMITS,
    BuiltinPersonaWriter,
    LLMPersonaWriter,
    bio_prompts,
    clean_persona,
    faker_locale_for,
    parse_personas,
    persona_writer_for,
)
from generation.services.avatar_tasks import avatar_task_run
from tests.factories.generation import GenerationTaskFactory
from tests.fakes.openai_chat import FakeOpenAIChat

pytestmark = pytest.mark.django_db


def people(start: int, count: int) -> dict:
    return {
        "personas": [
            {
                "first_name": f"Ana{n}",
                "last_name": "Silva",
                "gender": "female",
                "age": 30 + n % 20,
                "ethnicity": "Latina",
                "job_title": "Nurse",
                "workplace": "City Hospital",
                "education": "BSc Nursing",
                "current_city": "Porto",
                "current_state": "Porto",
                "previous_city": "Braga",
                "previous_state": "Braga",
                "about": f"Persona number {n}.",
                "bio_facebook": "Nurse in Porto.",
                "bio_instagram": "Nights, coffee, sea.",
                "bio_x": "Nurse. Opinions my own.",
                "bio_tiktok": "Shift life.",
            }
            for n in range(start, start + count)
        ]
    }


def llm_writer(fake: FakeOpenAIChat) -> LLMPersonaWriter:
    return LLMPersonaWriter(backend=fake.backend(), bio_prompts=bio_prompts())


def data_only(task: GenerationTask, writer, image_backend) -> str:
    """Run the task; the image step uses the (fast) builtin backend."""
    return avatar_task_run(task_id=task.task_id, writer=writer, image_backend=image_backend)


# --- parsing ------------------------------------------------------------------------------------


def test_parse_personas_finds_json_in_fences_prose_and_lists():
    fenced = "Here you go:\n```json\n" + json.dumps(people(0, 2)) + "\n```\nEnjoy!"
    assert [p["first_name"] for p in parse_personas(fenced)] == ["Ana0", "Ana1"]
    bare_list = "Sure! " + json.dumps(people(0, 3)["personas"]) + " Hope that helps."
    assert len(parse_personas(bare_list)) == 3
    assert parse_personas("no json here") == []
    assert parse_personas('{"personas": [{"age": 40}]}') == []  # nameless entries are dropped


def test_clean_persona_maps_aliases_cuts_lengths_and_checks_age():
    persona = clean_persona(
        {
            "name": "Mia  Wong",
            "Age": "about 200",
            "occupation": "Chef",
            "bios": {"Facebook": "f" * 300, "TikTok": "t", "twitter": "x bio"},
            "unknown": "ignored",
        }
    )
    assert persona["first_name"] == "Mia" and persona["last_name"] == "Wong"
    assert persona["age"] is None  # outside 13-120
    assert persona["job_title"] == "Chef"
    assert len(persona["bio_facebook"]) == BIO_LIMITS["bio_facebook"]
    assert persona["bio_x"] == "x bio" and persona["bio_tiktok"] == "t"
    assert "unknown" not in persona
    assert clean_persona({"first_name": "Jo", "age": 44})["age"] == 44
    assert clean_persona(["not", "a", "dict"]) is None


# --- the LLM writer against a local chat server -------------------------------------------------


def test_25_personas_take_three_calls_of_at_most_ten(httpserver, image_backend):
    fake = FakeOpenAIChat(httpserver)
    fake.reply_json(people(0, 10), fenced=True)
    fake.reply_json(people(10, 10), prose="Here are the next ten:")
    fake.reply_json(people(20, 5))
    task = GenerationTaskFactory(number_to_generate=25, bio_language="Portuguese")

    assert data_only(task, llm_writer(fake), image_backend) == TaskStatus.COMPLETED

    assert fake.count() == 3
    assert ["Write 10 " in r.prompt for r in fake.requests] == [True, True, False]
    assert "Write 5 different personas (numbers 21 to 25" in fake.requests[2].prompt
    # the bio prompts (from SystemConfig) and the language are in every call
    facebook_prompt = SystemConfig.objects.get(key="bio_prompt_facebook").value
    assert facebook_prompt.split("{language}")[0].strip()[:40] in fake.requests[0].system
    assert "Write in Portuguese" in fake.requests[0].system
    assert "Ana0 Silva" in fake.requests[1].prompt  # earlier names are not to be repeated
    rows = list(GeneratedPersona.objects.filter(task=task).order_by("position"))
    assert [p.position for p in rows] == list(range(25))
    assert [p.first_name for p in rows] == [f"Ana{n}" for n in range(25)]
    assert rows[0].metadata["backend"] == "openai" and rows[0].metadata["synthetic"] is True
    task.refresh_from_db()
    assert task.personas_generated == 25 and task.completed_at is not None


def test_config_prompt_edits_reach_the_model(httpserver, image_backend):
    SystemConfig.objects.filter(key="bio_prompt_tiktok").update(value="TIKTOK RULE in {language}")
    fake = FakeOpenAIChat(httpserver)
    fake.reply_json(people(0, 1))
    task = GenerationTaskFactory(number_to_generate=1, bio_language="Italian")
    data_only(task, llm_writer(fake), image_backend)
    assert "TIKTOK RULE in Italian" in fake.requests[0].system


def test_malformed_answers_are_asked_again_and_short_batches_completed(httpserver, image_backend):
    fake = FakeOpenAIChat(httpserver)
    fake.malformed_next()  # a truncated HTTP body: the backend retries it itself
    fake.reply_json(people(0, 7))  # fewer than asked: the rest is asked for next
    fake.reply("Sorry, here is a list: Ana, Bea, Cid.")  # no JSON at all: asked again
    fake.reply_json(people(7, 3), fenced=True)
    task = GenerationTaskFactory(number_to_generate=10)

    assert data_only(task, llm_writer(fake), image_backend) == TaskStatus.COMPLETED

    assert fake.count() == 4
    assert "Write 3 different personas (numbers 8 to 10" in fake.requests[2].prompt
    assert "Write 3 different personas (numbers 8 to 10" in fake.requests[3].prompt
    assert GeneratedPersona.objects.filter(task=task).count() == 10


def test_answers_that_stay_unusable_fail_the_task(httpserver, image_backend):
    fake = FakeOpenAIChat(httpserver)
    fake.reply("I cannot produce JSON today.", times=3)
    task = GenerationTaskFactory(number_to_generate=5)

    assert data_only(task, llm_writer(fake), image_backend) == TaskStatus.FAILED

    task.refresh_from_db()
    assert "no usable personas" in task.error_log
    assert task.completed_at is not None
    assert fake.count() == 3
    assert not image_backend.requests


def test_rate_limits_and_server_errors_are_retried_with_retry_after(httpserver, image_backend):
    fake = FakeOpenAIChat(httpserver)
    fake.rate_limit_next(retry_after="2")
    fake.error_next(503)
    fake.reply_json(people(0, 3))
    task = GenerationTaskFactory(number_to_generate=3)

    assert data_only(task, llm_writer(fake), image_backend) == TaskStatus.COMPLETED

    assert fake.count() == 3
    assert fake.sleeps[0] == 2.0  # the server's Retry-After, never actually slept
    assert len(fake.sleeps) == 2
    assert GeneratedPersona.objects.filter(task=task).count() == 3


def test_a_server_that_keeps_failing_fails_the_task_and_keeps_what_was_written(httpserver, image_backend):
    fake = FakeOpenAIChat(httpserver)
    fake.reply_json(people(0, 10))
    fake.error_next(500, times=3)
    task = GenerationTaskFactory(number_to_generate=15)

    assert data_only(task, llm_writer(fake), image_backend) == TaskStatus.FAILED

    task.refresh_from_db()
    assert "Writing personas failed" in task.error_log and "HTTP 500" in task.error_log
    assert fake.api_key not in task.error_log
    assert task.personas_generated == 10
    assert GeneratedPersona.objects.filter(task=task).count() == 10


def test_persona_writer_follows_the_ai_backend(settings, httpserver):
    settings.AI_BACKEND = "builtin"
    assert isinstance(persona_writer_for(), BuiltinPersonaWriter)
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = httpserver.url_for("/v1")
    assert isinstance(persona_writer_for(), LLMPersonaWriter)


# --- the builtin writer (Faker) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "locale", "found"),
    [
        ("English", "en_US", True),
        ("german", "de_DE", True),
        ("Deutsch", "de_DE", True),
        ("de", "de_DE", True),
        ("pt-BR", "pt_BR", True),
        ("fr_CA", "fr_CA", True),
        ("Portuguese (Brazil)", "pt_BR", True),
        ("日本語", "ja_JP", True),
        ("Klingon", "en_US", False),
        ("", "en_US", False),
    ],
)
def test_faker_locale_for_names_and_codes(language, locale, found):
    assert faker_locale_for(language) == (locale, found)


def test_builtin_writer_is_deterministic_localised_and_marked_synthetic():
    writer = BuiltinPersonaWriter(seed="abc12345")
    first = writer.write(description="Bakers", language="German", count=10, start=0)
    again = BuiltinPersonaWriter(seed="abc12345").write(
        description="Bakers", language="German", count=3, start=0
    )
    assert len(first.personas) == 10
    assert first.personas[:3] == again.personas
    assert first.metadata["synthetic"] is True and first.metadata["locale"] == "de_DE"
    assert first.metadata["locale_fallback"] is False
    for persona in first.personas:
        assert persona["first_name"] and persona["job_title"] and persona["current_city"]
        assert 13 <= persona["age"] <= 120
        for column, limit in BIO_LIMITS.items():
            assert 0 < len(persona[column]) <= limit
    other = BuiltinPersonaWriter(seed="other").write(
        description="Bakers", language="German", count=3, start=0
    )
    assert other.personas != again.personas


def test_builtin_writer_falls_back_to_en_us_and_says_so():
    batch = BuiltinPersonaWriter().write(description="x", language="Klingon", count=1, start=0)
    assert batch.metadata["locale"] == "en_US" and batch.metadata["locale_fallback"] is True
    assert "Klingon" in batch.metadata["note"]


def test_builtin_backend_runs_a_whole_task_offline(settings, image_backend):
    settings.AI_BACKEND = "builtin"
    task = GenerationTaskFactory(number_to_generate=12, bio_language="French")

    assert avatar_task_run(task_id=task.task_id, image_backend=image_backend) == TaskStatus.COMPLETED

    personas = list(GeneratedPersona.objects.filter(task=task).order_by("position"))
    assert len(personas) == 12
    assert len({p.full_name for p in personas}) > 1
    assert all(p.metadata["locale"] == "fr_FR" and p.metadata["synthetic"] for p in personas)
