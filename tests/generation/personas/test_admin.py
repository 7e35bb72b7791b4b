import pytest

from accounts.models import Role
from tests.factories.accounts import UserFactory
from tests.factories.generation import GeneratedPersonaFactory, GenerationTaskFactory

pytestmark = pytest.mark.django_db


def test_task_page_shows_progress_personas_and_the_bio_prompt_link(client):
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    task = GenerationTaskFactory(number_to_generate=3, personas_generated=1, images_generated=2)
    GeneratedPersonaFactory(task=task, position=0, first_name="Inline", last_name="Person")
    response = client.get(f"/admin/generation/generationtask/{task.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 / 3" in page and "2 / 12" in page
    assert "Inline Person" in page
    assert "/admin/core/systemconfig/?q=bio_prompt_" in page
    listing = client.get("/admin/core/systemconfig/?q=bio_prompt_").content.decode()
    assert "bio_prompt_tiktok" in listing
