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
        kind_of("myspace")


def test_targets_are_served_by_the_kinds_that_publish_them():
    assert kinds_for_target("blog") == {"wordpress", "webhook"}
    assert kinds_for_target("mastodon") == {"mastodon", "pixelfed", "pleroma", "gotosocial"}
    assert kinds_for_target("x") == {"x"}
    assert kinds_for_target("linkedin") == {"linkedin"}
    assert kinds_for_target("bluesky") == {"bluesky"}
    assert kinds_for_target("imagefx") == frozenset()
    assert set(Target.values) == {"linkedin", "x", "blog", "mastodon", "bluesky"}


@pytest.mark.parametrize(
    ("target", "limit"),
    # X: 280 characters; LinkedIn: 3,000; Mastodon: 500 unless the instance says otherwise;
    # Bluesky: 300 graphemes (app.bsky.feed.post `text` maxGraphemes).
    [("x", 280), ("linkedin", 3000), ("mastodon", 500), ("bluesky", 300), ("blog", None)],
)
def test_text_limits(target, limit):
    assert writing_rules(target).char_limit() == limit


def test_only_mastodon_takes_an_instance_limit():
    assert writing_rules("mastodon").char_limit(1000) == 1000
    assert writing_rules("x").char_limit(1000) == 280


def test_bluesky_counts_graphemes_and_bytes():
    rules = writing_rules("bluesky")
    assert rules.form == Form.SHORT_POST
    assert rules.counts_graphemes is True
    assert rules.byte_limit == 3000  # app.bsky.feed.post `text` maxLength (UTF-8 bytes)
    assert rules.hashtags == (0, 2)
    assert rules.char_limit(1000) == 300  # one limit for every PDS
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    assert rules.length(family * 300) == 300
    assert rules.length(family * 301) == 301
    assert len(family * 300) == 1500
    # Both limits: 300 families are 300 graphemes but 5,400 bytes; 301 flags are 2,408 bytes.
    flag = "\U0001f1fa\U0001f1e6"
    assert rules.length_problem(flag * 300) is None
    assert rules.length_problem(flag * 301) == "The draft has 301 graphemes; Bluesky allows 300."
    assert rules.length_problem(family * 300) == "The draft takes 5400 bytes in UTF-8; Bluesky allows 3000."
    assert writing_rules("x").length(family) == 5  # X counts code points here


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


def test_bluesky_capabilities():
    bluesky = kind_of("bluesky")
    assert bluesky.label == "Bluesky"
    assert bluesky.target == "bluesky"
    assert bluesky.verifiable
    assert bluesky.signs_in
    assert not bluesky.can_edit_posts  # Bluesky posts cannot be edited
    assert not bluesky.speaks_mastodon_api
    assert bluesky.publishing_option_keys == ("langs",)
    # app.bsky.embed.images: 4 images, 1,000,000 bytes each (what every PDS takes), alt text carried;
    # the Bluesky app's alt text limit is 2,000; no video here.
    media = bluesky.media
    assert media.max_items == 4
    assert media.max_image_bytes == 1000000
    assert media.image_types == {"image/jpeg", "image/png", "image/webp"}
    assert media.video_types == frozenset()
    assert media.carries_alt_text
    assert media.alt_text_limit == 2000
    assert media.counts_graphemes
    assert media.problems([("image/png", 1000000)] * 4) == []
    assert media.problems([("image/png", 1000001)]) != []
    assert media.problems([("image/png", 10)] * 5) != []
    assert media.problems([("video/mp4", 10)]) != []


def test_bluesky_connection_errors():
    bluesky = kind_of("bluesky")
    assert bluesky.connection_errors(username="alice.bsky.social", extra={}) == {}
    assert "handle" in bluesky.connection_errors(username=" ", extra={})["username"]
    assert (
        "langs"
        in bluesky.connection_errors(username="a.test", extra={"langs": ["en", "fr", "de", "ru"]})["extra"]
    )
    assert (
        "language tag" in bluesky.connection_errors(username="a.test", extra={"langs": ["english!"]})["extra"]
    )
    assert bluesky.connection_errors(username="a.test", extra={"langs": ["pt-BR"]}) == {}
    assert "pds_url" in bluesky.connection_errors(username="a.test", extra={"pds_url": "ftp://x"})["extra"]


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
