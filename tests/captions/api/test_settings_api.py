"""/api/v1/captions/settings/: caption settings per connection, validated by the server."""

import pytest

from accounts.models import AuditLog, Role
from captions.models import CaptionGenerationUserSettings
from captions.services.user_settings import caption_settings_upsert
from tests.factories.accounts import UserFactory
from tests.factories.captions import CaptionGenerationUserSettingsFactory, ImageFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/captions/settings/"


def own_settings(user, **kwargs):
    return CaptionGenerationUserSettingsFactory(
        platform_connection=PlatformConnectionFactory(user=user), **kwargs
    )


def fields_of(response) -> set[str]:
    return set(response.json()["error"]["fields"])


def test_isolation():
    assert_isolated(
        OwnedEndpoint(
            list_url=URL,
            make=own_settings,
            update={"max_posts_per_run": 10},
            create={"platform_connection": 1, "max_posts_per_run": 10},
            deletable=False,
        )
    )


def test_create_with_defaults_for_what_is_left_out(api, user):
    connection = PlatformConnectionFactory(user=user)
    response = api.post(URL, {"platform_connection": connection.pk, "max_posts_per_run": 120}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["max_posts_per_run"] == 120
    assert body["max_caption_length"] == 500
    assert (body["optimal_min_length"], body["optimal_max_length"]) == (80, 200)
    assert body["user"] == user.pk
    assert AuditLog.objects.filter(action="caption_settings.created").exists()


def test_replies_are_offered_by_default_and_can_be_turned_off(api, user):
    connection = PlatformConnectionFactory(user=user)
    response = api.post(URL, {"platform_connection": connection.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["include_replies"] is True
    row_id = response.json()["id"]
    response = api.patch(f"{URL}{row_id}/", {"include_replies": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["include_replies"] is False
    assert CaptionGenerationUserSettings.objects.get(pk=row_id).include_replies is False
    assert AuditLog.objects.filter(
        action="caption_settings.updated", details__changed={"include_replies": False}
    ).exists()


def test_posting_again_changes_the_one_row(api, user):
    connection = PlatformConnectionFactory(user=user)
    api.post(URL, {"platform_connection": connection.pk}, format="json")
    response = api.post(URL, {"platform_connection": connection.pk, "language": "de"}, format="json")
    assert response.status_code == 200
    assert response.json()["language"] == "de"
    assert CaptionGenerationUserSettings.objects.count() == 1


def test_patch_changes_only_what_it_names(api, user):
    row = own_settings(user, max_posts_per_run=30, language="fr")
    response = api.patch(f"{URL}{row.pk}/", {"processing_delay": 2.5, "language": ""}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["processing_delay"] == 2.5
    assert body["language"] is None
    assert body["max_posts_per_run"] == 30
    assert AuditLog.objects.get(action="caption_settings.updated").details["changed"] == {
        "language": None,
        "processing_delay": 2.5,
    }


def test_a_patch_that_changes_nothing_writes_no_audit_row(api, user):
    row = own_settings(user, max_posts_per_run=30)
    api.patch(f"{URL}{row.pk}/", {"max_posts_per_run": 30}, format="json")
    assert not AuditLog.objects.filter(action="caption_settings.updated").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_posts_per_run", 0),
        ("max_posts_per_run", 501),
        ("max_posts_per_run", "many"),
        ("max_posts_per_run", 1.5),
        ("max_caption_length", 0),
        ("max_caption_length", 1501),
        ("optimal_min_length", 0),
        ("optimal_max_length", 2000),
        ("processing_delay", -1),
        ("processing_delay", 60.5),
        ("processing_delay", "soon"),
        ("reprocess_existing", "perhaps"),
        ("include_replies", "perhaps"),
        ("language", "English please"),
        ("language", "x" * 17),
        ("language", "e"),
        ("language", 12),
    ],
)
def test_out_of_range_values_are_a_400_naming_the_field(api, user, field, value):
    row = own_settings(user)
    response = api.patch(f"{URL}{row.pk}/", {field: value}, format="json")
    assert response.status_code == 400, response.content
    assert fields_of(response) == {field}
    connection = PlatformConnectionFactory(user=user)
    response = api.post(URL, {"platform_connection": connection.pk, field: value}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {field}
    assert not CaptionGenerationUserSettings.objects.filter(platform_connection=connection).exists()


def test_min_above_max_is_a_400_whichever_changes(api, user):
    row = own_settings(user, optimal_min_length=80, optimal_max_length=200)
    response = api.patch(f"{URL}{row.pk}/", {"optimal_max_length": 50}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"optimal_min_length"}
    response = api.patch(f"{URL}{row.pk}/", {"optimal_min_length": 300}, format="json")
    assert fields_of(response) == {"optimal_min_length"}
    both = api.patch(f"{URL}{row.pk}/", {"optimal_min_length": 300, "optimal_max_length": 400}, format="json")
    assert both.status_code == 200


@pytest.mark.parametrize("language", ["en", "pt-BR", "zh-Hant-TW", "gsw"])
def test_language_codes(api, user, language):
    row = own_settings(user)
    response = api.patch(f"{URL}{row.pk}/", {"language": language}, format="json")
    assert response.status_code == 200
    assert response.json()["language"] == language


def test_create_needs_a_visible_mastodon_api_connection(api, user):
    assert fields_of(api.post(URL, {}, format="json")) == {"platform_connection"}
    theirs = PlatformConnectionFactory()
    assert fields_of(api.post(URL, {"platform_connection": theirs.pk}, format="json")) == {
        "platform_connection"
    }
    blog = PlatformConnectionFactory(user=user, platform_type="wordpress")
    assert fields_of(api.post(URL, {"platform_connection": blog.pk}, format="json")) == {
        "platform_connection"
    }
    assert not CaptionGenerationUserSettings.objects.exists()


def test_a_moderator_changes_the_owners_settings(user):
    connection = PlatformConnectionFactory(user=user)
    moderator = client_for(UserFactory(role=Role.MODERATOR))
    response = moderator.post(
        URL, {"platform_connection": connection.pk, "max_caption_length": 300}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["user"] == user.pk


def test_settings_set_the_caption_limit_images_show(api, user):
    connection = PlatformConnectionFactory(user=user)
    image = ImageFactory(post__platform_connection=connection)
    api.post(URL, {"platform_connection": connection.pk, "max_caption_length": 250}, format="json")
    assert api.get(f"/api/v1/captions/images/{image.pk}/").json()["caption_length_limit"] == 250


def test_put_and_delete_are_not_allowed(api, user):
    row = own_settings(user)
    assert api.put(f"{URL}{row.pk}/", {"max_posts_per_run": 5}, format="json").status_code == 405
    assert api.delete(f"{URL}{row.pk}/").status_code == 405


@pytest.mark.parametrize("size", [2, 20])
def test_a_page_costs_a_fixed_number_of_queries(api, user, size, count_queries):
    for _ in range(size):
        own_settings(user)
    response, queries = count_queries(lambda: api.get(URL, {"page_size": size}))
    assert len(response.json()["results"]) == size
    assert queries == 3, queries  # rate-limit counter, the caller's connection ids, the page


# --- the service itself ------------------------------------------------------------------------


def test_the_service_refuses_unknown_names_and_nan(user):
    from django.core.exceptions import ValidationError

    connection = PlatformConnectionFactory(user=user)
    with pytest.raises(ValidationError) as error:
        caption_settings_upsert(connection=connection, values={"colour": "red"}, actor=user)
    assert set(error.value.message_dict) == {"colour"}
    with pytest.raises(ValidationError) as error:
        caption_settings_upsert(connection=connection, values={"processing_delay": float("nan")}, actor=user)
    assert set(error.value.message_dict) == {"processing_delay"}
    row, created = caption_settings_upsert(
        connection=connection, values={"max_posts_per_run": "25"}, actor=user
    )
    assert created and row.max_posts_per_run == 25
