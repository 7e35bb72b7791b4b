"""The registry: one kind per connection type, and the workflow targets derived from the kinds."""

import pytest

from platforms.kinds.base import Form
from platforms.kinds.registry import PlatformType, Target, kind_of, kinds, kinds_for_target, writing_rules


def test_every_connection_type_has_its_kind():
    assert {kind.type for kind in kinds()} == set(PlatformType.values)
    for value in PlatformType.values:
        assert kind_of(value).type == value


def test_unknown_type_is_a_value_error():
    with pytest.raises(ValueError):
        kind_of("bluesky")


def test_targets_are_served_by_the_kinds_that_publish_them():
    assert kinds_for_target("blog") == {"wordpress", "webhook"}
    assert kinds_for_target("mastodon") == {"mastodon", "pixelfed", "pleroma", "gotosocial"}
    assert kinds_for_target("x") == {"x"}
    assert kinds_for_target("linkedin") == {"linkedin"}
    assert kinds_for_target("imagefx") == frozenset()
    assert set(Target.values) == {"linkedin", "x", "blog", "mastodon"}


@pytest.mark.parametrize(
    ("target", "limit"),
    # X: 280 characters; LinkedIn: 3,000; Mastodon: 500 unless the instance says otherwise.
    [("x", 280), ("linkedin", 3000), ("mastodon", 500), ("blog", None)],
)
def test_text_limits(target, limit):
    assert writing_rules(target).char_limit() == limit


def test_only_mastodon_takes_an_instance_limit():
    assert writing_rules("mastodon").char_limit(1000) == 1000
    assert writing_rules("x").char_limit(1000) == 280


def test_blog_is_an_article_in_words():
    rules = writing_rules("blog")
    assert rules.form == Form.ARTICLE
    assert rules.words == (800, 2000)
    assert rules.hashtags == (0, 0)


def test_unknown_target():
    with pytest.raises(ValueError, match="Unknown platform"):
        writing_rules("myspace")


def test_capabilities():
    assert kind_of("pixelfed").describes_by_media_update
    assert not kind_of("mastodon").describes_by_media_update
    assert {kind.type for kind in kinds() if kind.speaks_mastodon_api} == {
        "mastodon",
        "pixelfed",
        "pleroma",
        "gotosocial",
    }
    assert not kind_of("imagefx").verifiable
    assert not kind_of("webhook").verifiable
    assert kind_of("wordpress").publishing_option_keys == ("status", "category", "tags", "hashtags_as_tags")
    assert kind_of("mastodon").alt_text_limit == 1500


@pytest.mark.django_db
def test_media_client_only_for_networks_that_describe_media():
    from platforms.kinds.mastodon.client import MastodonApi
    from platforms.kinds.registry import media_client_for
    from tests.factories.platforms import PlatformConnectionFactory

    pixelfed = PlatformConnectionFactory(platform_type="pixelfed", instance_url="https://pixelfed.example")
    with media_client_for(pixelfed) as client:
        assert isinstance(client, MastodonApi)
    x = PlatformConnectionFactory(platform_type="x", instance_url="https://api.x.com")
    with pytest.raises(ValueError, match="cannot describe media"):
        media_client_for(x)


def test_blog_media_rules():
    # WordPress: JPEG, PNG, GIF, WebP, MP4, WebM from its default allowed types; 2 MB, PHP's default
    # upload_max_filesize (what an untuned site takes); alt text stored with each upload.
    wordpress = kind_of("wordpress").media
    assert wordpress.max_items == 10
    assert wordpress.image_types == {"image/jpeg", "image/png", "image/gif", "image/webp"}
    assert wordpress.video_types == {"video/mp4", "video/webm"}
    assert wordpress.max_image_bytes == 2 * 1024 * 1024
    assert wordpress.max_video_bytes == 2 * 1024 * 1024
    assert wordpress.max_image_pixels == 8192 * 8192
    assert (wordpress.video_alone, wordpress.gif_alone) == (False, False)
    assert wordpress.carries_alt_text
    assert (wordpress.alt_text_limit, wordpress.counts_graphemes) == (None, False)
    assert wordpress.problems([("image/png", 2 * 1024 * 1024 + 1)]) == ["Item 1: 2.0 MB is more than 2.0 MB."]
    assert wordpress.problems([("video/mp4", 1000), ("image/png", 1000)]) == []
    assert wordpress.problems([("video/quicktime", 1000)]) == ["Item 1: video/quicktime is not accepted."]
    # The webhook: ours, links only (the receiver fetches each file from a signed URL).
    webhook = kind_of("webhook").media
    assert webhook.max_items == 20
    assert webhook.image_types == {"image/jpeg", "image/png", "image/gif", "image/webp"}
    assert webhook.video_types == {"video/mp4", "video/webm"}
    assert webhook.max_image_bytes == 20 * 1024 * 1024
    assert webhook.max_video_bytes == 200 * 1024 * 1024
    assert (webhook.video_alone, webhook.gif_alone) == (False, False)
    assert webhook.carries_alt_text
    assert webhook.alt_text_limit is None
