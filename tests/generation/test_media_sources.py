"""The generation app's images as workflow media sources (core.media_sources): fetched and listed
only for their owner."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.media_sources import media_source_choices, media_source_fetch
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedImageFactory, PromptFactory

pytestmark = pytest.mark.django_db


def test_the_owners_newest_generated_images_are_listed_with_their_prompt():
    owner = UserFactory()
    prompt = PromptFactory(user=owner, prompt_text="A lighthouse   at dusk,\nwarm light")
    older = GeneratedImageFactory(prompt=prompt, created_at=timezone.now() - timedelta(days=1))
    newer = GeneratedImageFactory(prompt=prompt)
    GeneratedImageFactory()  # someone else's

    choices = media_source_choices(name="generated", user=owner, limit=20)
    assert [ref for ref, _ in choices] == [str(newer.pk), str(older.pk)]
    label = dict(choices)[str(newer.pk)]
    assert label.startswith(f"Generated image {newer.pk}, ")
    assert label.endswith(": A lighthouse at dusk, warm light")
    assert media_source_choices(name="generated", user=owner, limit=1) == choices[:1]
    # Each listed ref is one the source answers for this owner.
    fetched = media_source_fetch(name="generated", user=owner, ref=str(newer.pk))
    assert fetched.filename.startswith(f"generated-{newer.pk}.")


def test_a_source_without_a_lister_lists_nothing():
    owner = UserFactory()
    assert media_source_choices(name="persona", user=owner) == []
    assert media_source_choices(name="no-such-source", user=owner) == []
