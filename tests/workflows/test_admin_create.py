"""Starting a workflow in the admin (admin:workflows_workflow_add): the form calls workflow_create,
as the API does, and a bad value is a form error next to its field with nothing created."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.services.users import user_set_role
from tests.factories.accounts import UserFactory
from tests.factories.workflows import ResourceFactory
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from workflows.models import Platform, PlatformStatus, Workflow, WorkflowMode, WorkflowStatus
from workflows.services.workflows import MAX_SOURCE_CHARS

pytestmark = pytest.mark.django_db

ADD = reverse("admin:workflows_workflow_add")
SOURCE = (
    "Our team shipped version 2 of the app today. It starts twice as fast, uses half the memory "
    "and works offline. We rewrote the sync engine from scratch after a year of user feedback."
)
PAGE = """<!doctype html><html lang="en"><head><title>Version 2 is out</title></head><body>
<nav>Home | Blog</nav><article><h1>Version 2 is out</h1>
<p>Version 2 of the app starts twice as fast and uses half the memory of version 1.</p>
<p>It works offline, and the sync engine was rewritten from scratch after a year of feedback.</p>
<p>Everyone gets the update for free this week, on every platform we support.</p>
</article><footer>Copyright</footer></body></html>"""


def signed_in(role=Role.REVIEWER, *, staff=False):
    user = user_set_role(user=UserFactory(), role=role)
    if staff and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return user, client


def form_data(**overrides):
    data = {
        "mode": WorkflowMode.MANUAL,
        "source_text": SOURCE,
        "source_url": "",
        "title": "Version 2",
        "platforms": [Platform.X, Platform.LINKEDIN],
        "tone": "friendly",
        "length": "",
        "hashtags": "release, apps",
    }
    data.update(overrides)
    return data


def field_errors(response, name) -> list[str]:
    return response.context["form"].errors.get(name, [])


def test_the_form_offers_every_platform_and_template():
    _, client = signed_in()
    response = client.get(ADD)

    assert response.status_code == 200
    html = response.content.decode()
    for value, _label in Platform.choices:
        assert f'type="checkbox" name="platforms" value="{value}"' in html
    assert 'name="tpl__product_launch__product_name"' in html
    assert "workflows/review.js" in html


def test_a_text_source_starts_the_workflow_and_the_engine(django_capture_on_commit_callbacks):
    user, client = signed_in()
    with override_settings(AI_BACKEND="builtin"), django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD, form_data())

    workflow = Workflow.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:workflows_workflow_review", args=[workflow.pk])
    assert (workflow.user, workflow.mode) == (user, WorkflowMode.MANUAL)
    assert workflow.source_content["text"] == SOURCE and workflow.source_content["title"] == "Version 2"
    assert workflow.manual_options == {"tone": "friendly", "hashtags": ["release", "apps"]}
    assert AuditLog.objects.filter(action="workflow.created", user=user).exists()
    # The engine was queued on commit and (django-q sync in tests) wrote and scored the drafts.
    workflow.refresh_from_db()
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    assert set(workflow.platform_states.values_list("platform", "status")) == {
        (Platform.X, PlatformStatus.AWAITING_REVIEW),
        (Platform.LINKEDIN, PlatformStatus.AWAITING_REVIEW),
    }


def test_a_url_source_reads_the_pages_main_text(httpserver):
    httpserver.expect_request("/post").respond_with_data(PAGE, content_type="text/html; charset=utf-8")
    url = httpserver.url_for("/post")
    _, client = signed_in()

    response = client.post(ADD, form_data(source_text="", source_url=url, title=""))

    assert response.status_code == 302
    source = Workflow.objects.get().source_content
    assert "twice as fast" in source["text"] and "Copyright" not in source["text"]
    assert source["title"] == "Version 2 is out"
    assert source["urls"] == [url]


@pytest.mark.parametrize(
    ("overrides", "fields", "message"),
    [
        ({"source_url": "https://example.com/post"}, ("source_text", "source_url"), "not both"),
        ({"source_text": "   "}, ("source_text", "source_url"), "Give a source text or a source URL"),
        ({"source_text": "", "source_url": "ftp://example.com/x"}, ("source_url",), "valid http(s) URL"),
        ({"source_text": "x" * (MAX_SOURCE_CHARS + 1)}, ("source_text",), f"At most {MAX_SOURCE_CHARS}"),
        ({"title": "t" * 301}, ("title",), "At most 300"),
        ({"platforms": []}, ("platforms",), "Choose at least one platform"),
        ({"platforms": ["myspace"]}, ("platforms",), "Select a valid choice"),
        ({"tone": "t" * 101}, ("tone",), "At most 100"),
        ({"mode": "freestyle"}, ("mode",), "Select a valid choice"),
        ({"mode": WorkflowMode.TEMPLATE}, ("template",), "Choose a template"),
    ],
)
def test_a_bad_value_is_an_error_next_to_its_field_and_nothing_is_created(overrides, fields, message):
    _, client = signed_in()
    response = client.post(ADD, form_data(**overrides))

    assert response.status_code == 200
    for name in fields:
        assert any(message in error for error in field_errors(response, name)), (
            name,
            response.context["form"].errors,
        )
    assert "errorlist" in response.content.decode()
    assert not Workflow.objects.exists()
    assert not AuditLog.objects.filter(action="workflow.created").exists()


def test_a_page_that_cannot_be_read_is_an_error_next_to_the_url(httpserver):
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    _, client = signed_in()

    response = client.post(ADD, form_data(source_text="", source_url=httpserver.url_for("/gone")))

    assert response.status_code == 200
    assert field_errors(response, "source_url")
    assert not Workflow.objects.exists()


def test_template_mode_renders_the_template(django_capture_on_commit_callbacks):
    _, client = signed_in()
    data = form_data(
        mode=WorkflowMode.TEMPLATE,
        source_text="",
        template="product_launch",
        tpl__product_launch__product_name="Socialdesk 2",
        tpl__product_launch__description="A desk for social posts.",
        tpl__product_launch__url="https://example.com/launch",
        tpl__event_announcement__event_name="ignored: another template's field",
    )
    response = client.post(ADD, data)

    assert response.status_code == 302
    workflow = Workflow.objects.get()
    assert workflow.mode == WorkflowMode.TEMPLATE
    assert workflow.template_input == {
        "template": "product_launch",
        "fields": {
            "product_name": "Socialdesk 2",
            "description": "A desk for social posts.",
            "url": "https://example.com/launch",
        },
    }
    assert workflow.source_content["title"] == "Introducing Socialdesk 2"


def test_a_template_field_error_is_next_to_that_field():
    _, client = signed_in()
    data = form_data(
        mode=WorkflowMode.TEMPLATE,
        template="product_launch",
        tpl__product_launch__product_name="Socialdesk 2",
        tpl__product_launch__url="not a url",
    )
    response = client.post(ADD, data)

    assert response.status_code == 200
    assert any("required" in e for e in field_errors(response, "tpl__product_launch__description"))
    assert field_errors(response, "tpl__product_launch__url") == ["Enter a valid http(s) URL."]
    assert not Workflow.objects.exists()


def test_own_resources_only():
    user, client = signed_in()
    mine = ResourceFactory(user=user, title="MY-SAMPLE")
    theirs = ResourceFactory(title="THEIR-SAMPLE")
    html = client.get(ADD).content.decode()
    assert "MY-SAMPLE" in html and "THEIR-SAMPLE" not in html

    refused = client.post(ADD, form_data(resources=[str(theirs.pk)]))
    assert field_errors(refused, "resources") and not Workflow.objects.exists()

    client.post(ADD, form_data(resources=[str(mine.pk)]))
    assert Workflow.objects.get().source_content["resource_ids"] == [str(mine.pk)]


def test_a_viewer_may_not_start_a_workflow():
    _, client = signed_in(Role.VIEWER, staff=True)
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, form_data()).status_code == 403
    assert not Workflow.objects.exists()
    changelist = client.get(reverse("admin:workflows_workflow_changelist")).content.decode()
    assert ADD not in changelist


def test_the_list_offers_the_start_button():
    _, client = signed_in()
    assert ADD in client.get(reverse("admin:workflows_workflow_changelist")).content.decode()
