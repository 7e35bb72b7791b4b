"""List fields that need items say so in plain words ("Give at least one platform."), never
DRF's "Ensure this field has at least 1 elements." or "This list may not be empty."."""

import pytest
from django.urls import get_resolver
from rest_framework import relations, serializers

from accounts.api.api_keys import ApiKeyCreateSerializer
from accounts.models import Role
from captions.api.serializers import BulkIdsSerializer
from scraping.api.serializers import TagsSerializer
from tests.factories.accounts import UserFactory
from tests.isolation import client_for

PROJECT_APPS = {"accounts", "captions", "core", "generation", "platforms", "scraping", "workflows"}
LIST_FIELDS = (
    serializers.ListField,
    serializers.ListSerializer,
    serializers.MultipleChoiceField,
    relations.ManyRelatedField,
)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _lists_needing_items(field, where: str):
    """(where, field) for each writable list field under `field` that refuses an empty list."""
    needs_items = getattr(field, "min_length", None) or not getattr(field, "allow_empty", True)
    if isinstance(field, LIST_FIELDS) and not field.read_only and needs_items:
        yield where, field
    child = getattr(field, "child", None) or getattr(field, "child_relation", None)
    if child is not None:
        yield from _lists_needing_items(child, f"{where}.child")
    if isinstance(field, serializers.Serializer):
        for name, sub in field.fields.items():
            yield from _lists_needing_items(sub, f"{where}.{name}")


def test_every_list_field_of_the_api_that_needs_items_says_so_in_plain_words():
    get_resolver().url_patterns  # imports every API module  # noqa: B018
    found = []
    for cls in set(_subclasses(serializers.Serializer)):
        if cls.__module__.split(".")[0] not in PROJECT_APPS:
            continue
        for name, field in cls().fields.items():
            found.extend(_lists_needing_items(field, f"{cls.__module__}.{cls.__name__}.{name}"))
    assert len(found) >= 4, "the walk must see the known fields"
    wrong = {
        where: (field.error_messages.get("min_length"), field.error_messages.get("empty"))
        for where, field in found
        if not all(
            str(field.error_messages.get(key, "")).startswith("Give at least one ")
            for key in ("min_length", "empty")
        )
    }
    assert wrong == {}


@pytest.mark.parametrize(
    ("serializer", "data", "field", "message"),
    [
        (TagsSerializer, {"tags": []}, "tags", "Give at least one tag."),
        (BulkIdsSerializer, {"ids": []}, "ids", "Give at least one image id."),
        (
            ApiKeyCreateSerializer,
            {"key_name": "k", "permissions": []},
            "permissions",
            "Give at least one scope.",
        ),
    ],
)
def test_an_empty_list_is_refused_in_plain_words(serializer, data, field, message):
    bound = serializer(data=data)
    assert not bound.is_valid()
    assert [str(error) for error in bound.errors[field]] == [message]


@pytest.mark.django_db
def test_a_workflow_without_platforms_is_told_to_give_one():
    api = client_for(UserFactory(role=Role.USER))
    response = api.post(
        "/api/v1/workflows/",
        {"mode": "manual", "source_content": {"text": "We shipped."}, "platforms": []},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"platforms": ["Give at least one platform."]}
