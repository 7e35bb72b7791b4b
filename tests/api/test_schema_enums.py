"""The OpenAPI schema generates without drf-spectacular warnings (W001 in `check --deploy`, where
65 of them buried the real ones): every enum has a chosen name (no hashed collision names such
as Status043Enum, no choice set under two names), and both credentials are described."""

import re
from io import StringIO

from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

HASHED = re.compile(r"[0-9a-f]{3}Enum$")


def test_no_enum_gets_a_generated_name_or_two_names():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    enums = {name: tuple(c["enum"]) for name, c in schema["components"]["schemas"].items() if "enum" in c}
    assert not [name for name in enums if HASHED.search(name)]
    by_values: dict[tuple, list[str]] = {}
    for name, values in enums.items():
        by_values.setdefault(values, []).append(name)
    assert not [names for names in by_values.values() if len(names) > 1]
    # The names chosen for the sets that collided (literal: a rename is a schema change).
    for name in (
        "WorkflowStatusEnum",
        "WorkflowPlatformEnum",
        "PlatformStateStatusEnum",
        "PublishingJobStatusEnum",
        "ResourceTypeEnum",
        "ScrapingJobStatusEnum",
        "QueuedTaskStatusEnum",
        "ConfigTypeEnum",
    ):
        assert name in enums, name


def test_check_deploy_has_no_drf_spectacular_warning():
    output = StringIO()
    call_command("check", "--deploy", stdout=output, stderr=output)
    warnings = [line for line in output.getvalue().splitlines() if "drf_spectacular" in line]
    assert warnings == []


def test_the_schema_describes_bearer_tokens_and_api_keys():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http" and schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["apiKeyAuth"] == {
        **schemes["apiKeyAuth"],
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
    }
    security = schema["paths"]["/api/v1/workflows/"]["get"]["security"]
    assert {"bearerAuth": []} in security and {"apiKeyAuth": []} in security
