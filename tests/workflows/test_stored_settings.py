"""Workflow settings from SystemConfig: defaults, overrides, and invalid values falling back."""

import logging

import pytest

from core.models import ConfigType, SystemConfig
from core.services import config_set
from workflows.stored_settings import (
    DEFAULT_EVALUATION_PROMPT,
    DEFAULT_GENERATION_PROMPT,
    WorkflowSettings,
    workflow_settings,
)

pytestmark = pytest.mark.django_db


def test_defaults(settings):
    settings.AI_TEXT_MODEL = "text-model-x"
    assert workflow_settings() == WorkflowSettings(
        score_threshold=70,
        max_iterations=3,
        generation_model="text-model-x",
        evaluation_model="text-model-x",
        generation_prompt=DEFAULT_GENERATION_PROMPT,
        evaluation_prompt=DEFAULT_EVALUATION_PROMPT,
        step_max_attempts=3,
    )


def test_default_prompts_format_with_platform_rules():
    assert "RULES" in DEFAULT_GENERATION_PROMPT.format(platform_rules="RULES")
    evaluation = DEFAULT_EVALUATION_PROMPT.format(platform_rules="RULES")
    assert '{"score": <0-100 overall>' in evaluation and "RULES" in evaluation


def test_stored_values_win():
    config_set(key="workflow_score_threshold", value=80, value_type=ConfigType.INT)
    config_set(key="workflow_max_iterations", value="5")  # a string that is a number is fine
    config_set(key="workflow_generation_model", value="writer-1")
    config_set(key="workflow_evaluation_model", value="judge-1")
    config_set(key="workflow_generation_prompt", value="Write. {platform_rules}")
    config_set(key="workflow_evaluation_prompt", value='Judge as JSON {{"score": 1}}. {platform_rules}')
    config_set(key="workflow_step_max_attempts", value=2, value_type=ConfigType.INT)
    current = workflow_settings()
    assert current.score_threshold == 80
    assert current.max_iterations == 5
    assert current.generation_model == "writer-1"
    assert current.evaluation_model == "judge-1"
    assert current.generation_prompt == "Write. {platform_rules}"
    assert current.evaluation_prompt.startswith("Judge as JSON")
    assert current.step_max_attempts == 2


@pytest.mark.parametrize(
    ("key", "value", "value_type", "field", "default"),
    [
        ("workflow_score_threshold", "seventy", ConfigType.STRING, "score_threshold", 70),
        ("workflow_score_threshold", 150, ConfigType.INT, "score_threshold", 70),
        ("workflow_score_threshold", True, ConfigType.BOOL, "score_threshold", 70),
        ("workflow_max_iterations", 0, ConfigType.INT, "max_iterations", 3),
        ("workflow_max_iterations", 2.5, ConfigType.FLOAT, "max_iterations", 3),
        ("workflow_step_max_attempts", [3], ConfigType.JSON, "step_max_attempts", 3),
        (
            "workflow_generation_prompt",
            "Broken {prompt",
            ConfigType.STRING,
            "generation_prompt",
            DEFAULT_GENERATION_PROMPT,
        ),
        (
            "workflow_evaluation_prompt",
            "Uses {other}",
            ConfigType.STRING,
            "evaluation_prompt",
            DEFAULT_EVALUATION_PROMPT,
        ),
        (
            "workflow_generation_prompt",
            "   ",
            ConfigType.STRING,
            "generation_prompt",
            DEFAULT_GENERATION_PROMPT,
        ),
    ],
)
def test_invalid_values_fall_back_with_a_warning(key, value, value_type, field, default, caplog):
    config_set(key=key, value=value, value_type=value_type)
    with caplog.at_level(logging.WARNING, logger="workflows.stored_settings"):
        assert getattr(workflow_settings(), field) == default
    assert key in caplog.text


def test_a_value_that_does_not_parse_as_its_type_falls_back(caplog):
    # written around the service (a hand-edited database row): the typed read raises
    SystemConfig.objects.create(key="workflow_max_iterations", value="not json", type=ConfigType.JSON)
    with caplog.at_level(logging.WARNING, logger="workflows.stored_settings"):
        assert workflow_settings().max_iterations == 3
    assert "workflow_max_iterations" in caplog.text


def test_all_settings_are_read_in_one_query(django_assert_num_queries):
    config_set(key="workflow_score_threshold", value=85, value_type="int")
    config_set(key="workflow_generation_model", value="writer-7b", value_type="string")
    with django_assert_num_queries(1):
        config = workflow_settings()
    assert (config.score_threshold, config.generation_model) == (85, "writer-7b")
