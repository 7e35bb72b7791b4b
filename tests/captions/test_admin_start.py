"""Starting a caption scan from the admin, and its live progress and Cancel button."""

import pytest
from django.urls import reverse

from accounts.models import Role
from captions.models import CaptionGenerationTask, TaskStatus
from captions.services import tasks as task_services
from tests.admin_start import assert_error_next_to, form_of, user_with_role
from tests.factories.captions import CaptionGenerationTaskFactory, CaptionGenerationUserSettingsFactory
from tests.factories.platforms import PlatformConnectionFactory

pytestmark = pytest.mark.django_db

ADD_URL = "admin:captions_captiongenerationtask_add"


@pytest.fixture
def reviewer():
    return user_with_role(Role.REVIEWER, username="rita")


@pytest.fixture
def client_of(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(task_services, "_queue_run", lambda task_id: calls.append(str(task_id)))
    return calls


def test_the_form_lists_only_the_users_own_connections_with_the_settings_a_scan_uses(reviewer, client_of):
    saved = PlatformConnectionFactory(user=reviewer, name="heron account")
    CaptionGenerationUserSettingsFactory(
        platform_connection=saved, max_posts_per_run=123, language="pt-BR", include_replies=False
    )
    defaults = PlatformConnectionFactory(user=reviewer, name="gull account")
    stranger = PlatformConnectionFactory(name="someone else's account")

    response = client_of(reviewer).get(reverse(ADD_URL))

    assert response.status_code == 200
    choices = set(form_of(response).fields["platform_connection"].queryset)
    assert choices == {saved, defaults}
    html = response.content.decode()
    assert "someone else&#x27;s account" not in html and stranger.name not in html
    rows = {row["connection"]: row["settings"] for row in response.context["settings_rows"]}
    # What the task service would snapshot: saved values, else the model's defaults.
    assert rows[saved] == task_services.caption_settings_snapshot(user=reviewer, connection=saved)
    assert rows[saved]["max_posts_per_run"] == 123 and rows[saved]["language"] == "pt-BR"
    assert rows[defaults] == task_services.caption_settings_snapshot(user=reviewer, connection=defaults)
    assert "<td>123</td>" in html and "pt-BR" in html
    assert 'name="_start"' in html and "captions/scan_form.js" in html


def test_moderators_pick_among_their_own_connections_too(client_of):
    moderator = user_with_role(Role.MODERATOR)
    own = PlatformConnectionFactory(user=moderator)
    PlatformConnectionFactory(name="owner's account")
    response = client_of(moderator).get(reverse(ADD_URL))
    assert set(form_of(response).fields["platform_connection"].queryset) == {own}


def test_a_valid_scan_creates_one_task_and_queues_it_once(
    reviewer, client_of, queued, django_capture_on_commit_callbacks
):
    connection = PlatformConnectionFactory(user=reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(reviewer).post(reverse(ADD_URL), {"platform_connection": connection.pk})

    task = CaptionGenerationTask.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:captions_captiongenerationtask_change", args=[task.pk])
    assert task.user == reviewer and task.platform_connection == connection
    assert task.status == TaskStatus.QUEUED
    assert task.settings_json == task_services.caption_settings_snapshot(user=reviewer, connection=connection)
    assert queued == [str(task.pk)]


def _disabled(user):
    return PlatformConnectionFactory(user=user, is_active=False).pk


def _busy(user):
    connection = PlatformConnectionFactory(user=user)
    CaptionGenerationTaskFactory(platform_connection=connection, status=TaskStatus.RUNNING)
    return connection.pk


def _strangers(user):
    return PlatformConnectionFactory().pk


def _not_mastodon(user):
    return PlatformConnectionFactory(user=user, platform_type="linkedin").pk


@pytest.mark.parametrize(
    "value",
    [lambda user: "", lambda user: "abc", lambda user: 999_999, _strangers, _not_mastodon, _disabled, _busy],
    ids=["empty", "not-a-number", "unknown", "another-users", "not-mastodon", "disabled", "already-scanning"],
)
def test_a_bad_connection_is_an_error_next_to_the_field_and_creates_nothing(
    reviewer, client_of, queued, django_capture_on_commit_callbacks, value
):
    chosen = value(reviewer)
    before = CaptionGenerationTask.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(reviewer).post(reverse(ADD_URL), {"platform_connection": chosen})
    assert_error_next_to(response, "platform_connection")
    assert CaptionGenerationTask.objects.count() == before
    assert queued == []


def test_viewers_cannot_start_a_scan(client_of):
    viewer = user_with_role(Role.VIEWER)
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    connection = PlatformConnectionFactory(user=viewer)
    client = client_of(viewer)
    assert client.get(reverse(ADD_URL)).status_code == 403
    assert client.post(reverse(ADD_URL), {"platform_connection": connection.pk}).status_code == 403
    assert not CaptionGenerationTask.objects.exists()


# --- progress and cancel -------------------------------------------------------------------------


def _running(user, **fields):
    return CaptionGenerationTaskFactory(
        platform_connection=PlatformConnectionFactory(user=user),
        status=TaskStatus.RUNNING,
        progress_percent=40,
        current_step="captioning 4 of 10",
        **fields,
    )


def test_progress_json_says_where_the_task_is(reviewer, client_of):
    task = _running(reviewer)
    response = client_of(reviewer).get(
        reverse("admin:captions_captiongenerationtask_progress", args=[task.pk])
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "status": "running",
        "status_label": "Running",
        "percent": 40,
        "step": "captioning 4 of 10",
        "terminal": False,
        "cancellable": True,
        "error": "",
    }


def test_a_finished_task_is_terminal_and_not_cancellable(reviewer, client_of):
    task = _running(reviewer)
    CaptionGenerationTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.FAILED, error_message="token expired"
    )
    data = (
        client_of(reviewer)
        .get(reverse("admin:captions_captiongenerationtask_progress", args=[task.pk]))
        .json()
    )
    assert data["terminal"] is True and data["cancellable"] is False and data["error"] == "token expired"


def test_another_users_task_is_a_404_for_progress_cancel_and_change(reviewer, client_of):
    theirs = _running(user_with_role(Role.REVIEWER))
    client = client_of(reviewer)
    assert (
        client.get(reverse("admin:captions_captiongenerationtask_progress", args=[theirs.pk])).status_code
        == 404
    )
    assert (
        client.post(reverse("admin:captions_captiongenerationtask_cancel", args=[theirs.pk])).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.status == TaskStatus.RUNNING


def test_the_change_page_has_the_live_panel_and_cancel_stops_the_task(reviewer, client_of):
    task = _running(reviewer)
    client = client_of(reviewer)
    change = reverse("admin:captions_captiongenerationtask_change", args=[task.pk])
    html = client.get(change).content.decode()
    progress_url = reverse("admin:captions_captiongenerationtask_progress", args=[task.pk])
    cancel_url = reverse("admin:captions_captiongenerationtask_cancel", args=[task.pk])
    assert f'data-progress-url="{progress_url}"' in html
    assert f'action="{cancel_url}"' in html and "core/progress.js" in html

    assert client.get(cancel_url).status_code == 405
    response = client.post(cancel_url)
    assert response.status_code == 302 and response["Location"] == change
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED and task.current_step == "cancelling"
    # Finished now: the panel no longer offers Cancel.
    html = client.get(change).content.decode()
    assert 'data-progress-terminal="true"' in html
    assert "data-progress-cancel hidden" in html
