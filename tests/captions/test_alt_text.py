"""Missing alt text: no letter or digit in any script; emoji, symbols and punctuation are not text."""

import pytest

from captions.alt_text import alt_text_missing, attachment_needs_caption

ZWJ_FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man, woman, girl, boy
FLAG_JAPAN = "\U0001f1ef\U0001f1f5"
FLAG_SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # tag sequence
THUMBS_UP_DARK = "\U0001f44d\U0001f3ff"
RED_HEART = "\u2764\ufe0f"
KEYCAP_ONE = "1\ufe0f\u20e3"
INFORMATION = "\u2139\ufe0f"  # U+2139 is a letter (Ll) until U+FE0F makes it an emoji


@pytest.mark.parametrize(
    "description",
    [
        pytest.param(None, id="null"),
        pytest.param("", id="empty"),
        pytest.param("   \t\n\u00a0\u3000", id="whitespace"),
        pytest.param("\U0001f600\U0001f431\U0001f308", id="emoji-only"),
        pytest.param("\U0001f600 \U0001f431  \U0001f308 ", id="emoji-with-spaces"),
        pytest.param("★ → ♥ © ™ ∞ ±", id="symbols-only"),
        pytest.param("... !!! ??? --- ***", id="punctuation-only"),
        pytest.param(FLAG_JAPAN + " " + "\U0001f1fa\U0001f1e6", id="regional-indicator-flags"),
        pytest.param(FLAG_SCOTLAND, id="tag-sequence-flag"),
        pytest.param(ZWJ_FAMILY, id="zwj-family"),
        pytest.param(THUMBS_UP_DARK + "\U0001f44b\U0001f3fd", id="skin-tone-modifiers"),
        pytest.param(RED_HEART + "\u2600\ufe0f", id="variation-selectors"),
        pytest.param(KEYCAP_ONE + "#\ufe0f\u20e3", id="keycaps"),
        pytest.param("1\u20e3", id="keycap-without-variation-selector"),
        pytest.param(INFORMATION, id="letter-made-emoji"),
        pytest.param("\u200b\u200d\ufeff", id="zero-width-characters"),
        pytest.param("\ue000\uf8ff", id="private-use"),
        pytest.param(":blobcat: :ablobcatwave:", id="custom-emoji-shortcodes"),
        pytest.param("\u0301\u0308", id="combining-marks-alone"),
    ],
)
def test_missing(description):
    assert alt_text_missing(description) is True


@pytest.mark.parametrize(
    "description",
    [
        pytest.param("A cat asleep on a keyboard.", id="english"),
        pytest.param("键盘上睡着的猫", id="chinese"),
        pytest.param("キーボードの上で眠る猫", id="japanese"),
        pytest.param("ねこ", id="hiragana-only"),
        pytest.param("키보드 위에서 자는 고양이", id="korean"),
        pytest.param("قطة نائمة على لوحة المفاتيح", id="arabic"),
        pytest.param("Кошка спит на клавиатуре", id="cyrillic"),
        pytest.param("कीबोर्ड पर सोती हुई बिल्ली", id="devanagari"),
        pytest.param("חתול ישן", id="hebrew"),
        pytest.param("แมว", id="thai"),
        pytest.param("\U0001f431 A cat \U0001f431", id="text-with-emoji"),
        pytest.param("猫 \U0001f431" + ZWJ_FAMILY, id="cjk-with-emoji"),
        pytest.param("7", id="single-digit"),
        pytest.param("٣", id="arabic-indic-digit"),
        pytest.param("x", id="single-letter"),
        pytest.param(":blobcat: says hi", id="shortcode-with-text"),
        pytest.param("Meeting at 12:30:", id="time-not-a-shortcode"),
        pytest.param("  猫  ", id="cjk-padded-with-whitespace"),
    ],
)
def test_present(description):
    assert alt_text_missing(description) is False


@pytest.mark.parametrize(
    ("description", "missing"),
    [
        # Mastodon's shortcode is two or more of [A-Za-z0-9_] between colons
        # (CustomEmoji::SHORTCODE_RE_FRAGMENT): ":a:" is a letter between colons, so it is text.
        (":a:", False),
        (":ab:", True),
        (":a_1:", True),
        ("\n\n\r\n\u2028", True),  # line breaks only
        ("\n\nA cat\nasleep\n", False),  # text over several lines
        ("1 \ufe0f", False),  # the selector after a space does not turn the digit into an emoji
        ("1\ufe0f", True),
        ("x\u20e3y", False),  # the keycap takes the x; the y is still text
    ],
)
def test_boundaries_of_what_counts_as_text(description, missing):
    assert alt_text_missing(description) is missing


@pytest.mark.parametrize(
    "description",
    ["夕焼けの富士山", "日落时的富士山", "후지산의 일몰", "富士山 \U0001f305", "火"],
)
def test_cjk_alt_text_is_never_overwritten(description):
    """Vedfolnir's emoji regex matched CJK ideographs and replaced people's own alt text."""
    attachment = {"type": "image", "url": "https://img.example/1.jpg", "description": description}
    assert alt_text_missing(description) is False
    assert attachment_needs_caption(attachment) is False


def image(**overrides):
    attachment = {
        "id": "110000000000000001",
        "type": "image",
        "url": "https://files.example/media/original/1.png",
        "preview_url": "https://files.example/media/small/1.png",
        "remote_url": None,
        "description": None,
        "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
    }
    attachment.update(overrides)
    return attachment


@pytest.mark.parametrize(
    "attachment",
    [
        pytest.param(image(), id="null-description"),
        pytest.param({k: v for k, v in image().items() if k != "description"}, id="no-description-key"),
        pytest.param(image(description="  "), id="blank-description"),
        pytest.param(image(description="\U0001f4f7\u2728"), id="emoji-description"),
        pytest.param(image(type="IMAGE"), id="type-in-capitals"),
    ],
)
def test_image_without_alt_text_needs_a_caption(attachment):
    assert attachment_needs_caption(attachment) is True


@pytest.mark.parametrize(
    "attachment",
    [
        pytest.param(None, id="missing"),
        pytest.param({}, id="empty-dict"),
        pytest.param("https://files.example/1.png", id="not-a-dict"),
        pytest.param(image(type="video"), id="video"),
        pytest.param(image(type="gifv"), id="gifv"),
        pytest.param(image(type="audio"), id="audio"),
        pytest.param(image(type="unknown"), id="unknown"),
        pytest.param(image(type=None), id="type-null"),
        pytest.param({k: v for k, v in image().items() if k != "type"}, id="no-type"),
        pytest.param(image(url=None), id="image-url-null"),
        pytest.param(image(url=""), id="image-url-empty"),
        pytest.param({k: v for k, v in image().items() if k != "url"}, id="image-without-url"),
        pytest.param(image(description="A red bicycle against a wall."), id="image-with-alt-text"),
        pytest.param(image(description="自転車"), id="image-with-cjk-alt-text"),
    ],
)
def test_attachment_does_not_need_a_caption(attachment):
    assert attachment_needs_caption(attachment) is False
