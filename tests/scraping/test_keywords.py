import pytest

from core.ai.builtin import BuiltinBackend
from core.models import ConfigType
from core.retry import RetryPolicy
from core.services import config_set
from scraping.keywords import (
    MAX_EXTRA,
    base_form,
    builtin_variants,
    keywords_expand,
    plural_of,
    singular_of,
    terms_from_answer,
)
from tests.fakes.openai_chat import FakeOpenAIChat

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(httpserver):
    return FakeOpenAIChat(httpserver)


def ai(chat):
    return chat.backend(policy=RetryPolicy(attempts=2, base_delay=0.01))


# Builtin rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "singular", "plural"),
    [
        ("policies", "policy", None),
        ("policy", None, "policies"),
        ("boxes", "box", None),
        ("churches", "church", None),
        ("reports", "report", None),
        ("report", None, "reports"),
        ("access", None, "accesses"),
        (
            "analysis",
            None,
            "analysises",
        ),  # plural_of is mechanical; builtin_variants never asks it for -is words
        ("status", None, "statuses"),
        ("day", None, "days"),
    ],
)
def test_number_rules(word, singular, plural):
    assert singular_of(word) == singular
    if plural is not None:
        assert plural_of(word) == plural


@pytest.mark.parametrize(
    ("word", "base"),
    [
        ("regulation", "regulate"),
        ("protection", "protect"),
        ("discussion", "discuss"),
        ("coding", "code"),
        ("programming", "program"),
        ("hunting", "hunt"),
        ("reading", "read"),
        ("mined", "mine"),
        ("regulated", "regulate"),
        ("researcher", "research"),
        ("falling", "fall"),
        ("water", None),  # -er only for words of 8+ letters
        ("speed", None),  # stem ending in a vowel
        ("nation", None),  # too short for -ation
        ("energy", None),
    ],
)
def test_base_form_rules(word, base):
    assert base_form(word) == base


def test_builtin_variants_work_on_the_last_word():
    assert builtin_variants("climate policies") == ["climate policy"]
    assert builtin_variants("Coding") == ["code", "codes"]  # no "codings"
    assert builtin_variants("regulation") == ["regulations", "regulate", "regulates"]
    assert builtin_variants("AI") == []  # too short for any rule
    assert builtin_variants("covid-19") == []  # not a plain word


def test_builtin_expansion_uses_synonyms_from_system_config_both_ways():
    config_set(
        key="scraping_synonyms",
        value={"solar": ["photovoltaic", "PV"], "Car": ["automobile"]},
        value_type=ConfigType.JSON,
    )
    expanded = keywords_expand(keywords=["Solar", "automobiles"], backend=BuiltinBackend())
    assert expanded[:2] == ["Solar", "automobiles"]
    # Synonyms first, round-robin between the keywords; the plural's singular finds the group.
    assert expanded[2:] == ["photovoltaic", "Car", "PV", "automobile", "solars"]


def test_builtin_without_or_with_broken_synonyms_still_expands():
    assert keywords_expand(keywords=["reports"], backend=BuiltinBackend()) == ["reports", "report"]
    config_set(key="scraping_synonyms", value=["not", "an", "object"], value_type=ConfigType.JSON)
    assert keywords_expand(keywords=["reports"], backend=BuiltinBackend()) == ["reports", "report"]


def test_at_most_ten_extras_shared_round_robin_and_deduplicated():
    words = ["regulations", "protections", "discussions", "coding", "programming", "researchers"]
    expanded = keywords_expand(keywords=[*words, "REGULATIONS"], backend=BuiltinBackend())
    assert expanded[: len(words)] == words  # the case-insensitive duplicate original dropped
    extras = expanded[len(words) :]
    assert len(extras) == MAX_EXTRA
    assert len({term.casefold() for term in expanded}) == len(expanded)
    # Round-robin: every keyword got its first variant before any got a second.
    assert extras[:6] == ["regulation", "protection", "discussion", "code", "program", "researcher"]


def test_empty_keywords():
    assert keywords_expand(keywords=[], backend=BuiltinBackend()) == []
    assert keywords_expand(keywords=["  ", ""], backend=BuiltinBackend()) == []


def test_default_backend_comes_from_settings(settings):
    settings.AI_BACKEND = "builtin"
    assert keywords_expand(keywords=["reports"]) == ["reports", "report"]
    settings.AI_BACKEND = "nonsense"
    assert keywords_expand(keywords=["reports"]) == ["reports"]


# AI path ------------------------------------------------------------------------------------------


def test_ai_terms_are_merged_after_the_originals(chat):
    chat.reply_json(["photovoltaics", "Solar Energy", "solar", "renewables", 42, ""], prose="Here you go:")
    expanded = keywords_expand(keywords=["solar energy", "grid"], backend=ai(chat))
    assert expanded == ["solar energy", "grid", "photovoltaics", "solar", "renewables"]
    request = chat.requests[0]
    assert "JSON array" in request.system
    assert "- solar energy\n- grid" in request.prompt


def test_ai_answer_in_a_fence_or_an_object_or_a_bullet_list(chat):
    chat.reply_json({"terms": ["a1", "a2"]}, fenced=True)
    assert keywords_expand(keywords=["x"], backend=ai(chat)) == ["x", "a1", "a2"]
    chat.reply("Related terms:\n- b1\n* b2\n3. b3")
    assert keywords_expand(keywords=["x"], backend=ai(chat)) == ["x", "b1", "b2", "b3"]


def test_ai_extras_are_capped_at_ten(chat):
    chat.reply_json([f"term {n}" for n in range(25)])
    expanded = keywords_expand(keywords=["x"], backend=ai(chat))
    assert expanded == ["x", *[f"term {n}" for n in range(10)]]


def test_ai_terms_longer_than_a_keyword_may_be_are_dropped(chat):
    chat.reply_json(["y" * 101, "ok"])
    assert keywords_expand(keywords=["x"], backend=ai(chat)) == ["x", "ok"]


@pytest.mark.parametrize(
    "fail",
    [
        lambda chat: chat.error_next(500, times=2),
        lambda chat: chat.error_next(401),
        lambda chat: chat.refuse_next(),
        lambda chat: chat.malformed_next(times=2),
        lambda chat: chat.reply("I cannot think of any."),
    ],
    ids=["server-error", "unauthorised", "refusal", "malformed", "no-terms"],
)
def test_ai_failure_falls_back_to_the_originals(chat, fail, caplog):
    fail(chat)
    with caplog.at_level("INFO", logger="scraping.keywords"):
        assert keywords_expand(keywords=["solar", "grid"], backend=ai(chat)) == ["solar", "grid"]
    assert "fell back to the original keywords" in caplog.text
    assert chat.count() >= 1


def test_ai_rate_limit_is_retried_then_used(chat):
    chat.rate_limit_next(retry_after="1")
    chat.reply_json(["pv"])
    assert keywords_expand(keywords=["solar"], backend=ai(chat)) == ["solar", "pv"]
    assert chat.sleeps == [1.0]


def test_terms_from_answer_is_defensive():
    assert terms_from_answer("") == []
    assert terms_from_answer('{"a": ["x"], "b": ["y"]}') == []  # ambiguous object: nothing guessed
    assert terms_from_answer('Sure: ["a", "b"] and more text') == ["a", "b"]
    assert terms_from_answer("[not json") == []
