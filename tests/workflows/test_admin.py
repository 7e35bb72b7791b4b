import pytest
from django.urls import reverse
from django.utils import timezone

from tests.admin_pages import assert_change_page, listed
from tests.factories.platforms import PlatformConnectionFactory
from tests.factories.workflows import (
    DraftFactory,
    EvaluationFactory,
    PlatformStateFactory,
    PublishingJobFactory,
    ResourceFactory,
    WorkflowCheckpointFactory,
)
from workflows.models import PublishingStatus

pytestmark = pytest.mark.django_db

LONG_TAIL = "UNIQUE-TAIL-THAT-MUST-NOT-REACH-THE-CHANGELIST"
SECRET_TOKEN = "secret-access-token-never-shown"


@pytest.fixture
def rows():
    """One row of every model, with a long draft, a secret-bearing connection and a big state."""
    connection = PlatformConnectionFactory(access_token=SECRET_TOKEN, client_secret="secret-client-value")
    draft = DraftFactory(content="Opening line. " + "word " * 400 + LONG_TAIL)
    workflow = draft.workflow
    state = PlatformStateFactory(workflow=workflow, platform=draft.platform, active_draft=draft)
    evaluation = EvaluationFactory(draft=draft)
    resource = ResourceFactory(user=workflow.user, content="Sample. " + "text " * 400 + LONG_TAIL)
    job = PublishingJobFactory(
        workflow=workflow,
        draft=draft,
        platform_connection=connection,
        status=PublishingStatus.SCHEDULED,
        scheduled_for=timezone.now(),
    )
    checkpoint = WorkflowCheckpointFactory(workflow=workflow, state={"blob": LONG_TAIL})
    return {
        "workflow": workflow,
        "platformstate": state,
        "draft": draft,
        "evaluation": evaluation,
        "resource": resource,
        "publishingjob": job,
        "workflowcheckpoint": checkpoint,
    }


MODELS = [
    "workflow",
    "platformstate",
    "draft",
    "evaluation",
    "resource",
    "publishingjob",
    "workflowcheckpoint",
]


@pytest.mark.parametrize("model", MODELS)
def test_changelist_lists_the_row(admin_client, rows, model):
    response = admin_client.get(reverse(f"admin:workflows_{model}_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert str(rows[model].pk) in html
    assert SECRET_TOKEN not in html
    assert LONG_TAIL not in html


@pytest.mark.parametrize("model", MODELS)
def test_changelist_search_by_id(admin_client, rows, model):
    url = reverse(f"admin:workflows_{model}_changelist")
    response = admin_client.get(url, {"q": str(rows[model].pk)})
    assert response.status_code == 200
    assert str(rows[model].pk) in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_changelist_search_with_text_that_is_no_uuid(admin_client, rows, model):
    response = admin_client.get(reverse(f"admin:workflows_{model}_changelist"), {"q": "not a uuid"})
    assert response.status_code == 200
    assert listed(response) == []  # matched nothing, and no error either


@pytest.mark.parametrize("model", ["workflow", "resource"])
def test_changelist_search_by_username(admin_client, rows, model):
    url = reverse(f"admin:workflows_{model}_changelist")
    response = admin_client.get(url, {"q": rows["workflow"].user.username})
    assert str(rows[model].pk) in response.content.decode()


@pytest.mark.parametrize(
    "model", ["workflow", "platformstate", "draft", "publishingjob", "workflowcheckpoint"]
)
def test_changelist_search_by_workflow_id(admin_client, rows, model):
    url = reverse(f"admin:workflows_{model}_changelist")
    response = admin_client.get(url, {"q": str(rows["workflow"].pk)})
    assert str(rows[model].pk) in response.content.decode()


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("workflow", {"status__exact": "running", "mode__exact": "manual"}),
        ("platformstate", {"platform__exact": "linkedin", "status__exact": "pending"}),
        ("draft", {"platform__exact": "linkedin", "source__exact": "ai"}),
        ("evaluation", {"evaluator": "builtin"}),
        ("resource", {"type__exact": "style_sample"}),
        ("publishingjob", {"status__exact": "scheduled", "platform__exact": "linkedin"}),
        ("workflowcheckpoint", {"platform__exact": "linkedin", "step": "generate"}),
    ],
)
def test_changelist_filters(admin_client, rows, model, query):
    response = admin_client.get(reverse(f"admin:workflows_{model}_changelist"), query)
    assert response.status_code == 200
    assert str(rows[model].pk) in response.content.decode()


def test_publishing_job_date_hierarchy(admin_client, rows):
    when = rows["publishingjob"].scheduled_for
    response = admin_client.get(
        reverse("admin:workflows_publishingjob_changelist"),
        {"scheduled_for__year": when.year, "scheduled_for__month": when.month},
    )
    assert response.status_code == 200
    assert listed(response) == [rows["publishingjob"]]
    later = admin_client.get(
        reverse("admin:workflows_publishingjob_changelist"), {"scheduled_for__year": when.year + 1}
    )
    assert listed(later) == []


@pytest.mark.parametrize("model", MODELS)
def test_change_page(admin_client, rows, model):
    response = admin_client.get(reverse(f"admin:workflows_{model}_change", args=[rows[model].pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert SECRET_TOKEN not in html
    assert "secret-client-value" not in html
    assert response.context["original"] == rows[model]
    shows, editable, inlines = CHANGE_PAGES[model]
    assert_change_page(response, shows=shows, editable=editable, inlines=inlines)


# Per model: fields its change page shows, the editable ones (the engine writes the rest: a hand
# edit would bypass its rules) and its inlines.
CHANGE_PAGES = {
    "workflow": (
        ["user", "status", "mode", "source_content", "error_message", "completed_at"],
        set(),
        ["platformstate"],
    ),
    "platformstate": (["workflow", "platform", "status", "active_draft", "iteration"], set(), []),
    "draft": (["workflow", "platform", "content", "source"], set(), ["evaluation"]),
    "evaluation": (["draft", "score", "feedback", "criteria_scores"], set(), []),
    "resource": (
        ["user", "type", "title", "content"], {"user", "type", "title", "content", "metadata"}, []
    ),
    "publishingjob": (
        ["workflow", "platform", "draft", "platform_connection", "status", "scheduled_for"], set(), []
    ),
    "workflowcheckpoint": (["workflow", "platform", "step", "sequence", "state"], set(), []),
}  # fmt: skip


def test_workflow_change_page_shows_platform_states_inline(admin_client, rows):
    response = admin_client.get(reverse("admin:workflows_workflow_change", args=[rows["workflow"].pk]))
    assert "Platform states" in response.content.decode()


def test_draft_change_page_is_view_only_with_evaluations(admin_client, rows):
    response = admin_client.get(reverse("admin:workflows_draft_change", args=[rows["draft"].pk]))
    html = response.content.decode()
    assert "Add a call to action." in html
    assert 'name="_save"' not in html


@pytest.mark.parametrize("model", ["draft", "evaluation", "workflowcheckpoint"])
def test_records_cannot_be_added_by_hand(admin_client, model):
    assert admin_client.get(reverse(f"admin:workflows_{model}_add")).status_code == 403


def test_a_workflow_cannot_be_edited_by_hand(admin_client, rows):
    workflow = rows["workflow"]
    before = (workflow.status, workflow.mode, workflow.error_message)
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    assert 'name="_save"' not in admin_client.get(url).content.decode()
    response = admin_client.post(url, {"status": "completed", "mode": "auto", "error_message": "by hand"})
    assert response.status_code == 403
    workflow.refresh_from_db()
    assert (workflow.status, workflow.mode, workflow.error_message) == before
    assert "by hand" not in before and before[0] != "completed"


def test_checkpoints_cannot_be_changed(admin_client, rows):
    checkpoint = rows["workflowcheckpoint"]
    url = reverse("admin:workflows_workflowcheckpoint_change", args=[checkpoint.pk])
    assert admin_client.post(url, {"step": "x"}).status_code == 403
    checkpoint.refresh_from_db()
    assert checkpoint.step == "generate"


def test_workflow_can_be_deleted_from_the_admin(admin_client, rows):
    workflow = rows["workflow"]
    response = admin_client.post(
        reverse("admin:workflows_workflow_delete", args=[workflow.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not type(workflow).objects.filter(pk=workflow.pk).exists()


@pytest.mark.parametrize(
    ("model", "deferred"),
    [
        ("draft", {"content"}),
        ("resource", {"content"}),
        ("workflowcheckpoint", {"state", "metadata"}),
    ],
)
def test_changelist_does_not_load_large_columns(admin_client, rows, model, deferred):
    response = admin_client.get(reverse(f"admin:workflows_{model}_changelist"))
    [obj] = response.context["cl"].result_list
    assert deferred <= obj.get_deferred_fields()


def test_publishing_job_changelist_never_loads_credentials(admin_client, rows):
    response = admin_client.get(reverse("admin:workflows_publishingjob_changelist"))
    [job] = response.context["cl"].result_list
    assert {"access_token", "client_key", "client_secret"} <= job.platform_connection.get_deferred_fields()
    assert str(job.platform_connection) in response.content.decode()
