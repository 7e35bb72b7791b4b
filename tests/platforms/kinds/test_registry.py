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
    assert {kind.type for kind in kinds() if kind.caption_scan} == {
        "mastodon",
        "pixelfed",
        "pleroma",
        "gotosocial",
        "bluesky",
    }
    assert {kind.type for kind in kinds() if kind.describes_media} == {
        "mastodon",
        "pixelfed",
        "pleroma",
        "gotosocial",
    }


def test_bluesky_capabilities():
    bluesky = kind_of("bluesky")
    assert bluesky.label == "Bluesky"
    assert bluesky.target == "bluesky"
    assert bluesky.verifiable
    assert bluesky.signs_in
    assert not bluesky.can_edit_posts  # Bluesky posts cannot be edited
    assert not bluesky.speaks_mastodon_api
    assert bluesky.publishing_option_keys == ("langs",)
    # Captions: its posts are scanned for images without alt text, but a description cannot be
    # written on an existing post (a repost with alt text instead).
    assert bluesky.caption_scan and not bluesky.describes_media
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


def test_x_media_rules():
    # docs.x.com: 4 images, or 1 animated GIF, or 1 video a post; images 5 MB (the one image limit
    # covers GIFs too, below X's 15 MB for them); videos 512 MB, MP4 or MOV; alt text 1,000.
    from platforms.kinds.media import MediaRules

    assert kind_of("x").media == MediaRules(
        max_items=4,
        image_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
        video_types=frozenset({"video/mp4", "video/quicktime"}),
        max_image_bytes=5_242_880,
        max_video_bytes=536_870_912,
        max_image_pixels=67_108_864,
        video_alone=True,
        gif_alone=True,
        carries_alt_text=True,
        alt_text_limit=1000,
        counts_graphemes=False,
    )


def test_linkedin_media_rules():
    # LinkedIn Images and Posts API: JPG, PNG, GIF of fewer than 36,152,320 pixels; 1 image as
    # content.media, 2-20 as multiImage; altText up to 4,086 characters; no video here.
    from platforms.kinds.media import MediaRules

    assert kind_of("linkedin").media == MediaRules(
        max_items=20,
        image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
        video_types=frozenset(),
        max_image_bytes=5_242_880,
        max_video_bytes=0,
        max_image_pixels=36_152_319,
        video_alone=True,
        gif_alone=True,
        carries_alt_text=True,
        alt_text_limit=4086,
        counts_graphemes=False,
    )


def test_mastodon_family_media_rules_from_each_servers_documentation():
    mastodon = kind_of("mastodon").media
    # docs.joinmastodon.org and a stock 4.x /api/v2/instance: 4 attachments, images 16 MiB,
    # video 99 MiB and alone, 33,177,600 pixels, descriptions of 1,500 characters.
    assert mastodon.max_items == 4
    assert mastodon.max_image_bytes == 16_777_216
    assert mastodon.max_video_bytes == 103_809_024
    assert mastodon.max_image_pixels == 33_177_600
    assert mastodon.video_alone is True
    assert mastodon.gif_alone is False
    assert mastodon.carries_alt_text is True
    assert mastodon.alt_text_limit == 1500
    assert mastodon.counts_graphemes is False
    assert mastodon.image_types == {"image/jpeg", "image/png", "image/gif", "image/webp"}
    assert mastodon.video_types == {"video/mp4", "video/webm", "video/quicktime"}

    # Pixelfed's documented defaults: MAX_ALBUM_LENGTH 4, MAX_PHOTO_SIZE 15000 kB,
    # MEDIA_TYPES image/jpeg,image/png,image/gif, PF_MEDIA_MAX_ALTTEXT_LENGTH 1000.
    pixelfed = kind_of("pixelfed")
    assert pixelfed.media.max_items == 4
    assert pixelfed.media.max_image_bytes == 15_360_000
    assert pixelfed.media.image_types == {"image/jpeg", "image/png", "image/gif"}
    assert pixelfed.media.video_types == frozenset()
    assert pixelfed.media.alt_text_limit == 1000
    assert pixelfed.alt_text_limit == 1000

    # Pleroma / Akkoma: upload_limit 16,000,000 bytes, description_limit 5,000.
    pleroma = kind_of("pleroma").media
    assert (pleroma.max_items, pleroma.max_image_bytes, pleroma.max_video_bytes) == (
        4,
        16_000_000,
        16_000_000,
    )
    assert pleroma.alt_text_limit == 5000

    # GoToSocial: statuses-media-max-files 6, media-local-max-size 40 MiB, 1,500 characters.
    gotosocial = kind_of("gotosocial").media
    assert (gotosocial.max_items, gotosocial.max_image_bytes, gotosocial.max_video_bytes) == (
        6,
        41_943_040,
        41_943_040,
    )
    assert gotosocial.alt_text_limit == 1500


def test_an_instances_announced_limits_win_over_the_documented_defaults():
    kind = kind_of("mastodon")
    assert kind.media_for(extra={}) == kind.media
    assert kind.media_for(extra=None) == kind.media
    rules = kind.media_for(
        extra={
            "max_media_attachments": 6,
            "image_size_limit": 10_485_760,
            "video_size_limit": 41_943_040,
            "image_matrix_limit": 16_777_216,
            "description_limit": 5000,
            "supported_mime_types": ["image/jpeg", "image/png", "image/avif", "video/mp4"],
            "max_characters": 1000,
        }
    )
    assert rules.max_items == 6
    assert rules.max_image_bytes == 10_485_760
    assert rules.max_video_bytes == 41_943_040
    assert rules.max_image_pixels == 16_777_216
    assert rules.alt_text_limit == 5000
    # Announced types only narrow what the project checks by content (no AVIF).
    assert rules.image_types == {"image/jpeg", "image/png"}
    assert rules.video_types == {"video/mp4"}
    # Nonsense in extra keeps the default.
    assert kind.media_for(extra={"max_media_attachments": "many", "image_size_limit": -1}) == kind.media
    # Pixelfed takes no video unless the instance lists it; then with its one size limit.
    pixelfed = kind_of("pixelfed")
    assert pixelfed.media_for(extra={"video_size_limit": 50_000_000}).video_types == frozenset()
    with_video = pixelfed.media_for(
        extra={"supported_mime_types": ["image/jpeg", "video/mp4"], "image_size_limit": 20_000_000}
    )
    assert with_video.video_types == {"video/mp4"}
    assert with_video.max_video_bytes == 20_000_000
    # Other networks keep their own rules whatever extra says.
    assert kind_of("wordpress").media_for(extra={"max_media_attachments": 9}) == kind_of("wordpress").media


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
