"""What every network kind provides, and the defaults a kind overrides.

A kind is everything the project knows about one network: its capabilities (text limit and how it
is counted, hashtags, media and alt text, editing), how a connection's settings are checked, how a
connection is verified, and its publisher. Callers ask the kind (`kind_of(connection.platform_type)`)
instead of comparing platform names. Heavy modules (HTTP clients) are imported inside the methods,
so the registry stays cheap to import from `platforms.models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import regex

from platforms.kinds.media import TEXT_ONLY, MediaRules

if TYPE_CHECKING:
    from platforms.kinds.common import PlatformAccount, Session


class Form(StrEnum):
    """The shape of a post on a writing target, which decides how drafts are written and scored."""

    ARTICLE = "article"  # a titled markdown article measured in words (blogs)
    LONG_POST = "long_post"  # a hook line, paragraphs and a call to action (LinkedIn)
    SHORT_POST = "short_post"  # a few sentences, a link and hashtags (X, Mastodon)


@dataclass(frozen=True, kw_only=True)
class WritingRules:
    """How drafts for one workflow target are written and scored. Every kind that publishes to the
    same target (WordPress and the webhook both serve `blog`) shares one `WritingRules` value."""

    name: str  # how findings and prompts name the target ("X", "blog")
    form: Form
    text_limit: int | None  # characters (graphemes where `counts_graphemes`); None: measured in words
    #: The network counts user-perceived characters (extended grapheme clusters: an emoji family
    #: or a flag is one), as Bluesky does, instead of code points.
    counts_graphemes: bool = False
    #: UTF-8 bytes the network also caps a post's text at (Bluesky: 3,000 besides 300 graphemes).
    byte_limit: int | None = None
    # An instance may set its own limit (stored by verification in extra["max_characters"]).
    instance_limit: bool = False
    words: tuple[int, int] | None = None  # (fewest, most) words of an article
    min_headings: int = 0
    hashtags: tuple[int, int] = (0, 0)  # (fewest, most) a post should carry
    hashtags_by_length: tuple[int, int, int] = (0, 0, 0)  # what the builtin writer adds: short, medium, long
    sentences_by_length: tuple[int, int, int] | None = None  # short posts: most sentences per length
    guide: str = ""  # the prompt's rules, with {limit}, {low} and {high}

    def char_limit(self, instance_limit: int | None = None) -> int | None:
        """The character limit; an instance's own applies only where instances set one."""
        if self.instance_limit and instance_limit:
            return int(instance_limit)
        return self.text_limit

    @property
    def unit(self) -> str:
        """What `text_limit` counts, as messages name it."""
        return "graphemes" if self.counts_graphemes else "characters"

    def length(self, text: str) -> int:
        """The text's length as the network counts it against `text_limit`."""
        return grapheme_count(text) if self.counts_graphemes else len(text)

    def length_problem(self, text: str, *, instance_limit: int | None = None) -> str | None:
        """Why the text is too long for a post here, in a sentence; None when it fits."""
        limit = self.char_limit(instance_limit)
        length = self.length(text)
        if limit is not None and length > limit:
            return f"The draft has {length} {self.unit}; {self.name} allows {limit}."
        size = len(text.encode("utf-8", "surrogatepass"))
        if self.byte_limit is not None and size > self.byte_limit:
            return f"The draft takes {size} bytes in UTF-8; {self.name} allows {self.byte_limit}."
        return None

    def prompt(self, *, instance_limit: int | None = None) -> str:
        low, high = self.words or (0, 0)
        return self.guide.format(limit=self.char_limit(instance_limit), low=low, high=high)


_GRAPHEME = regex.compile(r"\X")


def grapheme_count(text: str) -> int:
    """User-perceived characters (Unicode extended grapheme clusters, UAX #29)."""
    return sum(1 for _ in _GRAPHEME.finditer(text))


# The `blog` target is served by two kinds (WordPress and the signed webhook): one set of rules.
BLOG_WRITING = WritingRules(
    name="blog",
    form=Form.ARTICLE,
    text_limit=None,
    words=(800, 2000),
    min_headings=2,
    hashtags=(0, 0),
    hashtags_by_length=(0, 0, 0),
    guide=(
        "Blog: a markdown article of {low}-{high} words: a '# ' title, an introduction, at least two "
        "'## ' sections ('### ' where helpful), a conclusion, and the source links as references. "
        "No hashtags."
    ),
)

TIMEOUT_PROBLEM = "timeout is a number of seconds between 0 and 300."


class Kind:
    """One network. Subclasses set the class attributes and override what their network does."""

    type: str = ""  # the PlatformType value stored on connections
    label: str = ""
    #: The workflow target (`Target` value) this kind publishes; None when it cannot publish.
    target: str | None = None
    writing: WritingRules | None = None
    #: Speaks the Mastodon client API (reading one's media posts, writing alt text).
    speaks_mastodon_api: bool = False
    #: The caption scan reads this network's own media posts (`media_client`) for images without
    #: alt text.
    caption_scan: bool = False
    #: An image's description can be written on the existing post (the caption is "posted back");
    #: False where posts cannot be edited (Bluesky: a new post carries the alt text instead).
    describes_media: bool = False
    alt_text_limit: int | None = None  # the default when the instance does not say
    can_edit_posts: bool = False
    verifiable: bool = False
    #: The person gives an account password (an app password) that is exchanged at once for a
    #: session (`sign_in`) and never stored; the connection keeps the session's tokens.
    signs_in: bool = False
    #: The person signs in at their instance with OAuth (platforms.oauth), which grants these
    #: scopes (space-separated); None: no OAuth sign-in, only a pasted token.
    oauth_scopes: str | None = None
    #: What a post on this network carries besides text (platforms.kinds.media).
    media: MediaRules = TEXT_ONLY
    #: Keys a publishing job may set in its options (they win over the connection's extra).
    publishing_option_keys: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<Kind {self.type}>"

    # Connections --------------------------------------------------------------------------------

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        """{field: message} for settings of a connection this network cannot use (empty: fine)."""
        return {}

    def sign_in(self, *, instance_url: str, username: str, password: str, timeout: float) -> Session:
        """Exchange an account password for a session (where `signs_in`); one request, no retry."""
        raise ValueError(f"{self.type!r} connections do not sign in with a password.")

    def verify(self, connection, *, timeout: float) -> tuple[PlatformAccount, dict[str, Any]]:
        """(the account of the credentials, settings learned on the way to store in `extra`)."""
        with self.publisher(connection, timeout=timeout) as publisher:
            return publisher.account(), {}

    # Media ----------------------------------------------------------------------------------------

    def media_for(self, *, extra: dict[str, Any] | None) -> MediaRules:
        """What one connection's posts take: `media`, unless its server announced its own limits
        (stored in the connection's `extra` by verification, as Mastodon-compatible kinds do)."""
        return self.media

    # Media descriptions (alt text) ----------------------------------------------------------------

    def media_client(self, connection, **kwargs):
        """A client that lists the account's media posts (and, where `describes_media`, writes
        their descriptions): `platforms.kinds.mastodon.client.MastodonApi`, or
        `platforms.kinds.bluesky.media.BlueskyMediaClient` (its `can_write_descriptions` is
        False); ValueError when this network has none."""
        raise ValueError(f"{connection.platform_type!r} connections cannot describe media.")

    # Publishing ---------------------------------------------------------------------------------

    def publisher_class(self) -> type | None:
        return None

    def publisher(self, connection, **kwargs):
        """The connection's publisher (no request is made); ValueError when this kind cannot publish."""
        cls = self.publisher_class()
        if cls is None:
            raise ValueError(f"{connection.platform_type!r} connections cannot publish posts.")
        return cls.from_connection(connection, **kwargs)

    def publishing_option_errors(self, options: dict[str, Any]) -> dict[str, str]:
        """{key: message} for unusable values of this kind's publishing options."""
        return {}
