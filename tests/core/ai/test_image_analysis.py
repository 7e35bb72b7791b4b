"""Measurements of small Pillow-made images; the image builders are shared with test_builtin."""

import io
import json
import random

import pytest
from PIL import Image, ImageDraw, ImageFont

from core.ai.base import AIError, AIInvalidImage
from core.ai.image_analysis import ANALYSIS_SIZE, analyse_image, colour_name

LIGHT_BLUE = (80, 160, 255)


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def blue_square() -> Image.Image:
    return Image.new("RGB", (300, 300), LIGHT_BLUE)


def dark_noise_portrait() -> Image.Image:
    """Photo-like: dark, noisy, no structure."""
    rnd = random.Random(4)
    pixels = bytes(rnd.randint(0, 80) for _ in range(200 * 300 * 3))
    return Image.frombytes("RGB", (200, 300), pixels)


def text_image() -> Image.Image:
    img = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    lines = [
        "The quick brown fox jumps over",
        "the lazy dog. Pack my box with",
        "five dozen liquor jugs, said",
        "the sphinx of black quartz.",
        "Judge my vow and be done.",
    ]
    for index, line in enumerate(lines):
        draw.text((20, 20 + index * 40), line, fill="black", font=font)
    return img


def bar_chart() -> Image.Image:
    img = Image.new("RGB", (500, 400), "white")
    draw = ImageDraw.Draw(img)
    draw.line((40, 20, 40, 370), fill="black", width=2)
    draw.line((40, 370, 480, 370), fill="black", width=2)
    bars = [(250, "#1f77b4"), (180, "#ff7f0e"), (300, "#2ca02c"), (120, "#d62728"), (220, "#9467bd")]
    for index, (height, colour) in enumerate(bars):
        left = 70 + index * 80
        draw.rectangle((left, 370 - height, left + 50, 369), fill=colour)
    return img


def test_bright_blue_square():
    m = analyse_image(encode(blue_square()))
    assert (m.width, m.height, m.orientation, m.aspect_ratio) == (300, 300, "square", 1.0)
    assert m.brightness_level == "bright"
    assert m.dominant_colours[0].name == "blue"
    assert m.dominant_colours[0].share == pytest.approx(1.0)
    assert m.mostly_flat and m.distinct_colours == 1
    assert m.edge_density == 0.0
    assert m.text_likeness == 0.0
    assert m.colour_level in {"colourful", "vivid"}
    assert not m.has_transparency


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_dark_noisy_portrait_photo(fmt):
    m = analyse_image(encode(dark_noise_portrait(), fmt))
    assert (m.width, m.height, m.orientation, m.aspect_ratio) == (200, 300, "portrait", 0.67)
    assert m.brightness_level == "dark"
    assert m.brightness < 64
    assert not m.mostly_flat
    assert m.edge_density > 0.1
    assert m.text_likeness < 0.5
    assert m.long_lines == 0


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_black_text_on_white_is_text_like(fmt):
    m = analyse_image(encode(text_image(), fmt))
    assert m.orientation == "landscape"
    assert m.text_lines == 5
    assert m.text_likeness >= 0.9
    assert m.colour_level == "greyscale"
    assert m.brightness_level == "bright"
    assert m.dominant_colours[0].name == "white"
    assert m.analysed_width == ANALYSIS_SIZE  # 600 px wide: measured on a downscaled copy


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_bar_chart_is_flat_with_long_lines_and_no_text(fmt):
    m = analyse_image(encode(bar_chart(), fmt))
    assert m.mostly_flat
    assert m.distinct_colours <= 16
    assert m.long_lines >= 3
    assert m.text_likeness < 0.5
    assert m.dominant_colours[0].name == "white"


def test_cmyk_is_measured_like_rgb():
    rgb = analyse_image(encode(text_image()))
    cmyk = analyse_image(encode(text_image().convert("CMYK"), "JPEG"))
    assert (cmyk.width, cmyk.height, cmyk.orientation) == (600, 400, "landscape")
    assert cmyk.text_lines == rgb.text_lines
    assert cmyk.brightness == pytest.approx(rgb.brightness, abs=3)
    blue = analyse_image(encode(blue_square().convert("CMYK"), "TIFF"))
    assert blue.dominant_colours[0].name == "blue"


def test_palette_image_is_measured_like_rgb():
    rgb = analyse_image(encode(bar_chart()))
    palette = analyse_image(encode(bar_chart().convert("P", palette=Image.Palette.ADAPTIVE)))
    assert palette.long_lines == rgb.long_lines
    assert palette.mostly_flat
    assert palette.brightness == pytest.approx(rgb.brightness, abs=2)


def test_palette_transparency_is_composited_on_white():
    img = Image.new("P", (120, 80), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    img.paste(1, (0, 0, 60, 80))
    m = analyse_image(encode(img, transparency=0))
    assert m.has_transparency
    assert {c.name for c in m.dominant_colours} == {"red", "white"}


def test_rgba_transparency_is_composited_on_white():
    img = Image.new("RGBA", (100, 50), (255, 0, 0, 0))
    m = analyse_image(encode(img))
    assert m.has_transparency
    assert m.dominant_colours[0].name == "white"
    assert m.brightness == pytest.approx(255, abs=1)


def test_opaque_rgba_has_no_transparency():
    assert not analyse_image(encode(Image.new("RGBA", (40, 40), (0, 0, 255, 255)))).has_transparency


def test_greyscale_and_16_bit_images():
    grey = analyse_image(encode(text_image().convert("L")))
    assert grey.colour_level == "greyscale" and grey.text_lines == 5
    ramp = Image.new("I;16", (64, 64))
    ramp.putdata([x * 1000 for x in range(64)] * 64)
    m = analyse_image(encode(ramp))
    assert m.colour_level == "greyscale"
    assert 100 < m.brightness < 160  # the used range is stretched to 0-255


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 300x200, shown 200x300
    m = analyse_image(encode(Image.new("RGB", (300, 200), "green"), "JPEG", exif=exif))
    assert (m.width, m.height, m.orientation) == (200, 300, "portrait")


@pytest.mark.parametrize(
    ("size", "orientation"),
    [((1000, 960), "square"), ((960, 1000), "square"), ((1000, 940), "landscape"), ((940, 1000), "portrait")],
)
def test_square_tolerance(size, orientation):
    assert analyse_image(encode(Image.new("L", size, 128))).orientation == orientation


def test_large_png_is_refused_before_decoding():
    with pytest.raises(AIInvalidImage, match="2000x1000 pixels"):
        analyse_image(encode(Image.new("L", (2000, 1000))), max_pixels=1_000_000)


def test_large_jpeg_is_decoded_at_reduced_scale():
    data = encode(Image.new("RGB", (4000, 3000), "orange"), "JPEG")
    m = analyse_image(data, max_pixels=1_000_000)  # 12 MP on disk; the draft decodes 500x375
    assert (m.width, m.height) == (4000, 3000)
    assert max(m.analysed_width, m.analysed_height) <= ANALYSIS_SIZE
    assert m.dominant_colours[0].name == "orange"


@pytest.mark.parametrize("data", [b"", b"not an image", encode(blue_square())[:60]])
def test_unreadable_bytes_raise_a_clear_error(data):
    with pytest.raises(AIInvalidImage, match="could not be read") as excinfo:
        analyse_image(data)
    assert isinstance(excinfo.value, AIError)


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0, 0, 0), "black"),
        ((250, 250, 250), "white"),
        ((128, 128, 128), "grey"),
        ((230, 20, 20), "red"),
        ((0, 0, 200), "blue"),
        ((30, 140, 40), "green"),
        ((255, 230, 0), "yellow"),
        ((250, 150, 30), "orange"),
        ((140, 90, 50), "brown"),
    ],
)
def test_colour_names(rgb, name):
    assert colour_name(rgb) == name


def test_measurements_are_json_ready():
    data = analyse_image(encode(bar_chart())).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["dominant_colours"][0] == {"name": "white", "share": pytest.approx(0.72, abs=0.02)}
