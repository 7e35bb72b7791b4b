"""Verification learns the instance's own limits (status length, media) from its documents, and
the kind's media rules for the connection follow them."""

from platforms.kinds.mastodon import client as clients
from platforms.kinds.registry import kind_of
from platforms.models import PlatformConnection, PlatformType
from tests.fakes.mastodon import FakeMastodon


def test_verification_stores_what_a_mastodon_instance_announces(httpserver):
    fake = FakeMastodon(httpserver, description_limit=1200)
    fake.instance_v2["configuration"]["statuses"].update(max_characters=1000, max_media_attachments=6)
    fake.instance_v2["configuration"]["media_attachments"]["image_matrix_limit"] = 16_777_216
    connection = PlatformConnection(
        platform_type=PlatformType.MASTODON, instance_url=fake.base_url, access_token=fake.token, extra={}
    )
    account, learned = kind_of("mastodon").verify(connection, timeout=2.0)

    assert account.username == "alttext"
    assert learned == {
        "max_characters": 1000,
        "max_media_attachments": 6,
        "image_size_limit": 16_777_216,
        "video_size_limit": 103_809_024,
        "image_matrix_limit": 16_777_216,
        "description_limit": 1200,
        "supported_mime_types": [
            "image/gif",
            "image/jpeg",
            "image/png",
            "image/webp",
            "video/mp4",
            "video/quicktime",
            "video/webm",
        ],
    }
    assert fake.count("GET", "/api/v1/instance") == 0  # v2 said everything
    rules = kind_of("mastodon").media_for(extra=learned)
    assert (rules.max_items, rules.alt_text_limit, rules.max_image_pixels) == (6, 1200, 16_777_216)


def test_pleroma_limits_come_from_the_v1_documents_top_level(httpserver):
    fake = FakeMastodon(httpserver)
    fake.instance_v2 = None  # Pleroma before 2.6 has no v2 document
    fake.instance_v1 = {
        "uri": "pleroma.example",
        "max_toot_chars": 5000,
        "max_media_attachments": 1000,
        "upload_limit": 16_000_000,
        "description_limit": 5000,
    }
    learned = clients.mastodon_instance_limits(
        instance_url=fake.base_url, access_token=fake.token, timeout=2.0
    )
    assert learned == {
        "max_characters": 5000,
        "max_media_attachments": 1000,
        "image_size_limit": 16_000_000,
        "video_size_limit": 16_000_000,
        "description_limit": 5000,
    }


def test_an_instance_that_says_nothing_teaches_nothing(httpserver):
    fake = FakeMastodon(httpserver)
    fake.instance_v2 = None
    fake.instance_v1 = None
    learned = clients.mastodon_instance_limits(
        instance_url=fake.base_url, access_token=fake.token, timeout=2.0
    )
    assert learned == {}
    assert kind_of("pixelfed").media_for(extra=learned) == kind_of("pixelfed").media
