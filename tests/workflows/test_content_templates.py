"""Named content templates: listing, rendering, validation, and templates from SystemConfig."""

import logging

import pytest
from django.core.exceptions import ValidationError

from core.models import ConfigType
from core.services import config_set
from workflows.content_templates import BUILTIN_TEMPLATES, template_list, template_render
from workflows.writing import SourceMaterial

pytestmark = pytest.mark.django_db


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


def test_builtin_templates_are_listed():
    names = [t.name for t in template_list()]
    assert names[: len(BUILTIN_TEMPLATES)] == [t.name for t in BUILTIN_TEMPLATES]
    assert {"product_launch", "event_announcement", "article_summary", "case_study", "hiring"} <= set(names)
    for template in template_list():
        assert template.title and template.description and template.fields
        assert any(f.required for f in template.fields)


def test_render_fills_fields_and_drops_lines_of_empty_optional_fields():
    source = template_render(
        name="product_launch",
        fields={
            "product_name": " Socialdesk 2.0 ",
            "description": "Repurposing for teams.",
            "url": "https://ex.org/p",
        },
    )
    assert isinstance(source, SourceMaterial)
    assert source.title == "Introducing Socialdesk 2.0"
    assert source.text == (
        "Introducing Socialdesk 2.0.\n\nRepurposing for teams.\n\nLearn more: https://ex.org/p"
    )
    assert "Key features" not in source.text and "Availability" not in source.text
    assert source.urls == ("https://ex.org/p",)


def test_every_builtin_renders_with_its_required_fields():
    for template in BUILTIN_TEMPLATES:
        fields = {f.name: f"Value of {f.name}" for f in template.fields if f.required}
        source = template_render(name=template.name, fields=fields)
        assert source.text and source.title
        assert "{" not in source.text


def test_unknown_template():
    with pytest.raises(ValidationError) as caught:
        template_render(name="nope", fields={})
    assert "Unknown template" in errors_of(caught)["template_input.name"][0]


def test_missing_unknown_overlong_and_bad_url_fields_are_reported_together():
    with pytest.raises(ValidationError) as caught:
        template_render(
            name="hiring",
            fields={
                "role": "x" * 301,
                "team": "   ",
                "salary": "lots",
                "responsibilities": ["not", "text"],
                "apply_url": "javascript:alert(1)",
            },
        )
    errors = errors_of(caught)
    assert "At most 300 characters" in errors["template_input.fields.role"][0]
    assert "required" in errors["template_input.fields.team"][0]
    assert "Unknown field" in errors["template_input.fields.salary"][0]
    assert errors["template_input.fields.responsibilities"] == ["Must be text."]
    assert "URL" in errors["template_input.fields.apply_url"][0]


def test_fields_must_be_an_object():
    with pytest.raises(ValidationError) as caught:
        template_render(name="hiring", fields=["role"])
    assert "template_input.fields" in errors_of(caught)


NEWSLETTER = {
    "name": "newsletter",
    "title": "Newsletter",
    "description": "Monthly news.",
    "fields": [
        {"name": "topic", "label": "Topic", "required": True},
        {"name": "details", "label": "Details", "required": False},
    ],
    "body": "This month: {topic}\n\n{details}",
    "title_pattern": "News: {topic}",
}


def test_templates_from_system_config():
    config_set(key="workflow_templates", value=[NEWSLETTER], value_type=ConfigType.JSON)
    names = [t.name for t in template_list()]
    assert names[-1] == "newsletter"
    source = template_render(name="newsletter", fields={"topic": "Releases"})
    assert source == SourceMaterial(text="This month: Releases", title="News: Releases", urls=())
    with pytest.raises(ValidationError):
        template_render(name="newsletter", fields={})


@pytest.mark.parametrize(
    "bad",
    [
        "not a dict",
        {**NEWSLETTER, "name": "Bad Name"},
        {**NEWSLETTER, "body": ""},
        {**NEWSLETTER, "fields": []},
        {**NEWSLETTER, "body": "Uses {unknown}"},
        {**NEWSLETTER, "body": "Attribute {topic.__class__}"},
        {**NEWSLETTER, "name": "hiring"},  # cannot replace a built-in
    ],
)
def test_malformed_configured_templates_are_skipped_with_a_warning(bad, caplog):
    good = {**NEWSLETTER, "name": "digest"}
    config_set(key="workflow_templates", value=[bad, good], value_type=ConfigType.JSON)
    with caplog.at_level(logging.WARNING, logger="workflows.content_templates"):
        names = [t.name for t in template_list()]
    assert "digest" in names and "newsletter" not in names
    assert names.count("hiring") == 1
    assert "workflow_templates" in caplog.text


def test_a_setting_that_is_not_a_list_is_ignored(caplog):
    config_set(key="workflow_templates", value={"name": "x"}, value_type=ConfigType.JSON)
    with caplog.at_level(logging.WARNING, logger="workflows.content_templates"):
        assert len(template_list()) == len(BUILTIN_TEMPLATES)
    assert "not a JSON list" in caplog.text
