"""The Mastodon-compatible family: Mastodon, Pixelfed, Pleroma/Akkoma and GoToSocial speak one
client API, so they share one client, one publisher and one set of writing rules; they differ in
name and in how an image description is written (Pixelfed updates the media itself)."""

from typing import Any

from platforms.kinds.base import Form, Kind, WritingRules

VISIBILITIES = ("public", "unlisted", "private", "direct")

MASTODON_WRITING = WritingRules(
    name="Mastodon",
    form=Form.SHORT_POST,
    text_limit=500,
    instance_limit=True,
    hashtags=(1, 3),
    hashtags_by_length=(1, 2, 3),
    sentences_by_length=(1, 2, 4),
    guide=(
        "Mastodon: at most {limit} characters; plain text, no markdown; 1-3 hashtags in CamelCase "
        "(#OpenSource) so screen readers can read them; no engagement bait."
    ),
)


class MastodonKind(Kind):
    type = "mastodon"
    label = "Mastodon"
    target = "mastodon"
    writing = MASTODON_WRITING
    speaks_mastodon_api = True
    describes_media = True
    alt_text_limit = 1500  # Mastodon's own default when an instance does not say
    can_edit_posts = True
    verifiable = True
    #: Pixelfed writes a description with PUT /api/v1/media/{id}, not by editing the status.
    describes_by_media_update = False

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        visibility = extra.get("visibility")
        if visibility is not None and visibility not in VISIBILITIES:
            return {"extra": f"visibility must be one of {', '.join(VISIBILITIES)}."}
        return {}

    def verify(self, connection, *, timeout: float):
        from platforms.kinds.mastodon import client as clients

        account = clients.mastodon_verify_credentials(
            instance_url=connection.instance_url, access_token=connection.access_token, timeout=timeout
        )
        status_limit = clients.mastodon_status_limit(
            instance_url=connection.instance_url, access_token=connection.access_token, timeout=timeout
        )
        # The workflow writer keeps Mastodon drafts within the instance's own limit.
        return account, ({} if status_limit is None else {"max_characters": status_limit})

    def media_client(self, connection, **kwargs):
        from platforms.kinds.mastodon.client import MastodonApi

        return MastodonApi.from_connection(connection, **kwargs)

    def publisher_class(self):
        from platforms.kinds.mastodon.publisher import MastodonPublisher

        return MastodonPublisher


class PixelfedKind(MastodonKind):
    type = "pixelfed"
    label = "Pixelfed"
    describes_by_media_update = True


class PleromaKind(MastodonKind):
    type = "pleroma"
    label = "Pleroma / Akkoma"


class GoToSocialKind(MastodonKind):
    type = "gotosocial"
    label = "GoToSocial"


KINDS = (MastodonKind(), PixelfedKind(), PleromaKind(), GoToSocialKind())
