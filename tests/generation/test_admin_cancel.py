"""The Cancel buttons of image prompts and persona tasks in the admin (core.admin_progress with the
generation cancel services) and the changelists' cancel action."""

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from generation.models import GenerationTask, Prompt, PromptStatus, TaskStatus
from tests.admin_start import user_with_role
from tests.factories.generation import GenerationTaskFactory, PromptFactory

pytestmark = pytest.mark.django_db

KINDS = {
    "prompt": (PromptFactory, Prompt, PromptStatus.RUNNING, PromptStatus.CANCELLED, PromptStatus.COMPLETED),
    "generationtask": (
        GenerationTaskFactory,
        GenerationTask,
        TaskStatus.GENERATING_IMAGES,
        TaskStatus.CANCELLED,
        TaskStatus.COMPLETED,
    ),
}


@pytest.fixture
def reviewer(client):
    user = user_with_role(Role.REVIEWER, username="gen")
    client.force_login(user)
    return user


def _urls(kind: str, pk: int) -> tuple[str, str, str]:
    return tuple(
        reverse(f"admin:generation_{kind}_{name}", args=[pk]) for name in ("change", "progress", "cancel")
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_change_page_has_cancel_and_it_stops_the_work(client, reviewer, kind):
    factory, model, running, cancelled, _ = KINDS[kind]
    row = factory(user=reviewer, status=running)
    change, progress, cancel = _urls(kind, row.pk)
    html = client.get(change).content.decode()
    assert f'data-progress-url="{progress}"' in html and f'action="{cancel}"' in html
    assert "data-progress-cancel hidden" not in html

    assert client.get(cancel).status_code == 405  # POST only
    assert model.objects.get(pk=row.pk).status == running

    response = client.post(cancel)
    assert response.status_code == 302 and response["Location"] == change
    assert model.objects.get(pk=row.pk).status == cancelled
    assert AuditLog.objects.filter(action__endswith=".cancelled", user=reviewer).count() == 1
    page = client.get(change)
    html = page.content.decode()
    assert "Cancelled: running work stops at its next step." in html
    # The panel shows the cancelled state, finished: no more polling, no Cancel.
    assert 'data-progress-terminal="true"' in html and "data-progress-cancel hidden" in html
    assert "sd-status-cancelled" in html
    data = client.get(progress).json()
    assert data["status"] == "cancelled" and data["status_label"] == "Cancelled"
    assert data["terminal"] is True and data["cancellable"] is False


@pytest.mark.parametrize("kind", KINDS)
def test_a_finished_row_is_refused_with_the_services_message(client, reviewer, kind):
    factory, model, _, _, finished = KINDS[kind]
    row = factory(user=reviewer, status=finished)
    change, _, cancel = _urls(kind, row.pk)
    response = client.post(cancel, follow=True)
    assert response.redirect_chain[-1][0] == change
    assert "it cannot be cancelled" in response.content.decode()
    assert model.objects.get(pk=row.pk).status == finished


@pytest.mark.parametrize("kind", KINDS)
def test_another_users_row_is_a_404(client, reviewer, kind):
    factory, model, running, _, _ = KINDS[kind]
    theirs = factory(user=user_with_role(Role.REVIEWER), status=running)
    _, progress, cancel = _urls(kind, theirs.pk)
    assert client.post(cancel).status_code == 404
    assert client.get(progress).status_code == 404
    assert model.objects.get(pk=theirs.pk).status == running


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_change_permission_there_is_no_cancel(client, kind):
    factory, model, running, _, _ = KINDS[kind]
    viewer = user_with_role(Role.VIEWER)
    viewer.is_staff = True  # signed into the admin, reading only
    viewer.save(update_fields=["is_staff"])
    client.force_login(viewer)
    row = factory(user=viewer, status=running)
    change, _, cancel = _urls(kind, row.pk)
    html = client.get(change).content.decode()
    assert "data-progress-url" in html and f'action="{cancel}"' not in html
    assert client.post(cancel).status_code == 403
    assert model.objects.get(pk=row.pk).status == running


@pytest.mark.parametrize("kind", KINDS)
def test_the_changelist_cancel_action(client, reviewer, kind):
    factory, model, running, cancelled, finished = KINDS[kind]
    mine = factory(user=reviewer, status=running)
    done = factory(user=reviewer, status=finished)
    response = client.post(
        reverse(f"admin:generation_{kind}_changelist"),
        {"action": "cancel_selected", "_selected_action": [mine.pk, done.pk]},
        follow=True,
    )
    assert "(s) cancelled; only waiting or running ones can be cancelled." in response.content.decode()
    assert model.objects.get(pk=mine.pk).status == cancelled
    assert model.objects.get(pk=done.pk).status == finished
