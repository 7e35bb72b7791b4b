"""Resources: text, a web page's main text (a local server), images, errors, update and delete."""

import pytest
from django.core.exceptions import ValidationError
from werkzeug import Response

from accounts.models import AuditLog
from tests.factories.accounts import UserFactory
from tests.factories.workflows import ResourceFactory
from workflows.models import Resource, ResourceType
from workflows.services.resources import resource_create, resource_delete, resource_update

pytestmark = pytest.mark.django_db

ARTICLE = """<!doctype html><html lang="en"><head><title>How we write release notes</title></head>
<body><nav>Home | Blog | About</nav><article><h1>How we write release notes</h1>
<p>Every release note starts with what changed for the reader, not for us. We keep sentences short
and put the most useful change first, so people who read one line still learn the main thing.</p>
<p>We end with a link to the full changelog and thank the people who reported the bugs we fixed.
Our notes avoid jargon, and every acronym is spelled out the first time it appears.</p>
</article><footer>Copyright 2024 Example Inc.</footer></body></html>"""


def test_a_text_resource():
    user = UserFactory()
    resource = resource_create(
        user=user,
        type=ResourceType.STYLE_SAMPLE,
        title=" My voice ",
        content="  We ship. Often.  ",
        metadata={"a": 1},
    )
    assert (resource.user, resource.type, resource.title, resource.content) == (
        user,
        ResourceType.STYLE_SAMPLE,
        "My voice",
        "We ship. Often.",
    )
    assert resource.metadata == {"a": 1}
    log = AuditLog.objects.get(action="resource.created")
    assert (log.user, log.resource_id) == (user, str(resource.pk))
    assert log.details["type"] == ResourceType.STYLE_SAMPLE and log.details["from_url"] is False


def test_a_resource_from_a_web_page_keeps_its_main_text_title_and_language(httpserver):
    httpserver.expect_request("/notes").respond_with_data(ARTICLE, content_type="text/html; charset=utf-8")
    url = httpserver.url_for("/notes")

    resource = resource_create(
        user=UserFactory(), type=ResourceType.REFERENCE, url=url, metadata={"source_url": "x"}
    )

    assert resource.title == "How we write release notes"
    assert "starts with what changed for the reader" in resource.content
    assert "Home | Blog" not in resource.content and "Copyright" not in resource.content
    assert resource.metadata["source_url"] == url  # set by the fetch, not by the caller
    assert resource.metadata["language"] == "en"
    assert resource.metadata["fetched_at"]
    assert AuditLog.objects.get(action="resource.created").details["from_url"] is True


def test_a_given_title_wins_over_the_pages(httpserver):
    httpserver.expect_request("/notes").respond_with_data(ARTICLE, content_type="text/html")
    resource = resource_create(
        user=UserFactory(), type=ResourceType.STYLE_SAMPLE, title="Mine", url=httpserver.url_for("/notes")
    )
    assert resource.title == "Mine"


def test_a_plain_text_page_longer_than_the_limit_is_cut(httpserver):
    httpserver.expect_request("/long.txt").respond_with_data("word " * 30_000, content_type="text/plain")
    resource = resource_create(
        user=UserFactory(), type=ResourceType.REFERENCE, url=httpserver.url_for("/long.txt")
    )
    assert len(resource.content) == 100_000
    assert resource.metadata["truncated"] is True


@pytest.mark.parametrize(
    ("respond", "message"),
    [
        (lambda: Response("gone", status=404), "404"),
        (lambda: Response(b"%PDF-1.4", content_type="application/pdf"), ""),
        (lambda: Response("<html><body></body></html>", content_type="text/html"), "no readable text"),
    ],
)
def test_a_page_that_cannot_be_used_is_a_validation_error_on_url(httpserver, respond, message):
    httpserver.expect_request("/page").respond_with_handler(lambda request: respond())
    with pytest.raises(ValidationError) as caught:
        resource_create(user=UserFactory(), type=ResourceType.REFERENCE, url=httpserver.url_for("/page"))
    assert message in caught.value.message_dict["url"][0]
    assert not Resource.objects.exists()
    assert not AuditLog.objects.exists()


def test_an_image_is_never_fetched(httpserver):
    url = httpserver.url_for("/cat.png")
    resource = resource_create(user=UserFactory(), type=ResourceType.IMAGE, url=url)
    assert resource.content == url
    assert resource.metadata == {"url": url}
    assert not httpserver.log

    described = resource_create(user=UserFactory(), type=ResourceType.IMAGE, content="A cat on a keyboard.")
    assert described.content == "A cat on a keyboard."


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": "video", "content": "x"}, "type"),
        ({"type": "reference"}, "content"),
        ({"type": "reference", "content": "x", "url": "https://example.com"}, "url"),
        ({"type": "reference", "content": "   "}, "content"),
        ({"type": "reference", "content": "x" * 100_001}, "content"),
        ({"type": "reference", "url": "ftp://example.com/file"}, "url"),
        ({"type": "reference", "url": "not a url"}, "url"),
        ({"type": "image", "url": "javascript:alert(1)"}, "url"),
        ({"type": "reference", "content": "x", "title": "t" * 256}, "title"),
        ({"type": "reference", "content": "x", "metadata": ["a"]}, "metadata"),
        ({"type": "reference", "content": "x", "metadata": {"big": "x" * 10_001}}, "metadata"),
    ],
)
def test_bad_input(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        resource_create(user=UserFactory(), **kwargs)
    assert field in caught.value.message_dict
    assert not Resource.objects.exists()


def test_update_changes_only_what_is_given():
    resource = ResourceFactory(title="Old", content="Old text", metadata={"k": 1})
    actor = resource.user

    updated = resource_update(resource=resource, actor=actor, content=" New text ")
    assert (updated.title, updated.content, updated.metadata) == ("Old", "New text", {"k": 1})
    assert AuditLog.objects.get(action="resource.updated").details == {"fields": ["content"]}

    updated = resource_update(resource=resource, actor=actor, title="New", metadata={})
    assert (updated.title, updated.metadata) == ("New", None)

    with pytest.raises(ValidationError) as caught:
        resource_update(resource=resource, actor=actor, content="")
    assert "content" in caught.value.message_dict
    resource.refresh_from_db()
    assert resource.content == "New text"


def test_delete_is_audited():
    resource = ResourceFactory()
    resource_delete(resource=resource, actor=resource.user)
    assert not Resource.objects.exists()
    log = AuditLog.objects.get(action="resource.deleted")
    assert (log.resource_id, log.details["title"]) == (str(resource.pk), resource.title)
