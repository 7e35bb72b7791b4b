"""Bluesky: short posts with images on an AT Protocol repository, over XRPC.

A person connects with the account's handle and an app password (Settings → Privacy and security
→ App passwords). The app password is exchanged at once for a session
(`com.atproto.server.createSession`) and never stored: the connection keeps the session's access
token (`access_token`) and refresh token (`refresh_token`), both encrypted, and the account's DID,
handle and PDS address in `extra` (`did`, `handle`, `pds_url`). `instance_url` is where the person
signs in (https://bsky.social for accounts hosted by Bluesky, or their own PDS).

Bluesky counts a post's text in graphemes (300, and at most 3,000 UTF-8 bytes), and posts cannot be
edited.
"""

from typing import Any

from platforms.kinds.base import Form, Kind, WritingRules
from platforms.kinds.media import MediaRules

BLUESKY_WRITING = WritingRules(
    name="Bluesky",
    form=Form.SHORT_POST,
    text_limit=300,
    counts_graphemes=True,
    byte_limit=3000,
    # Hashtags are searchable on Bluesky but feeds are not built on them: few, only where they help.
    hashtags=(0, 2),
    hashtags_by_length=(1, 1, 2),
    sentences_by_length=(1, 2, 3),
    guide=(
        "Bluesky: one post of at most {limit} characters (an emoji counts as one), links and "
        "hashtags included; plain text, no markdown; a conversational opening; at most 2 hashtags, "
        "only where they help people find the post; no engagement bait."
    ),
)

# app.bsky.embed.images: at most 4 images, each blob at most 1,000,000 bytes (the lexicon's
# maxSize until April 2026, when Bluesky's own PDS raised it to 2 MB; self-hosted PDSes running
# older software still refuse more, so 1 MB is what every PDS takes). GIFs are shown as still
# images in an images embed, so they are left out; video is a separate flow (app.bsky.embed.video)
# this kind does not offer.
BLUESKY_MEDIA = MediaRules(
    max_items=4,
    image_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_image_bytes=1_000_000,
    carries_alt_text=True,
    alt_text_limit=2000,  # the Bluesky app's limit; the lexicon sets none
    counts_graphemes=True,
)

MAX_LANGS = 3  # app.bsky.feed.post `langs`
OPTION_KEYS = ("langs",)


class BlueskyKind(Kind):
    type = "bluesky"
    label = "Bluesky"
    target = "bluesky"
    writing = BLUESKY_WRITING
    media = BLUESKY_MEDIA
    alt_text_limit = 2000
    can_edit_posts = False
    #: The caption scan lists the account's images without alt text; they cannot be described on
    #: their posts (`describes_media` stays False), only reposted with alt text.
    caption_scan = True
    verifiable = True
    signs_in = True
    publishing_option_keys = OPTION_KEYS

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (username or "").strip():
            errors["username"] = "A Bluesky connection needs the account's handle (alice.bsky.social)."
        problems = self.publishing_option_errors(extra)
        pds_url = extra.get("pds_url")
        if pds_url is not None and (
            not isinstance(pds_url, str) or not pds_url.startswith(("https://", "http://"))
        ):
            problems["pds_url"] = "pds_url is the account's PDS address, an https:// URL."
        if problems:
            errors["extra"] = " ".join(problems.values())
        return errors

    def publishing_option_errors(self, options: dict[str, Any]) -> dict[str, str]:
        from platforms.kinds.bluesky.richtext import language_tag_problem

        langs = options.get("langs")
        if langs is None:
            return {}
        if not isinstance(langs, list) or not 1 <= len(langs) <= MAX_LANGS:
            return {"langs": f'langs is a list of 1 to {MAX_LANGS} language tags ("en", "pt-BR").'}
        for tag in langs:
            problem = language_tag_problem(tag)
            if problem:
                return {"langs": problem}
        return {}

    def sign_in(self, *, instance_url: str, username: str, password: str, timeout: float):
        """Exchange the app password for a session (`platforms.kinds.bluesky.client.Session`);
        one request, no retry. Raises PlatformAuthError (refused) or PlatformUnavailableError."""
        from platforms.kinds.bluesky.client import create_session

        return create_session(base_url=instance_url, identifier=username, password=password, timeout=timeout)

    def verify(self, connection, *, timeout: float):
        with self.publisher(connection, timeout=timeout) as publisher:
            account = publisher.account()
            return account, publisher.learned_extra()

    def media_client(self, connection, **kwargs):
        from platforms.kinds.bluesky.media import BlueskyMediaClient

        return BlueskyMediaClient.from_connection(
            connection, on_session=lambda session: _store_session(connection, session), **kwargs
        )

    def publisher(self, connection, **kwargs):
        from platforms.kinds.bluesky.publisher import BlueskyPublisher

        return BlueskyPublisher.from_connection(
            connection, on_session=lambda session: _store_session(connection, session), **kwargs
        )

    def publisher_class(self):
        from platforms.kinds.bluesky.publisher import BlueskyPublisher

        return BlueskyPublisher


def _store_session(connection, session) -> None:
    """A refreshed session is written by the platforms service (writes live in services)."""
    from platforms.services import connection_session_store

    connection_session_store(connection=connection, session=session)


KIND = BlueskyKind()
