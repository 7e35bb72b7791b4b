import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedImageFactory, PromptFactory

pytestmark = pytest.mark.django_db


def test_prompt_page_shows_thumbnails_from_the_admin_thumbnail_view(client):
    admin_user = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    prompt = PromptFactory(user=admin_user)
    image = GeneratedImageFactory(prompt=prompt)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/admin/generation/prompt/{prompt.pk}/change/")
    assert page.status_code == 200
    thumbnail = reverse("admin:generation_generatedimage_thumbnail", args=[image.pk])
    assert f'src="{thumbnail}"' in page.content.decode()
    assert image.encoded_image not in page.content.decode()
    image_selects = [q["sql"] for q in queries.captured_queries if 'FROM "generated_images"' in q["sql"]]
    assert image_selects and not any('"encoded_image"' in sql for sql in image_selects)
    # An admin-only view, never a public URL.
    content = client.get(thumbnail)
    assert content.status_code == 200 and content["Content-Type"] == "image/png"
