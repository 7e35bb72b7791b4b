"""Bodies that used to end in a 500: deep nesting, lone surrogates and NUL characters.

Both must be a 400 in the project's error format, and nothing that cannot be encoded may be
echoed back. The choice fields are discovered from the OpenAPI schema and the serializers, so a
new one is covered without touching this file.
"""

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from accounts.models import Role
from core.api.errors import api_exception_handler
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

# 100,000 levels, about 200 KB: what the report sent.
DEEP_BODY = "[" * 100_000 + "]" * 100_000
LONE_SURROGATE = '"\\ud800"'  # JSON text; json.loads gives the one code point U+D800
ENDPOINTS = [
    "/api/v1/auth/login/",
    "/api/v1/workflows/",
    "/api/v1/scraping/jobs/",
    "/api/v1/platforms/connections/",
    "/api/v1/system-config/",
]


def admin_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.ADMIN))
    return client


def assert_encodable_400(response, *, code: str | None = None) -> dict:
    assert response.status_code == 400, response.content[:500]
    text = response.content.decode("utf-8")  # strict: an unencodable echo would not get here
    assert "\ud800" not in text
    body = json.loads(text)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_body_nested_100000_levels_is_a_400(url):
    response = admin_client().post(url, data=DEEP_BODY, content_type="application/json")
    error = assert_encodable_400(response, code="malformed_request")
    assert "nests deeper" in error["message"]


@pytest.mark.parametrize("depth", [65, 900])
def test_objects_nested_deeper_than_the_limit_are_a_400(depth):
    # 900 parses (under Python's recursion limit) but would overflow later, in a serializer or
    # the database adapter: the parser refuses it too.
    body = '{"a": ' * depth + "1" + "}" * depth
    response = admin_client().post("/api/v1/workflows/", data=body, content_type="application/json")
    assert_encodable_400(response, code="malformed_request")


def test_moderate_nesting_still_parses():
    # 10 levels deep inside a scraping job's configuration: a normal 400 about the values, not
    # a malformed body.
    nested = '{"x": ' * 10 + "1" + "}" * 10
    body = '{"title": "t", "job_type": "url_list", "configuration": {"urls": ' + nested + "}}"
    response = admin_client().post("/api/v1/scraping/jobs/", data=body, content_type="application/json")
    error = assert_encodable_400(response, code="invalid")
    assert any(name.startswith("configuration") for name in error["fields"])


def _schema_choice_fields() -> list[tuple[str, str, str]]:
    """(method, path, field) for every enum property of every JSON request body, nested included."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def is_enum(node) -> bool:
        for key in ("allOf", "oneOf", "anyOf"):
            if key in node:
                return any(is_enum(part) for part in node[key])
        node = resolve(node)
        if node.get("type") == "array" and "items" in node:
            return is_enum(node["items"])
        return "enum" in node

    def walk(node, prefix: tuple[str, ...], found: list[tuple[str, ...]], seen: set[int]):
        node = resolve(node)
        if id(node) in seen:
            return
        seen = seen | {id(node)}
        for name, prop in node.get("properties", {}).items():
            if is_enum(prop):
                found.append((*prefix, name))
            else:
                walk(prop, (*prefix, name), found, seen)

    fields = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if not content:
                continue
            found: list[tuple[str, ...]] = []
            walk(content["schema"], (), found, set())
            fields.extend((method, path, ".".join(name)) for name in found)
    return fields


def _body_with(field: str, value_json: str) -> str:
    """JSON text setting the dotted `field` to the raw JSON `value_json` (a list for array enums
    would be refused for its type first, so a plain string is sent everywhere)."""
    parts = field.split(".")
    return "".join(f'{{"{part}": ' for part in parts) + value_json + "}" * len(parts)


def _existing_objects(owner) -> dict[str, str]:
    """An object of the caller's for each detail path that takes a choice field."""
    from tests.factories.core import SystemConfigFactory
    from tests.factories.platforms import PlatformConnectionFactory
    from tests.factories.workflows import WorkflowFactory

    workflow = str(WorkflowFactory(user=owner).pk)
    return {
        "/api/v1/platforms/connections/{id}/": str(PlatformConnectionFactory(user=owner).pk),
        "/api/v1/system-config/{key}/": SystemConfigFactory().key,
        "/api/v1/workflows/{id}/review/": workflow,
        "/api/v1/workflows/{workflow_id}/media/": workflow,
    }


def test_a_lone_surrogate_in_every_choice_field_is_a_400_naming_it():
    choice_fields = _schema_choice_fields()
    assert len(choice_fields) >= 12, choice_fields  # the report counted 12; more is fine
    admin = UserFactory(role=Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    objects = _existing_objects(admin)
    for method, path, field in choice_fields:
        if "{" in path:
            assert path in objects, f"add an object for {path} to _existing_objects"
            path = re.sub(r"\{[^}]+\}", objects[path], path)
        response = getattr(client, method)(
            path, data=_body_with(field, LONE_SURROGATE), content_type="application/json"
        )
        error = assert_encodable_400(response)
        assert field in error["fields"], (method, path, field, error)


def _project_serializers() -> list[type[serializers.Serializer]]:
    import config.urls  # noqa: F401 - imports every API module, so every serializer class exists

    found, todo = [], [serializers.Serializer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in {
            "accounts",
            "core",
            "platforms",
            "captions",
            "workflows",
            "scraping",
            "generation",
        }:
            found.append(cls)
    return found


def _fields(serializer: serializers.Serializer, prefix: str = ""):
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ListSerializer):
            field = field.child
        if isinstance(field, serializers.Serializer):
            yield from _fields(field, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_every_field_that_echoes_a_lone_surrogate_renders_an_encodable_400():
    """The handler's side, without the parser: whatever a field puts in its message (a choice, a
    UUID, a primary key, a slug...) and whatever the field's name, the error renders."""
    echoed_choices = 0
    refused = 0
    for serializer_class in _project_serializers():
        try:
            serializer = serializer_class(context={"request": None})
            fields = list(_fields(serializer))
        except Exception:  # noqa: S112 - serializers that need view arguments to exist
            continue
        for name, field in fields:
            if field.read_only:
                continue
            try:
                field.run_validation("\ud800")
            except ValidationError as exc:
                detail = exc.detail
            except Exception:  # noqa: S112 - fields whose validation needs a bound instance
                continue
            else:
                continue
            refused += 1
            response = api_exception_handler(ValidationError({f"{name}\ud800": detail}), {})
            rendered = JSONRenderer().render(response.data).decode("utf-8")
            assert response.status_code == 400
            assert "\ud800" not in rendered
            assert "\ufffd" in rendered or "\\ufffd" in rendered
            if isinstance(field, serializers.ChoiceField):
                echoed_choices += 1
    assert echoed_choices >= 12
    assert refused > echoed_choices  # other field types went through the handler too


def test_a_lone_surrogate_in_a_key_or_a_list_is_named_and_not_echoed():
    client = admin_client()
    response = client.post(
        "/api/v1/scraping/jobs/",
        data=(
            '{"title": "t", "job_type": "url_list", '
            '"configuration": {"urls": ["https://a.example", "\\udfff"]}}'
        ),
        content_type="application/json",
    )
    assert assert_encodable_400(response)["fields"] == {
        "configuration.urls.1": ["Not valid Unicode text: it holds a lone surrogate (\\ud800-\\udfff)."]
    }
    response = client.post("/api/v1/workflows/", data='{"\\ud800x": 1}', content_type="application/json")
    assert list(assert_encodable_400(response)["fields"]) == ["\ufffdx"]


def test_a_valid_surrogate_pair_is_a_character_and_passes():
    # "\ud83d\ude00" is 😀: a proper pair, not a lone surrogate.
    response = admin_client().post(
        "/api/v1/workflows/",
        data='{"mode": "manual", "source_content": {"text": "\\ud83d\\ude00"}, "platforms": ["nope"]}',
        content_type="application/json",
    )
    error = assert_encodable_400(response, code="invalid")
    assert "platforms.0" in error["fields"] or "platforms" in error["fields"]


def test_a_nul_character_anywhere_is_a_400_naming_where_it_is():
    # PostgreSQL stores no NUL in text or jsonb: a free-form object (a resource's metadata) was a 500.
    client = admin_client()
    response = client.post(
        "/api/v1/workflows/resources/",
        data='{"type": "reference", "content": "Text", "title": "t", "metadata": {"a": [1, "x\\u0000"]}}',
        content_type="application/json",
    )
    message = "Text that cannot be stored: it holds a NUL character (\\u0000)."
    assert assert_encodable_400(response)["fields"] == {"metadata.a.1": [message]}
    response = client.post(
        "/api/v1/workflows/resources/",
        data='{"type": "reference", "content": "Text", "title": "t", "metadata": {"\\u0000k": 1}}',
        content_type="application/json",
    )
    assert assert_encodable_400(response)["fields"] == {"metadata.\ufffdk": [message]}
    # an escaped backslash before "u0000" is text, not a NUL
    response = client.post(
        "/api/v1/workflows/resources/",
        data='{"type": "reference", "content": "Text", "title": "t", "metadata": {"a": "\\\\u0000"}}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == {"a": "\\u0000"}
