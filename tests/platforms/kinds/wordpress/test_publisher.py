"""WordPressPublisher against a stateful fake WordPress REST API (application passwords)."""

import base64

import pytest

from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.publishing import Publication, Published, publisher_for
from platforms.kinds.wordpress.publisher import WordPressPublisher, hashtags_of, wordpress_parts
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.base import make_httpserver  # noqa: F401  (a threaded server)
from tests.fakes.wordpress import FakeWordPress

POSTS = "/wp-json/wp/v2/posts"
TAGS = "/wp-json/wp/v2/tags"
KEY = "A1B2C3D4-3333-4000-8000-000000000004"
DRAFT = "# Why we publish once\n\nIdempotency **matters**.\n\n## Details\n\n- one\n- two\n"


@pytest.fixture
def fake(httpserver):
    return FakeWordPress(httpserver)


def publisher(fake, sleeper, *, timeout=2.0, **overrides):
    fields = {
        "name": "blog",
        "platform_type": PlatformType.WORDPRESS,
        "instance_url": fake.base_url,
        "username": fake.username,
        "access_token": fake.password,
        "extra": {},
    }
    fields.update(overrides)
    return publisher_for(
        PlatformConnection(**fields),
        timeout=timeout,
        policy=RetryPolicy(attempts=3),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )


def publication(text=DRAFT, title=None):
    return Publication(text=text, title=title, idempotency_key=KEY)


def test_parts_take_the_title_from_the_first_heading_and_render_markdown():
    title, html, slug = wordpress_parts(publication())
    assert title == "Why we publish once"
    assert html == (
        "<p>Idempotency <strong>matters</strong>.</p>\n<h2>Details</h2>\n"
        "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"
    )
    assert slug == "why-we-publish-once-a1b2c3d4"


def test_an_explicit_title_wins_and_the_heading_is_still_not_repeated():
    title, html, slug = wordpress_parts(publication(title="Ünïcode & more"))
    assert title == "Ünïcode & more"
    assert "Why we publish once" not in html
    assert slug == "unicode-more-a1b2c3d4"


def test_publish_posts_with_basic_auth_and_a_deterministic_slug(fake, sleeper):
    pub = publisher(fake, sleeper)
    assert isinstance(pub, WordPressPublisher)
    published = pub.publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=str(post["id"]),
        url=f"{fake.base_url}/why-we-publish-once-a1b2c3d4/",
        platform_type="wordpress",
        details={"status": 201, "post_status": "publish", "attempts": 1, "recovered": False},
    )
    (request,) = fake.requests_to(POSTS, "POST")
    expected = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    title, html, slug = wordpress_parts(publication())
    assert request.json == {"title": title, "content": html, "status": "publish", "slug": slug}


def test_a_wrong_application_password_is_an_auth_error_and_not_retried(fake, sleeper):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, access_token="wrong pass word never shown").publish(publication())
    assert caught.value.status == 401
    assert "wrong pass word" not in str(caught.value)
    assert fake.count("POST", POSTS) == 1
    assert sleeper.waits == []


def test_a_403_and_a_400_are_rejections_with_the_wordpress_code(fake, sleeper):
    fake.fail_next(403, body={"code": "rest_cannot_create", "message": "Sorry, you are not allowed."})
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 403
    assert "rest_cannot_create" in str(caught.value)
    fake.fail_next(400, body={"code": "rest_invalid_param", "message": "Invalid parameter(s): status"})
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.status == 400
    assert "rest_invalid_param" in str(caught.value)
    assert fake.posts == []


def test_a_429_waits_the_retry_after_then_posts(fake, sleeper):
    fake.rate_limit_next(retry_after="2")
    published = publisher(fake, sleeper).publish(publication())
    assert sleeper.waits == [2.0]
    assert published.details["attempts"] == 2
    assert len(fake.posts) == 1


def test_a_5xx_is_looked_up_by_slug_then_posted_once(fake, sleeper):
    fake.fail_next(503)
    published = publisher(fake, sleeper).publish(publication())
    (post,) = fake.posts
    assert published.post_id == str(post["id"])
    assert post["slug"] == "why-we-publish-once-a1b2c3d4"
    (lookup,) = fake.requests_to(POSTS, "GET")
    assert lookup.arg("slug") == "why-we-publish-once-a1b2c3d4"
    assert lookup.arg("status") == "publish,future,draft,pending,private"
    assert lookup.arg("context") == "edit"


def test_an_answer_lost_to_a_timeout_is_found_and_not_posted_twice(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication())
    (post,) = fake.posts
    assert published == Published(
        post_id=str(post["id"]),
        url=post["link"],
        platform_type="wordpress",
        details={"status": None, "post_status": "publish", "attempts": 1, "recovered": True},
    )
    assert fake.count("POST", POSTS) == 1


def test_a_malformed_success_is_recovered_by_lookup(fake, sleeper):
    fake.malformed_next()
    published = publisher(fake, sleeper).publish(publication())
    assert len(fake.posts) == 1
    assert published.details["recovered"] is True


def test_server_errors_that_outlast_the_retries_are_ambiguous(fake, sleeper):
    fake.fail_next(500, times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper).publish(publication())
    assert caught.value.ambiguous is True
    assert fake.posts == []


def test_find_published_finds_a_draft_too_and_none_otherwise(fake, sleeper):
    _, _, slug = wordpress_parts(publication())
    draft = fake.add_post(title="Why we publish once", slug=slug, status="draft")
    found = publisher(fake, sleeper).find_published(publication())
    assert found is not None
    assert found.post_id == str(draft["id"])
    assert found.details["post_status"] == "draft"
    other = Publication(text=DRAFT, idempotency_key="ffffffff-0000")
    assert publisher(fake, sleeper).find_published(other) is None


# Hashtags ---------------------------------------------------------------------------------------

HASHTAGGED = (
    "# Ein Morgen in Tokio\n\nKaffee am Fluss.\n\n- #notiz im Listenpunkt\n\n#kaffee #tokio #reisen\n"
)


def test_a_closing_line_of_hashtags_stays_text_with_every_hash():
    _, html, _ = wordpress_parts(publication(HASHTAGGED))
    assert "<h1>" not in html
    assert "<p>#kaffee #tokio #reisen</p>" in html
    assert "<li>#notiz im Listenpunkt</li>" in html


def test_headings_with_a_space_and_code_keep_their_meaning():
    text = "Intro\n\n## Details\n\n```\n#include <stdio.h>\n```\n"
    _, html, _ = wordpress_parts(publication(text))
    assert "<h2>Details</h2>" in html
    assert "<pre><code>#include &lt;stdio.h&gt;\n</code></pre>" in html


def test_hashtags_of_takes_each_tag_once_and_skips_code_numbers_and_anchors():
    text = "C# and #1 and https://x.example/#anchor\n\n```\n#notatag\n```\n\n#Kaffee #tokio #kaffee #東京"
    assert hashtags_of(text) == ["Kaffee", "tokio", "東京"]


def test_hashtags_become_tags_only_when_the_connection_says_so(fake, sleeper):
    publisher(fake, sleeper).publish(publication(HASHTAGGED))
    assert fake.posts[0]["tags"] == []
    assert fake.count("GET", TAGS) == 0
    pub = publisher(fake, sleeper, extra={"hashtags_as_tags": True})
    pub.publish(Publication(text=HASHTAGGED, idempotency_key="b0000000-0001"))
    post = fake.posts[-1]
    names = {tag["id"]: tag["name"] for tag in fake.tags}
    assert [names[tag_id] for tag_id in post["tags"]] == ["notiz", "kaffee", "tokio", "reisen"]
    assert "#kaffee #tokio #reisen" in post["content"]["raw"]


def test_missing_tags_are_created_and_present_ones_reused(fake, sleeper):
    kaffee = fake.add_term("post_tag", "Kaffee")
    pub = publisher(fake, sleeper, extra={"tags": ["kaffee", "Reisen & Essen"]})
    pub.publish(publication())
    (created,) = [tag for tag in fake.tags if tag["id"] != kaffee["id"]]
    assert created["name"] == "Reisen &amp; Essen"
    assert fake.posts[0]["tags"] == [kaffee["id"], created["id"]]
    (create,) = fake.requests_to(TAGS, "POST")
    assert create.json == {"name": "Reisen & Essen"}
    # The second post finds both (the escaped name included) and creates nothing.
    pub.publish(Publication(text=DRAFT, idempotency_key="c0000000-0002"))
    assert fake.posts[1]["tags"] == [kaffee["id"], created["id"]]
    assert fake.count("POST", TAGS) == 1


def test_a_tag_created_meanwhile_is_taken_from_term_exists(fake, sleeper):
    tag = fake.add_term("post_tag", "kaffee")
    # The search answers before the other writer's tag shows up in it.
    fake.fail_next(200, body=[], path=TAGS, method="GET")
    publisher(fake, sleeper, extra={"tags": ["kaffee"]}).publish(publication())
    assert fake.posts[0]["tags"] == [tag["id"]]
    assert len(fake.tags) == 1


# Unicode slugs ----------------------------------------------------------------------------------


def test_a_japanese_or_cyrillic_title_keeps_its_letters_in_the_slug(fake, sleeper):
    assert wordpress_parts(publication(title="東京でコーヒーを飲む"))[2] == "東京でコーヒーを飲む-a1b2c3d4"
    published = publisher(fake, sleeper).publish(publication(title="Привет, мир!"))
    (post,) = fake.posts
    # WordPress stores the slug percent-encoded in lower case: "привет-мир-a1b2c3d4".
    assert post["slug"] == "%d0%bf%d1%80%d0%b8%d0%b2%d0%b5%d1%82-%d0%bc%d0%b8%d1%80-a1b2c3d4"
    assert published.url == f"{fake.base_url}/{post['slug']}/"


def test_a_lost_answer_to_a_unicode_post_is_found_by_its_slug(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    published = publisher(fake, sleeper, timeout=0.3).publish(publication(title="Привет, мир!"))
    assert published.details["recovered"] is True
    assert fake.count("POST", POSTS) == 1


def test_a_long_unicode_title_keeps_the_key_within_wordpress_200_characters(fake, sleeper):
    title = "東京の喫茶店" * 20
    pub = publisher(fake, sleeper)
    first = pub.publish(Publication(text="eins", title=title, idempotency_key="d1000000-0001"))
    second = pub.publish(Publication(text="zwei", title=title, idempotency_key="d2000000-0002"))
    assert first.post_id != second.post_id
    assert [post["slug"][-9:] for post in fake.posts] == ["-d1000000", "-d2000000"]
    assert all(len(post["slug"]) <= 200 for post in fake.posts)
    found = pub.find_published(Publication(text="zwei", title=title, idempotency_key="d2000000-0002"))
    assert found.post_id == second.post_id


# Status and category ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["publish", "draft", "pending"])
def test_the_connection_chooses_the_post_status(fake, sleeper, status):
    published = publisher(fake, sleeper, extra={"status": status}).publish(publication())
    assert fake.posts[0]["status"] == status
    assert published.details["post_status"] == status


def test_a_publication_overrides_the_connection_options(fake, sleeper):
    news = fake.add_term("category", "News")
    pub = publisher(fake, sleeper, extra={"status": "publish", "tags": ["a"], "category": 1})
    pub.publish(
        Publication(
            text=DRAFT, idempotency_key=KEY, options={"status": "pending", "tags": [], "category": "news"}
        )
    )
    (post,) = fake.posts
    assert (post["status"], post["categories"], post["tags"]) == ("pending", [news["id"]], [])


def test_a_category_by_id_or_name_and_none_means_the_site_default(fake, sleeper):
    news = fake.add_term("category", "Neuigkeiten & Berichte")
    publisher(fake, sleeper, extra={"category": news["id"]}).publish(publication())
    publisher(fake, sleeper, extra={"category": "neuigkeiten & berichte"}).publish(
        Publication(text=DRAFT, idempotency_key="e0000000-0001")
    )
    publisher(fake, sleeper).publish(Publication(text=DRAFT, idempotency_key="e0000000-0002"))
    assert [post["categories"] for post in fake.posts] == [[news["id"]], [news["id"]], [1]]
    assert "categories" not in fake.requests_to(POSTS, "POST")[2].json


@pytest.mark.parametrize("category", ["Nicht da", 999])
def test_an_unknown_category_is_refused_before_anything_is_posted(fake, sleeper, category):
    with pytest.raises(PlatformAuthError) as caught:
        publisher(fake, sleeper, extra={"category": category}).publish(publication())
    assert "has no category" in str(caught.value)
    assert str(category) in str(caught.value)
    assert fake.posts == []
    assert sleeper.waits == []


# A lost answer ----------------------------------------------------------------------------------


def test_a_lost_answer_whose_check_fails_says_the_post_may_exist(fake, sleeper):
    fake.accept_then_hang_next(1.5)
    fake.fail_next(503, path=POSTS, method="GET", times=10)
    with pytest.raises(PlatformUnavailableError) as caught:
        publisher(fake, sleeper, timeout=0.3).publish(publication())
    message = str(caught.value)
    assert "The post may already exist on" in message
    assert "server error, HTTP 503" in message
    assert "looked for again before any new attempt" in message
    assert "slug" not in message
    assert caught.value.ambiguous is True
    assert fake.count("POST", POSTS) == 1


def test_a_check_on_a_site_that_is_down_says_the_post_may_exist(sleeper):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = publisher_for(
        PlatformConnection(
            name="blog",
            platform_type=PlatformType.WORDPRESS,
            instance_url=f"http://127.0.0.1:{port}",
            username="editor",
            access_token="abcd efgh",
            extra={},
        ),
        timeout=1.0,
        policy=RetryPolicy(attempts=2),
        sleep=sleeper,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )
    with pytest.raises(PlatformUnavailableError) as caught:
        down.find_published(publication())
    message = str(caught.value)
    assert message.startswith(f"The post may already exist on 127.0.0.1:{port}")
    assert "the site could not be reached" in message
    assert "could not be reached for" not in message


def test_punctuation_is_dropped_and_dots_become_dashes_as_wordpress_does():
    # sanitize_title(): "'" and "!" removed, "." and spaces to "-".
    assert (
        wordpress_parts(publication(title="Don't panic: v2.0 is out!"))[2]
        == "dont-panic-v2-0-is-out-a1b2c3d4"
    )


def test_a_tag_given_with_its_hash_is_the_tag_without_it(fake, sleeper):
    publisher(fake, sleeper, extra={"tags": ["#Kaffee"]}).publish(publication())
    (tag,) = fake.tags
    assert tag["name"] == "Kaffee"
    assert fake.posts[0]["tags"] == [tag["id"]]
