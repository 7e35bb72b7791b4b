"""The OpenAI-compatible path of draft_write/draft_score against a local chat-completions server."""

import pytest

from core.ai.base import AIRefused, AIUnavailable
from core.services import config_set
from tests.fakes.openai_chat import FakeOpenAIChat
from workflows.stored_settings import DEFAULT_GENERATION_PROMPT
from workflows.writing import CRITERIA, SourceMaterial, WritingBrief, draft_score, draft_write
from workflows.writing.llm import generation_max_tokens, parse_evaluation

pytestmark = pytest.mark.django_db

SOURCE = SourceMaterial(
    title="Socialdesk 2.0",
    text="Socialdesk 2.0 ships today. It repurposes articles.",
    urls=("https://ex.org/a",),
)
GOOD = {
    "score": 82,
    "feedback": "Shorter hook.",
    "criteria_scores": {name: 80 for name in CRITERIA},
}


@pytest.fixture
def fake(httpserver):
    return FakeOpenAIChat(httpserver)


@pytest.fixture
def backend(fake):
    return fake.backend()


def brief(platform="x", **kwargs):
    return WritingBrief(platform=platform, source=SOURCE, options=kwargs.pop("options", {}), **kwargs)


def test_generation_request_carries_source_options_samples_drafts_and_feedback(fake, backend, settings):
    fake.reply("Socialdesk 2.0 ships today. #Launch #Socialdesk")
    draft = draft_write(
        brief(
            options={
                "tone": "friendly",
                "length": "short",
                "call_to_action": "Try it!",
                "hashtags": ["launch"],
            },
            style_samples=("We ship small tools.",),
            references=("Reference: version 1 shipped in 2024.",),
            previous_drafts=("Draft one text.", "Draft two text."),
            feedback="too long: 312 characters\nmissing hashtags",
        ),
        backend=backend,
    )
    assert draft.content == "Socialdesk 2.0 ships today. #Launch #Socialdesk"
    # no workflow_generation_model set: settings.AI_TEXT_MODEL (the fake echoes the requested model)
    assert draft.backend == "openai" and draft.model == settings.AI_TEXT_MODEL
    assert draft.metadata["rule_based"] is False and draft.metadata["feedback_given"] is True
    assert draft.metadata["previous_drafts"] == 2 and draft.metadata["used_style_samples"] == 1
    assert "raw_text" not in draft.metadata

    (request,) = fake.requests
    assert request.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert "at most 280 characters" in request.system
    assert request.system.startswith(DEFAULT_GENERATION_PROMPT.split("{", 1)[0])
    prompt = request.prompt
    for expected in (
        "Platform: x",
        "tone: friendly",
        "call to action: Try it!",
        "hashtags: use launch",
        "Socialdesk 2.0 ships today. It repurposes articles.",
        "https://ex.org/a",
        "We ship small tools.",
        "version 1 shipped in 2024",
        "--- draft 1 ---\nDraft one text.",
        "--- draft 2 ---\nDraft two text.",
        "too long: 312 characters\nmissing hashtags",
    ):
        assert expected in prompt, expected
    assert request.max_tokens == generation_max_tokens("x")


def test_blog_keeps_line_breaks_and_gets_a_large_token_budget(fake, backend):
    fake.reply("```markdown\n# Title\n\nIntro.\n\n## One\n\nText.\n```")
    draft = draft_write(brief("blog"), backend=backend)
    assert draft.content == "# Title\n\nIntro.\n\n## One\n\nText."
    assert fake.requests[0].max_tokens >= 4000


def test_x_answer_over_280_is_trimmed_at_a_word_boundary(fake, backend):
    fake.reply("word " * 100)
    draft = draft_write(brief("x"), backend=backend)
    assert len(draft.content) <= 280
    assert draft.metadata["trimmed_from"] == len(("word " * 100).strip())
    assert draft.content.endswith("word…")


def test_configured_models_and_prompt_are_used(fake, backend):
    config_set(key="workflow_generation_model", value="big-writer")
    config_set(key="workflow_generation_prompt", value="Custom system. Rules: {platform_rules}")
    fake.reply("A post.")
    draft_write(brief("mastodon", char_limit=1000), backend=backend)
    request = fake.requests[0]
    assert request.model == "big-writer"
    assert request.system.startswith("Custom system. Rules: Mastodon: at most 1000 characters")


def test_generation_retries_429_honouring_retry_after(fake, backend):
    fake.rate_limit_next(retry_after="3")
    fake.reply("Second time lucky.")
    draft = draft_write(brief(), backend=backend)
    assert draft.content == "Second time lucky."
    assert fake.sleeps == [3.0]
    assert draft.metadata["retry"]["retries"] == 1


def test_generation_failures_raise_core_ai_errors(fake, backend):
    fake.error_next(500, times=3)
    with pytest.raises(AIUnavailable):
        draft_write(brief(), backend=backend)
    fake.refuse_next()
    with pytest.raises(AIRefused):
        draft_write(brief(), backend=backend)


def test_evaluation_parses_json(fake, backend, settings):
    fake.reply_json(GOOD)
    evaluation = draft_score(platform="x", content="A post. #A #B", backend=backend, style_samples=("Mine.",))
    assert evaluation.score == 82
    assert evaluation.feedback == "Shorter hook."
    assert evaluation.criteria_scores == {name: 80 for name in CRITERIA}
    assert evaluation.evaluator == f"openai:{settings.AI_TEXT_MODEL}"
    assert evaluation.metadata["criteria_from_rules"] == []
    request = fake.requests[0]
    assert '"score"' in request.system and "A post. #A #B" in request.prompt and "Mine." in request.prompt


def test_evaluation_parses_fenced_json_after_prose(fake, backend):
    fake.reply_json(GOOD, fenced=True, prose="Here is my assessment:")
    assert draft_score(platform="linkedin", content="Post.", backend=backend).score == 82


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ('Sure! {"score": "75/100", "feedback": ["a", "b"]} Hope it helps.', 75),
        ('{"score": 140, "criteria_scores": {}}', 100),
        ('{"score": -3}', 0),
        ('{"note": 1} then {"score": 55.6}', 56),
    ],
)
def test_parse_evaluation_variants(answer, score):
    parsed = parse_evaluation(answer)
    from workflows.writing.llm import _clamp, _number

    assert _clamp(_number(parsed["score"])) == score


def test_missing_criteria_are_filled_by_the_builtin_rules_and_clamped(fake, backend):
    fake.reply_json(
        {"score": 120, "feedback": ["One.", "Two."], "criteria_scores": {"clarity": 150, "grammar": "x"}}
    )
    evaluation = draft_score(platform="x", content="We ship today. Try it! #A #B", backend=backend)
    assert evaluation.score == 100
    assert evaluation.feedback == "One.\nTwo."
    assert evaluation.criteria_scores["clarity"] == 100
    assert set(evaluation.metadata["criteria_from_rules"]) == set(CRITERIA) - {"clarity"}
    assert set(evaluation.metadata["clamped"]) == {"score", "clarity"}
    assert all(0 <= v <= 100 for v in evaluation.criteria_scores.values())


@pytest.mark.parametrize("answer", ["I think it is good.", '{"feedback": "no score"}', '{"score": "high"}'])
def test_malformed_evaluation_is_unavailable(fake, backend, answer):
    fake.reply(answer)
    with pytest.raises(AIUnavailable) as caught:
        draft_score(platform="x", content="Post.", backend=backend)
    assert caught.value.retry_reason == "malformed"


def test_malformed_body_is_retried_then_succeeds(fake, backend):
    fake.malformed_next()
    fake.reply_json(GOOD)
    assert draft_score(platform="x", content="Post.", backend=backend).score == 82
    assert fake.count() == 2


def test_timeout_is_unavailable(fake):
    from core.retry import RetryPolicy

    fake.hang_next(5.0)
    backend = fake.backend(timeout=0.2, policy=RetryPolicy(attempts=1))
    with pytest.raises(AIUnavailable) as caught:
        draft_score(platform="x", content="Post.", backend=backend)
    fake.release_hangs()
    assert caught.value.retry_reason == "timeout"


def test_default_backend_from_settings(fake, settings):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = fake.base_url
    settings.AI_TEXT_MODEL = "from-settings"
    fake.reply_json(GOOD)
    draft_score(platform="x", content="Post.")
    assert fake.requests[0].model == "from-settings"


def test_backends_built_per_call_share_one_http_client_per_process(fake):
    """The registry builds a backend per call; building an HTTP client (CA bundle, new connection)
    per completion was a third of an engine step. Both drafts go through the same client."""
    from core.ai.openai_backend import shared_http_client

    fake.reply("First post #a", times=1)
    fake.reply("Second post #b", times=1)
    first, second = fake.backend(), fake.backend()
    assert draft_write(brief(), backend=first).content == "First post #a"
    assert draft_write(brief(), backend=second).content == "Second post #b"
    assert first._client._client is second._client._client is shared_http_client()
    assert second.timeout == 2.0  # each backend's own timeout still goes with its requests
