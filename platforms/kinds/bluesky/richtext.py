"""Bluesky rich text: the facets of a post's text (links, mentions, hashtags), record keys (TIDs)
and language tags.

A facet marks a span of the text by UTF-8 byte offsets (`byteStart` inclusive, `byteEnd`
exclusive), never by character or UTF-16 index: "Привет 👋 #тест" puts the hashtag at byte 16.
Detection follows the rules of Bluesky's own client library (`@atproto/api` RichText
`detectFacets`): a mention or link starts the text or follows white space or "("; a link loses
one trailing punctuation mark and an unbalanced ")"; a hashtag follows white space, is not all
digits, loses its trailing punctuation and has at most 64 graphemes. Links are the explicit
http(s) ones only (a bare "example.com" stays plain text). Mentions carry a handle here; the
publisher resolves each to its DID and drops the ones that do not resolve.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import regex

MENTION_RE = regex.compile(r"(^|\s|\()(@)([a-zA-Z0-9.-]+)(\b)")
LINK_RE = regex.compile(r"(^|\s|\()(https?://\S+)", regex.IGNORECASE)
_TAG_STOP = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
TAG_RE = regex.compile(
    rf"(^|\s)[#\uff03]((?!\ufe0f)[^\s{_TAG_STOP}]*[^\d\s\p{{P}}{_TAG_STOP}]+[^\s{_TAG_STOP}]*)?"
)
TRAILING_PUNCTUATION_RE = regex.compile(r"\p{P}+$")
# atproto handle syntax: dot-separated labels, the last one not starting with a digit.
HANDLE_RE = regex.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
MAX_TAG_GRAPHEMES = 64
MAX_HANDLE_CHARS = 253

LANGUAGE_TAG_RE = regex.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$|^i(-[a-zA-Z0-9]{1,8})+$")

FACET = "app.bsky.richtext.facet"


@dataclass(frozen=True)
class Span:
    """One detected facet: where it is (UTF-8 bytes) and what it is."""

    byte_start: int
    byte_end: int
    kind: str  # "link", "mention", "tag"
    value: str  # the URI, the handle (before resolution) or the tag without "#"

    def facet(self, *, did: str | None = None) -> dict:
        if self.kind == "link":
            feature = {"$type": f"{FACET}#link", "uri": self.value}
        elif self.kind == "mention":
            feature = {"$type": f"{FACET}#mention", "did": did}
        else:
            feature = {"$type": f"{FACET}#tag", "tag": self.value}
        return {
            "$type": FACET,
            "index": {"byteStart": self.byte_start, "byteEnd": self.byte_end},
            "features": [feature],
        }


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _span(text: str, start: int, end: int, kind: str, value: str) -> Span:
    return Span(_byte_offset(text, start), _byte_offset(text, end), kind, value)


def is_handle(value: str) -> bool:
    return len(value) <= MAX_HANDLE_CHARS and HANDLE_RE.match(value) is not None


def detect(text: str) -> list[Span]:
    """The facets of `text`, in order of where they start."""
    spans: list[Span] = []
    for match in MENTION_RE.finditer(text):
        handle = match.group(3).rstrip(".")
        if not is_handle(handle):
            continue  # "@home" or an e-mail-like fragment: not a handle
        start = match.start(2)  # the "@"
        spans.append(_span(text, start, start + 1 + len(handle), "mention", handle.lower()))
    for match in LINK_RE.finditer(text):
        uri = match.group(2)
        start = match.start(2)
        end = match.end(2)
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        spans.append(_span(text, start, end, "link", uri))
    for match in TAG_RE.finditer(text):
        tag = match.group(2)
        if not tag:
            continue
        tag = TRAILING_PUNCTUATION_RE.sub("", tag.strip())
        if not tag or len(regex.findall(r"\X", tag)) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start(2) - 1  # the "#"
        spans.append(_span(text, start, start + 1 + len(tag), "tag", tag))
    return sorted(spans, key=lambda span: span.byte_start)


# Record keys ----------------------------------------------------------------------------------

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable
TID_RE = regex.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
# Deterministic TIDs fall in the 2^45 microseconds (about 13 months) after 2023-01-01: always in
# the past, so no PDS sees a record key from the future.
TID_EPOCH_US = 1_672_531_200_000_000
TID_WINDOW_US = 2**45


def tid_from_key(key: str) -> str:
    """A valid TID (13 base32-sortable characters: 53 bits of microseconds, 10 of clock id)
    derived from an idempotency key alone, so every retry of one publishing job, in any worker,
    writes the same record key and a second post is impossible."""
    number = int.from_bytes(hashlib.sha256(f"socialdesk bluesky rkey {key}".encode()).digest()[:8], "big")
    timestamp = TID_EPOCH_US + (number >> 10) % TID_WINDOW_US
    value = (timestamp << 10) | (number & 0x3FF)
    return "".join(TID_ALPHABET[(value >> (5 * position)) & 31] for position in reversed(range(13)))


def language_tag_problem(tag: object) -> str | None:
    """Why a `langs` entry is not a BCP-47 language tag ("en", "pt-BR"), or None."""
    if not isinstance(tag, str) or not LANGUAGE_TAG_RE.match(tag):
        return f'{tag!r} is not a language tag such as "en" or "pt-BR".'
    return None
