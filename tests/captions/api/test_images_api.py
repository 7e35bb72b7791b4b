"""/api/v1/captions/images/: the review queue, its filters and actions, and the stored copy."""

import pytest
from django.core.files.storage import default_storage

from accounts.models import AuditLog, Role
from captions.models import Image, ImageCategory, ImageStatus
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory, ImageFactory, PostFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.mastodon import FakeMastodon
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/captions/images/"


def detail(image, suffix="") -> str:
    return f"{URL}{image.pk}/{suffix}"


def fields_of(response) -> set[str]:
    return set(response.json()["error"]["fields"])


def own_image(user, **kwargs) -> Image:
    connection = kwargs.pop("platform_connection", None) or PlatformConnectionFactory(user=user)
    return ImageFactory(post__platform_connection=connection, **kwargs)


# --- isolation ---------------------------------------------------------------------------------


def test_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=lambda user: own_image(user),
            update={"reviewed_caption": "A heron in the reeds."},
            deletable=False,
        )
    )


@pytest.mark.parametrize(
    "suffix", ["approve/", "reject/", "regenerate/", "post/", "approve-and-post/", "content/"]
)
def test_a_strangers_image_is_a_404_for_every_action(api, suffix):
    theirs = own_image(UserFactory())
    method = "get" if suffix == "content/" else "post"
    response = getattr(api, method)(detail(theirs, suffix), {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Image.objects.get(pk=theirs.pk).status == ImageStatus.PENDING


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.ADMIN])
def test_moderators_and_admins_see_and_act_on_everyones_images(role):
    image = own_image(UserFactory())
    staff = client_for(UserFactory(role=role))
    assert str(image.pk) in {str(row["id"]) for row in staff.get(URL).json()["results"]}
    response = staff.post(detail(image, "approve/"), {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"


def test_reviewers_see_and_act_on_everyones_images_but_not_their_posts():
    # Images are the caption review queue: everyone's for reviewers (docs/roles.md), as in the admin.
    image = own_image(UserFactory())
    reviewer = client_for(UserFactory(role=Role.REVIEWER))
    assert str(image.pk) in {str(row["id"]) for row in reviewer.get(URL).json()["results"]}
    response = reviewer.post(detail(image, "reject/"), {"notes": "Not a heron."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    another = own_image(UserFactory())
    bulk = reviewer.post(f"{URL}bulk-approve/", {"ids": [another.pk]}, format="json")
    assert bulk.json() == {"requested": 1, "changed": 1}
    assert reviewer.get(f"/api/v1/captions/posts/{image.post_id}/").status_code == 404


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.USER])
def test_reviewers_and_users_act_on_their_own(role):
    person = UserFactory(role=role)
    image = own_image(person)
    response = client_for(person).post(detail(image, "reject/"), {"notes": "Wrong bird."}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"


@pytest.mark.parametrize("suffix", ["approve/", "reject/", "regenerate/", "post/", "approve-and-post/"])
def test_viewers_cannot_act(suffix):
    viewer = UserFactory(role=Role.VIEWER)
    image = own_image(viewer)
    response = client_for(viewer).post(detail(image, suffix), {}, format="json")
    assert response.status_code == 403
    assert Image.objects.get(pk=image.pk).status == ImageStatus.PENDING


def test_an_api_key_needs_the_captions_scope(user):
    from accounts.tokens import hash_secret
    from tests.factories.accounts import ApiKeyFactory

    image = own_image(user)
    for scopes, read, write in [
        (["platforms:write"], 403, 403),
        (["captions:read"], 200, 403),
        (["captions:write"], 200, 200),
    ]:
        key = f"sdk_test-key-{'-'.join(scopes)}"
        ApiKeyFactory(user=user, key_hash=hash_secret(key), permissions=scopes)
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert client.get(URL).status_code == read
        assert client.post(detail(image, "reject/"), {}, format="json").status_code == write


# --- list and detail ---------------------------------------------------------------------------


def test_an_image_shows_its_caption_score_flags_count_and_limit(api, user, stored_png):
    key, _data = stored_png
    connection = PlatformConnectionFactory(user=user, extra={"description_limit": 40})
    CaptionGenerationUserSettingsFactory(platform_connection=connection, max_caption_length=300)
    image = own_image(
        user,
        platform_connection=connection,
        generated_caption="A heron standing in shallow water at dusk, reeds behind it.",
        caption_quality_score=72,
        needs_special_review=True,
        local_path=key,
        original_caption=None,
    )
    row = api.get(URL).json()["results"][0]
    assert row["id"] == image.pk
    assert row["caption"] == image.generated_caption
    assert row["character_count"] == len(image.generated_caption)
    assert row["caption_length_limit"] == 40  # the instance's limit is below the setting
    assert row["caption_quality_score"] == 72
    assert row["quality_level"] == "good"
    assert row["flags"] == ["needs_review", "over_limit"]
    assert row["post_platform_id"] == image.post.post_id
    assert row["image_url"] == f"http://testserver{URL}{image.pk}/content/"
    assert "prompt_used" not in row  # detail only

    one = api.get(detail(image)).json()
    assert one["caption_length_limit"] == 40
    assert "prompt_used" in one


def test_the_limit_follows_the_owners_setting_under_the_instance_limit(api, user):
    connection = PlatformConnectionFactory(user=user, extra={})
    CaptionGenerationUserSettingsFactory(platform_connection=connection, max_caption_length=120)
    own_image(user, platform_connection=connection)
    other = own_image(user)  # no settings: the default 500
    rows = {row["id"]: row for row in api.get(URL).json()["results"]}
    assert rows[other.pk]["caption_length_limit"] == 500
    assert [row["caption_length_limit"] for pk, row in rows.items() if pk != other.pk] == [120]


def test_an_image_without_a_stored_copy_has_no_url(api, user):
    own_image(user, local_path="")
    assert api.get(URL).json()["results"][0]["image_url"] is None


def test_unscored_images_have_no_level_and_empty_ones_are_flagged(api, user):
    own_image(user, generated_caption=None, caption_quality_score=None, processing_error="Corrupt image.")
    row = api.get(URL).json()["results"][0]
    assert row["quality_level"] is None
    assert row["flags"] == ["no_caption", "error"]


@pytest.mark.parametrize("size", [3, 25])
def test_a_page_costs_a_fixed_number_of_queries(api, user, size, count_queries):
    """Many connections, each with its settings: the limit is still no extra query per image."""
    for _ in range(size):
        connection = PlatformConnectionFactory(user=user)
        CaptionGenerationUserSettingsFactory(platform_connection=connection, max_caption_length=100)
        own_image(user, platform_connection=connection)
    response, queries = count_queries(lambda: api.get(URL, {"page_size": size}))
    assert len(response.json()["results"]) == size
    assert all(row["caption_length_limit"] == 100 for row in response.json()["results"])
    # The rate-limit counter, the caller's connection ids (their images are found by them), the
    # page, and its owners' length settings (one query for the page).
    assert queries == 4, queries


def test_query_count_does_not_grow_with_the_page(api, user, count_queries):
    for _ in range(30):
        own_image(user)
    _, small = count_queries(lambda: api.get(URL, {"page_size": 2}))
    _, large = count_queries(lambda: api.get(URL, {"page_size": 30}))
    assert small == large


def test_deep_pages_cost_what_the_first_does(api, user, count_queries):
    for _ in range(7):
        own_image(user)
    first, first_queries = count_queries(lambda: api.get(URL, {"page_size": 2}))
    seen = [row["id"] for row in first.json()["results"]]
    url = first.json()["next"]
    while url:
        page, queries = count_queries(lambda url=url: api.get(url))
        assert queries == first_queries
        seen += [row["id"] for row in page.json()["results"]]
        url = page.json()["next"]
    assert len(seen) == len(set(seen)) == 7


def test_the_list_does_not_load_prompts_or_post_bodies(api, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    own_image(user, prompt_used="a very long prompt " * 50)
    with CaptureQueriesContext(connection) as context:
        api.get(URL)
    page_sql = [q["sql"] for q in context.captured_queries if '"images"' in q["sql"]]
    assert page_sql
    assert not any("prompt_used" in sql or "post_content" in sql or "access_token" in sql for sql in page_sql)


# --- filters -----------------------------------------------------------------------------------


@pytest.fixture
def varied(user):
    connection = PlatformConnectionFactory(user=user)
    return {
        "pending_low": own_image(user, caption_quality_score=30, needs_special_review=True),
        "approved_high": own_image(
            user,
            status=ImageStatus.APPROVED,
            final_caption="A heron.",
            caption_quality_score=95,
            image_category=ImageCategory.ANIMAL,
            platform_connection=connection,
        ),
        "rejected_mid": own_image(user, status=ImageStatus.REJECTED, caption_quality_score=60),
        "unscored": own_image(user, caption_quality_score=None, image_category=ImageCategory.CHART),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "pending"}, {"pending_low", "unscored"}),
        ({"status": "approved"}, {"approved_high"}),
        ({"needs_special_review": "true"}, {"pending_low"}),
        ({"needs_special_review": "false"}, {"approved_high", "rejected_mid", "unscored"}),
        ({"quality_min": "50"}, {"approved_high", "rejected_mid"}),
        ({"quality_max": "60"}, {"pending_low", "rejected_mid"}),
        ({"quality_min": "40", "quality_max": "70"}, {"rejected_mid"}),
        ({"category": "animal"}, {"approved_high"}),
        ({"category": "chart", "status": "pending"}, {"unscored"}),
    ],
)
def test_filters(api, varied, query, expected):
    response = api.get(URL, query)
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {varied[name].pk for name in expected}


def test_filter_by_connection(api, varied):
    connection = varied["approved_high"].platform_connection
    ids = {row["id"] for row in api.get(URL, {"connection": connection.pk}).json()["results"]}
    assert ids == {varied["approved_high"].pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"needs_special_review": "maybe"}, "needs_special_review"),
        ({"quality_min": "high"}, "quality_min"),
        ({"quality_min": "0"}, "quality_min"),
        ({"quality_max": "101"}, "quality_max"),
        ({"quality_min": "80", "quality_max": "20"}, "quality_min"),
        ({"connection": "x"}, "connection"),
        ({"category": "selfie"}, "category"),
    ],
)
def test_bad_filter_values_are_a_400_naming_them(api, query, field):
    response = api.get(URL, query)
    assert response.status_code == 400
    assert fields_of(response) == {field}


# --- edit, approve, reject, regenerate ---------------------------------------------------------


def test_patch_stores_the_reviewed_caption(api, user):
    image = own_image(user)
    response = api.patch(detail(image), {"reviewed_caption": "  A grey heron   in reeds. "}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reviewed_caption"] == "A grey heron in reeds."
    assert body["status"] == "reviewed"
    assert body["reviewed_by"] == user.pk
    assert AuditLog.objects.filter(action="caption.edited", resource_id=str(image.pk)).exists()


def test_a_multi_line_caption_keeps_its_lines_and_counts_them(api, user):
    image = own_image(user)
    typed = "A handwritten note:\r\nBack in 5 minutes\r\n\r\n\r\n- Anna"
    response = api.patch(detail(image), {"reviewed_caption": typed}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reviewed_caption"] == "A handwritten note:\nBack in 5 minutes\n\n- Anna"
    assert body["character_count"] == 45  # 19 + 1 + 17 + 2 + 6: each line break is one character


@pytest.mark.parametrize(
    "body", [{}, {"reviewed_caption": ""}, {"reviewed_caption": "   "}, {"reviewed_caption": ["x"]}]
)
def test_patch_without_a_caption_is_a_400(api, user, body):
    image = own_image(user)
    response = api.patch(detail(image), body, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"reviewed_caption"}
    assert Image.objects.get(pk=image.pk).status == ImageStatus.PENDING


def test_patch_over_the_limit_is_a_400_saying_the_limit(api, user):
    connection = PlatformConnectionFactory(user=user, extra={"description_limit": 20})
    image = own_image(user, platform_connection=connection)
    response = api.patch(detail(image), {"reviewed_caption": "x" * 21}, format="json")
    assert response.status_code == 400
    assert "allows 20" in response.json()["error"]["fields"]["reviewed_caption"][0]


def test_put_and_delete_are_not_allowed(api, user):
    image = own_image(user)
    assert api.put(detail(image), {"reviewed_caption": "x"}, format="json").status_code == 405
    assert api.delete(detail(image)).status_code == 405
    assert api.post(URL, {}, format="json").status_code == 405


def test_approve_uses_the_reviewed_else_the_generated_caption(api, user):
    image = own_image(user, reviewed_caption="Reviewed wording.")
    body = api.post(detail(image, "approve/"), {}, format="json").json()
    assert body["status"] == "approved"
    assert body["final_caption"] == "Reviewed wording."
    assert body["reviewed_at"] is not None


def test_approve_with_text(api, user):
    image = own_image(user)
    body = api.post(detail(image, "approve/"), {"text": "My own words."}, format="json").json()
    assert body["final_caption"] == "My own words."
    assert body["reviewed_caption"] == "My own words."


def test_approve_with_text_over_the_limit_names_text(api, user):
    connection = PlatformConnectionFactory(user=user, extra={"description_limit": 10})
    image = own_image(user, platform_connection=connection)
    response = api.post(detail(image, "approve/"), {"text": "Far too long for this."}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"text"}


def test_approve_with_a_bad_text_type_is_a_400(api, user):
    image = own_image(user)
    response = api.post(detail(image, "approve/"), {"text": {"a": 1}}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"text"}


def test_approving_a_posted_caption_is_a_409(api, user):
    image = own_image(user, status=ImageStatus.POSTED, final_caption="Done.")
    response = api.post(detail(image, "approve/"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_reject_keeps_the_notes(api, user):
    image = own_image(user)
    body = api.post(detail(image, "reject/"), {"notes": "It is an egret."}, format="json").json()
    assert body["status"] == "rejected"
    assert body["reviewer_notes"] == "It is an egret."


def test_reject_with_bad_notes_is_a_400(api, user):
    image = own_image(user)
    response = api.post(detail(image, "reject/"), {"notes": "n" * 5001}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"notes"}


def test_regenerate_sends_the_image_back_to_pending(api, user, django_capture_on_commit_callbacks):
    image = own_image(user, status=ImageStatus.REJECTED, caption_quality_score=20)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(detail(image, "regenerate/"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["generated_caption"] is None
    assert body["caption_quality_score"] is None
    assert len(callbacks) == 1  # the generation is queued once the change commits


def test_regenerate_passes_an_instruction_to_the_model(api, user, django_capture_on_commit_callbacks):
    image = own_image(user, status=ImageStatus.REJECTED)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(detail(image, "regenerate/"), {"instruction": "Name the bird."}, format="json")
    assert response.status_code == 200, response.content
    audit = AuditLog.objects.get(action="caption.regenerate_requested", resource_id=str(image.pk))
    assert audit.details["instruction"] == "Name the bird."


def test_regenerate_with_an_over_long_instruction_is_a_400(api, user):
    image = own_image(user, status=ImageStatus.REJECTED)
    response = api.post(detail(image, "regenerate/"), {"instruction": "x" * 501}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"instruction"}
    assert Image.objects.get(pk=image.pk).status == ImageStatus.REJECTED


def test_regenerating_an_approved_caption_is_a_409(api, user):
    image = own_image(user, status=ImageStatus.APPROVED, final_caption="Fine.")
    assert api.post(detail(image, "regenerate/")).status_code == 409


# --- bulk --------------------------------------------------------------------------------------


def test_bulk_approve_changes_only_the_callers_eligible_images(api, user):
    mine = [own_image(user) for _ in range(3)]
    posted = own_image(user, status=ImageStatus.POSTED, final_caption="Old.")
    theirs = own_image(UserFactory())
    ids = [image.pk for image in [*mine, posted, theirs]] + [987654321]
    response = api.post(f"{URL}bulk-approve/", {"ids": ids}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"requested": 6, "changed": 3}
    statuses = dict(Image.objects.values_list("pk", "status"))
    assert {statuses[image.pk] for image in mine} == {"approved"}
    assert statuses[posted.pk] == "posted"
    assert statuses[theirs.pk] == "pending", "another user's image is ignored"


def test_bulk_reject(api, user):
    mine = [own_image(user) for _ in range(2)]
    response = api.post(f"{URL}bulk-reject/", {"ids": [image.pk for image in mine]}, format="json")
    assert response.json() == {"requested": 2, "changed": 2}
    assert set(Image.objects.values_list("status", flat=True)) == {"rejected"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": "1,2"},
        {"ids": ["x"]},
        {"ids": [0]},
        {"ids": [2**63]},
        {"ids": list(range(1, 502))},
    ],
)
def test_bulk_with_bad_ids_is_a_400(api, body):
    response = api.post(f"{URL}bulk-approve/", body, format="json")
    assert response.status_code == 400
    assert fields_of(response) <= {"ids"} | {f"ids.{n}" for n in range(5)}
    assert fields_of(response)


def test_viewers_cannot_bulk_approve():
    viewer = UserFactory(role=Role.VIEWER)
    image = own_image(viewer)
    response = client_for(viewer).post(f"{URL}bulk-approve/", {"ids": [image.pk]}, format="json")
    assert response.status_code == 403


# --- posting through a Mastodon-API instance ---------------------------------------------------


def posted_setup(httpserver, user, *, flavor="mastodon"):
    fake = FakeMastodon(httpserver, flavor=flavor)
    status = fake.add_status(
        text="Three birds", spoiler_text="birds", language="en", media=["A crow.", None, "A magpie."]
    )
    connection = PlatformConnectionFactory(
        user=user, instance_url=fake.base_url, access_token=fake.token, platform_type=flavor
    )
    post = PostFactory(platform_connection=connection, post_id=status["id"])
    image = ImageFactory(
        post=post,
        image_post_id=status["media_attachments"][1]["id"],
        attachment_index=1,
        generated_caption="A heron standing in shallow water.",
    )
    return fake, status, image


def test_approve_and_post_changes_only_this_images_description(api, user, httpserver):
    fake, status, image = posted_setup(httpserver, user)
    response = api.post(detail(image, "approve-and-post/"), {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "posted"
    assert response.json()["posted_at"] is not None
    after = fake.status(status["id"])
    assert [m["description"] for m in after["media_attachments"]] == [
        "A crow.",
        "A heron standing in shallow water.",
        "A magpie.",
    ]
    assert after["spoiler_text"] == "birds"
    assert fake.source(status["id"])["text"] == "Three birds"


def test_a_post_the_server_changed_is_a_502_saying_what_changed(api, user, httpserver):
    fake, _status, image = posted_setup(httpserver, user)
    fake.edit_sets_visibility = "direct"  # as Takahē's edit drops an unlisted post's visibility
    response = api.post(detail(image, "approve-and-post/"), {}, format="json")
    assert response.status_code == 502, response.content
    error = response.json()["error"]
    assert error["code"] == "post_changed"
    assert "visibility changed from 'public' to 'direct'" in error["message"]
    body = api.get(detail(image)).json()
    assert body["status"] == "error" and "visibility changed" in body["processing_error"]


def test_post_is_idempotent(api, user, httpserver):
    fake, status, image = posted_setup(httpserver, user)
    api.post(detail(image, "approve/"), {}, format="json")
    first = api.post(detail(image, "post/"))
    second = api.post(detail(image, "post/"))
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "posted"
    assert fake.count("PUT", f"/api/v1/statuses/{status['id']}") == 1


def test_pixelfed_posting(api, user, httpserver):
    fake, _status, image = posted_setup(httpserver, user, flavor="pixelfed")
    response = api.post(detail(image, "approve-and-post/"), {"text": "A heron."}, format="json")
    assert response.status_code == 200, response.content
    assert fake.media(image.image_post_id)["description"] == "A heron."


def test_a_platform_refusal_is_a_502_and_leaves_the_image_in_error(api, user, httpserver):
    fake, status, image = posted_setup(httpserver, user)
    api.post(detail(image, "approve/"), {}, format="json")
    fake.error_next(f"/api/v1/statuses/{status['id']}", status=403)
    response = api.post(detail(image, "post/"))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "platform_unavailable"
    assert "403" in error["message"]
    image.refresh_from_db()
    assert image.status == ImageStatus.ERROR
    assert image.processing_error.startswith("Posting failed:")
    assert image.final_caption == "A heron standing in shallow water."


def test_posting_an_unapproved_caption_is_a_409(api, user, httpserver):
    fake, status, image = posted_setup(httpserver, user)
    response = api.post(detail(image, "post/"))
    assert response.status_code == 409
    assert fake.count("PUT", f"/api/v1/statuses/{status['id']}") == 0


def test_a_platform_without_descriptions_is_a_409(api, user):
    connection = PlatformConnectionFactory(user=user, platform_type="x")
    image = own_image(user, platform_connection=connection, status=ImageStatus.APPROVED, final_caption="A.")
    response = api.post(detail(image, "post/"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "posting_unsupported"


# --- the stored copy ---------------------------------------------------------------------------


def test_content_streams_the_stored_copy_to_the_owner(api, user, stored_png):
    key, data = stored_png
    image = own_image(user, local_path=key)
    response = api.get(detail(image, "content/"), HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == data
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")
    etag = response["ETag"]
    again = api.get(detail(image, "content/"), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304


def test_content_refuses_strangers_with_404_and_anonymous_with_401(user, stored_png):
    key, _ = stored_png
    image = own_image(user, local_path=key)
    stranger = client_for(UserFactory())
    response = stranger.get(detail(image, "content/"), HTTP_ACCEPT="image/*")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert client_for().get(detail(image, "content/")).status_code == 401
    assert client_for(UserFactory(role=Role.MODERATOR)).get(detail(image, "content/")).status_code == 200


def test_viewers_see_their_own_content(stored_png):
    key, _ = stored_png
    viewer = UserFactory(role=Role.VIEWER)
    image = own_image(viewer, local_path=key)
    assert client_for(viewer).get(detail(image, "content/")).status_code == 200


@pytest.mark.parametrize(
    "local_path", ["", "captions/images/missing.jpg", "../etc/passwd", "captions/../x.png"]
)
def test_content_without_a_usable_stored_copy_is_a_404(api, user, local_path):
    image = own_image(user, local_path=local_path)
    response = api.get(detail(image, "content/"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_stored_copies_are_not_under_a_public_url(stored_png):
    key, _ = stored_png
    assert default_storage.exists(key)
    assert client_for().get(f"/media/{key}").status_code == 404


# --- the representation, built directly ----------------------------------------------------------


def _drf_representation(serializer_class, image, request) -> dict:
    """DRF's own field-by-field representation, which ImageSerializer builds without its machinery."""
    from rest_framework import serializers

    return dict(
        serializers.Serializer.to_representation(serializer_class(context={"request": request}), image)
    )


@pytest.fixture
def varied_images(user, stored_png):
    from django.utils import timezone

    key, _data = stored_png
    limited = PlatformConnectionFactory(user=user, extra={"description_limit": 40})
    CaptionGenerationUserSettingsFactory(platform_connection=limited, max_caption_length=300)
    reviewer = UserFactory(role=Role.REVIEWER)
    return [
        own_image(
            user,
            platform_connection=limited,
            generated_caption="A heron standing in shallow water at dusk, reeds behind it.",
            caption_quality_score=72,
            needs_special_review=True,
            local_path=key,
            image_category=ImageCategory.choices[0][0],
        ),
        own_image(
            user,
            generated_caption=None,
            caption_quality_score=None,
            processing_error="Corrupt image.",
            local_path="",
            media_type=None,
            image_post_id=None,
        ),
        own_image(
            user,
            reviewed_caption="  Two   cats\n on a sofa ",
            final_caption="Two cats asleep on a sofa.",
            status=ImageStatus.POSTED,
            reviewed_by=reviewer,
            reviewed_at=timezone.now(),
            posted_at=timezone.now(),
            original_post_date=timezone.now(),
            reviewer_notes="Fine.",
            original_caption="cats",
            caption_quality_score=95,
        ),
    ]


@pytest.mark.parametrize("time_zone", ["UTC", "America/Sao_Paulo"])
def test_the_direct_representation_equals_drfs(varied_images, rf, settings, time_zone):
    from django.utils import timezone

    from captions.api.serializers import ImageDetailSerializer, ImageSerializer
    from captions.selectors import with_length_limit

    settings.TIME_ZONE = time_zone
    request = rf.get(URL)
    with timezone.override(time_zone):
        for image in varied_images:
            for serializer_class in (ImageSerializer, ImageDetailSerializer):
                fresh = with_length_limit(Image.objects.select_related("post", "platform_connection")).get(
                    pk=image.pk
                )
                ours = serializer_class(fresh, context={"request": request}).data
                drf = _drf_representation(serializer_class, fresh, request)
                assert list(ours) == list(drf)  # same fields, same order
                assert ours == drf


def test_list_rows_are_represented_as_the_images_are(varied_images, rf):
    """The list's `.values()` rows and their page-wide settings give what the images give."""
    from captions.api.serializers import ImageSerializer, image_list_rows

    request = rf.get(URL)
    ids = [image.pk for image in varied_images]
    rows = list(image_list_rows(Image.objects.filter(pk__in=ids).order_by("pk")))
    listed = ImageSerializer(rows, many=True, context={"request": request}).data
    images = Image.objects.select_related("post", "platform_connection").filter(pk__in=ids).order_by("pk")
    assert listed == [_drf_representation(ImageSerializer, image, request) for image in images]
    assert [row["caption_length_limit"] for row in listed] == [40, 500, 500]


def test_length_settings_are_read_only_for_the_owner_and_connection_asked(user):
    from captions.selectors import caption_length_settings

    connection = PlatformConnectionFactory(user=user)
    CaptionGenerationUserSettingsFactory(platform_connection=connection, max_caption_length=120)
    stranger = UserFactory()
    CaptionGenerationUserSettingsFactory(platform_connection=connection, user=stranger, max_caption_length=90)
    unsettled = PlatformConnectionFactory(user=user)
    asked = {(user.pk, connection.pk), (user.pk, unsettled.pk)}
    assert caption_length_settings(owners_and_connections=asked) == {(user.pk, connection.pk): 120}
    assert caption_length_settings(owners_and_connections=set()) == {}
