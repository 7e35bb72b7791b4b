"""Whether a fediverse media attachment lacks alt text.

Alt text counts as present as soon as it holds one letter or digit in any script. The test is on
Unicode categories (L* letters, N* numbers), never on a list of emoji ranges: Vedfolnir's emoji
regular expression also matched CJK ideographs, so it declared existing Chinese, Japanese and
Korean alt text "missing" and overwrote a person's own description with a machine caption.
Overwriting real alt text is the worst mistake this app can make, so every doubt resolves to
"present".

What does not count as text: whitespace, punctuation, symbols (emoji are So/Sk), marks (variation
selectors, combining keycap), format characters (zero-width joiner, emoji tag sequences), private-use
characters, regional indicators (flags), skin-tone modifiers, and Mastodon custom emoji shortcodes
such as ``:blobcat:``. A letter or digit immediately followed by the emoji presentation selector
U+FE0F or the combining keycap U+20E3 is an emoji (keycap one, information source), not text.
"""

import re
import unicodedata
from collections.abc import Mapping

__all__ = ["alt_text_missing", "attachment_needs_caption"]

# Attachment types that get captions: Mastodon's still images only. "gifv" (a looping video),
# "video", "audio" and "unknown" are skipped: a vision model sees one frame at best.
CAPTIONED_TYPES = frozenset({"image"})

EMOJI_PRESENTATION = "\ufe0f"
COMBINING_KEYCAP = "\u20e3"

# Mastodon's custom emoji shortcode (`:name:`, two or more word characters), not glued to other
# text, so "12:30" or "a:bc:d" are left alone.
CUSTOM_EMOJI = re.compile(r"(?<![\w:]):[A-Za-z0-9_]{2,}:(?![\w:])")


def _is_text_char(text: str, index: int) -> bool:
    # Keycap one is "1" + U+FE0F + U+20E3 (or "1" + U+20E3); U+2139 INFORMATION SOURCE is a letter (Ll)
    # that U+FE0F turns into an emoji: a letter or digit followed by either is not text.
    return unicodedata.category(text[index])[0] in "LN" and not text.startswith(
        (EMOJI_PRESENTATION, COMBINING_KEYCAP), index + 1
    )


def alt_text_missing(description: str | None) -> bool:
    """True when the description is null, blank, or has no letter or digit in any script."""
    if description is None:
        return True
    text = CUSTOM_EMOJI.sub(" ", str(description))
    return not any(_is_text_char(text, index) for index in range(len(text)))


def attachment_needs_caption(attachment: Mapping | None) -> bool:
    """True for a still image with a URL and missing alt text; False for anything else.

    `attachment` is one entry of a status's `media_attachments` as the Mastodon API returns it
    (Mastodon, Pixelfed, Pleroma/Akkoma and GoToSocial share the shape). Without a `url` there is
    nothing to download yet (Mastodon leaves it null while the media is still processing).
    """
    if not isinstance(attachment, Mapping):
        return False
    media_type = attachment.get("type")
    if not isinstance(media_type, str) or media_type.strip().lower() not in CAPTIONED_TYPES:
        return False
    url = attachment.get("url")
    if not isinstance(url, str) or not url.strip():
        return False
    return alt_text_missing(attachment.get("description"))
