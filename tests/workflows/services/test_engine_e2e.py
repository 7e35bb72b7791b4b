"""The engine end to end: workflow_create queues the first steps, django-q (sync in tests) runs them
and each step queues the next, until every platform awaits review.

The OpenAI backend talks to a local server speaking the chat-completions wire format; its answers
are scripted per request: a generation request gets "Draft N ...", an evaluation request (its
system prompt asks for `criteria_scores`) the next scripted score as JSON.
"""

import json

import pytest
from django.test import override_settings
from django_q.models import Schedule
from werkzeug import Response

from accounts.models import AuditLog
from tests.factories.accounts import UserFactory
from tests.factories.workflows import ResourceFactory
from workflows.models import (
    Draft,
    Evaluation,
    Platform,
    PlatformState,
    PlatformStatus,
    WorkflowCheckpoint,
    WorkflowMode,
    WorkflowStatus,
)
from workflows.services.workflows import workflow_create
from workflows.writing import CRITERIA

pytestmark = pytest.mark.django_db

KEY = "sk-e2e-0123456789-secret"
MODEL = "e2e-model"
SOURCE = {
    "text": (
        "Our team shipped version 2 of the app today. It starts twice as fast, uses half the memory "
        "and works offline. We rewrote the sync engine from scratch after a year of user feedback."
    ),
    "title": "Version 2",
}


def completion(content: str) -> dict:
    return {
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90},
    }


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


class FakeChat:
    """Scripted chat-completions server: records generation and evaluation requests separately."""

    def __init__(self, scores, *, evaluation_answers=None):
        self.scores = list(scores)
        self.evaluation_answers = list(evaluation_answers or [])
        self.generations: list[dict] = []
        self.evaluations: list[dict] = []

    def __call__(self, request):
        body = request.get_json()
        messages = {m["role"]: _text(m) for m in body["messages"]}
        if "criteria_scores" in messages.get("system", ""):
            self.evaluations.append(messages)
            if self.evaluation_answers:
                content = self.evaluation_answers.pop(0)
            else:
                score = self.scores.pop(0)
                n = len(self.evaluations)
                content = json.dumps(
                    {
                        "score": score,
                        "feedback": f"Feedback {n}: lead with the startup speed and ask a question.",
                        "criteria_scores": dict.fromkeys(CRITERIA, score),
                    }
                )
        else:
            self.generations.append(messages)
            n = len(self.generations)
            content = (
                f"Draft {n}: Version 2 of our app starts twice as fast and works offline.\n\n"
                "We rebuilt the sync engine after a year of your feedback. What will you try first?\n\n"
                "#release #apps #offline"
            )
        return Response(json.dumps(completion(content)), content_type="application/json")


@pytest.fixture
def openai_server(httpserver):
    def serve(fake):
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(fake)
        return override_settings(
            AI_BACKEND="openai", AI_BASE_URL=httpserver.url_for("/v1"), AI_API_KEY=KEY, AI_TEXT_MODEL=MODEL
        )

    return serve


def run_workflow(capture, *, platforms, user=None, **kwargs):
    with capture(execute=True):
        workflow = workflow_create(
            user=user or UserFactory(),
            mode=WorkflowMode.MANUAL,
            platforms=platforms,
            source_content=SOURCE,
            **kwargs,
        )
    workflow.refresh_from_db()
    return workflow


def test_openai_60_then_80_ends_awaiting_review_at_iteration_1_with_the_feedback_passed_on(
    openai_server, django_capture_on_commit_callbacks
):
    fake = FakeChat([60, 80])
    with openai_server(fake):
        workflow = run_workflow(django_capture_on_commit_callbacks, platforms=[Platform.LINKEDIN])

    state = PlatformState.objects.get(workflow=workflow)
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.iteration == 1
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    drafts = list(Draft.objects.filter(workflow=workflow).order_by("created_at"))
    assert len(drafts) == 2
    assert drafts[0].content.startswith("Draft 1:") and drafts[1].content.startswith("Draft 2:")
    assert state.active_draft == drafts[1]
    evaluations = list(Evaluation.objects.order_by("created_at"))
    assert [(e.draft_id, e.score) for e in evaluations] == [(drafts[0].pk, 60), (drafts[1].pk, 80)]
    assert evaluations[0].evaluator == f"openai:{MODEL}"
    assert set(evaluations[0].criteria_scores) == set(CRITERIA)

    # The server saw two generations and two evaluations; the second generation carries the first
    # evaluation's feedback and the first draft.
    assert (len(fake.generations), len(fake.evaluations)) == (2, 2)
    assert "Feedback 1" not in fake.generations[0]["user"]
    second = fake.generations[1]["user"]
    assert "Feedback 1: lead with the startup speed and ask a question." in second
    assert "Draft 1: Version 2 of our app" in second
    assert "Draft 2:" in fake.evaluations[1]["user"]
    assert [c.step for c in WorkflowCheckpoint.objects.order_by("sequence")] == [
        "generate",
        "evaluate",
        "generate",
        "evaluate",
    ]


def test_openai_three_low_scores_stop_at_the_cap(openai_server, django_capture_on_commit_callbacks):
    fake = FakeChat([40, 50, 55])
    with openai_server(fake):
        workflow = run_workflow(django_capture_on_commit_callbacks, platforms=[Platform.X])

    state = PlatformState.objects.get(workflow=workflow)
    assert state.status == PlatformStatus.AWAITING_REVIEW
    assert state.iteration == 2
    assert Draft.objects.filter(workflow=workflow).count() == 3
    assert list(Evaluation.objects.order_by("created_at").values_list("score", flat=True)) == [40, 50, 55]
    assert (len(fake.generations), len(fake.evaluations)) == (3, 3)
    assert "Feedback 2:" in fake.generations[2]["user"]
    assert workflow.status == WorkflowStatus.AWAITING_REVIEW


def test_openai_style_samples_reach_both_prompts(openai_server, django_capture_on_commit_callbacks):
    user = UserFactory()
    sample = ResourceFactory(user=user, content="Short sentences. Dry humour. No exclamation marks.")
    fake = FakeChat([90])
    with openai_server(fake):
        run_workflow(
            django_capture_on_commit_callbacks,
            platforms=[Platform.MASTODON],
            user=user,
            resource_ids=[str(sample.pk)],
            manual_options={"tone": "dry"},
        )
    assert sample.content in fake.generations[0]["user"]
    assert sample.content in fake.evaluations[0]["user"]
    assert "tone: dry" in fake.generations[0]["user"]


def test_openai_a_malformed_evaluation_is_retried_later(openai_server, django_capture_on_commit_callbacks):
    fake = FakeChat([], evaluation_answers=["Looks great to me!"])
    with openai_server(fake):
        workflow = run_workflow(django_capture_on_commit_callbacks, platforms=[Platform.X])

    state = PlatformState.objects.get(workflow=workflow)
    assert state.status == PlatformStatus.EVALUATING
    assert state.heartbeat_at is None
    assert "Attempt 1 of 3" in state.error_message
    assert Schedule.objects.filter(args=repr(str(state.pk)), schedule_type=Schedule.ONCE).count() == 1
    assert workflow.status == WorkflowStatus.RUNNING


def test_openai_a_rejected_key_fails_the_platform_without_leaking_it(
    httpserver, django_capture_on_commit_callbacks
):
    body = {
        "error": {
            "message": "Incorrect API key provided",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    httpserver.expect_request("/v1/chat/completions").respond_with_json(body, status=401)
    with override_settings(AI_BACKEND="openai", AI_BASE_URL=httpserver.url_for("/v1"), AI_API_KEY=KEY):
        workflow = run_workflow(django_capture_on_commit_callbacks, platforms=[Platform.X])

    state = PlatformState.objects.get(workflow=workflow)
    assert state.status == PlatformStatus.FAILED
    assert state.error_message.startswith("The AI could not write the draft")
    assert workflow.status == WorkflowStatus.FAILED
    assert KEY not in state.error_message and KEY not in (workflow.error_message or "")
    assert KEY not in json.dumps(AuditLog.objects.get(action="workflow.platform_failed").details)


def test_builtin_backend_takes_every_platform_to_review(django_capture_on_commit_callbacks):
    user = UserFactory()
    ResourceFactory(user=user, content="We keep it short and plain. We say what changed and why it matters.")
    with override_settings(AI_BACKEND="builtin"):
        workflow = run_workflow(
            django_capture_on_commit_callbacks,
            platforms=list(Platform.values),
            user=user,
            manual_options={"tone": "friendly", "hashtags": ["release"]},
        )

    assert workflow.status == WorkflowStatus.AWAITING_REVIEW
    states = list(workflow.platform_states.select_related("active_draft"))
    assert {s.platform for s in states} == set(Platform.values)
    for state in states:
        assert state.status == PlatformStatus.AWAITING_REVIEW, (state.platform, state.error_message)
        drafts = Draft.objects.filter(workflow=workflow, platform=state.platform)
        assert 1 <= drafts.count() == state.iteration + 1 <= 3
        assert Evaluation.objects.filter(draft__in=drafts).count() == drafts.count()
        assert state.active_draft.content.strip()
        sequences = list(
            WorkflowCheckpoint.objects.filter(workflow=workflow, platform=state.platform)
            .order_by("sequence")
            .values_list("sequence", flat=True)
        )
        assert sequences == list(range(1, 2 * drafts.count() + 1))
    x_draft = next(s for s in states if s.platform == Platform.X).active_draft
    assert len(x_draft.content) <= 280
