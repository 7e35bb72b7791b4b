"""Facet detection as Bluesky's client library does it, in UTF-8 byte offsets; record keys."""

import pytest

from platforms.kinds.bluesky.richtext import TID_ALPHABET, detect, language_tag_problem, tid_from_key


def spans(text):
    data = text.encode("utf-8")
    return [
        (span.kind, data[span.byte_start : span.byte_end].decode("utf-8"), span.value)
        for span in detect(text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See https://example.com/a.", [("link", "https://example.com/a", "https://example.com/a")]),
        ("(https://example.com/x)", [("link", "https://example.com/x", "https://example.com/x")]),
        (
            "https://en.wikipedia.org/wiki/Fish_(food)",
            [
                (
                    "link",
                    "https://en.wikipedia.org/wiki/Fish_(food)",
                    "https://en.wikipedia.org/wiki/Fish_(food)",
                )
            ],
        ),
        ("a bare example.com stays text", []),
        ("mail me@alice.test", []),  # not after white space: an address, not a mention
        ("@home is not a handle", []),
        ("hi @Alice.Test.", [("mention", "@Alice.Test", "alice.test")]),
        ("#123 is a number, #1st is a tag", [("tag", "#1st", "1st")]),
        ("#tag! and #", [("tag", "#tag", "tag")]),
        ("日本語 #東京 ✨", [("tag", "#東京", "東京")]),
        ("x#nottag", []),
    ],
)
def test_detection(text, expected):
    assert spans(text) == expected


def test_a_tag_longer_than_64_graphemes_is_no_facet():
    assert spans("#" + "a" * 64) == [("tag", "#" + "a" * 64, "a" * 64)]
    assert spans("#" + "a" * 65) == []


def test_record_keys_are_13_base32_sortable_characters_with_the_top_bit_clear():
    for n in range(200):
        key = tid_from_key(f"job-{n}")
        assert len(key) == 13
        assert set(key) <= set(TID_ALPHABET)
        value = 0
        for char in key:
            value = value * 32 + TID_ALPHABET.index(char)
        assert value < 2**63


def test_language_tags():
    assert language_tag_problem("en") is None
    assert language_tag_problem("pt-BR") is None
    assert language_tag_problem("english!") is not None
    assert language_tag_problem(3) is not None
