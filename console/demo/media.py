"""The demo instance's pictures: simple scenes drawn with Pillow, the same bytes on every run.

Each scene is different enough (colours, shapes, size, orientation) that the builtin caption
backend, which measures an image, writes a different description for each, and each is large
enough (at least 400 px a side) to pass the captions pipeline's minimum size.
"""

import io
import random
import threading
from collections.abc import Callable

from PIL import Image, ImageDraw

PREVIEW_SIDE = 320

Scene = Callable[[ImageDraw.ImageDraw, int, int], None]


def _vertical_gradient(draw: ImageDraw.ImageDraw, width: int, height: int, top, bottom) -> None:
    for y in range(height):
        t = y / max(height - 1, 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)


def _sunset(draw, width, height):
    _vertical_gradient(draw, width, height, (255, 140, 60), (120, 40, 110))
    draw.ellipse([width * 0.38, height * 0.45, width * 0.62, height * 0.77], fill=(255, 220, 90))
    draw.polygon(
        [
            (0, height),
            (0, height * 0.7),
            (width * 0.3, height * 0.55),
            (width * 0.6, height * 0.75),
            (width, height * 0.6),
            (width, height),
        ],
        fill=(40, 30, 60),
    )


def _night_sky(draw, width, height):
    _vertical_gradient(draw, width, height, (10, 15, 50), (40, 50, 110))
    stars = random.Random(7)  # a fixed seed: the same picture every run
    for _ in range(120):
        x, y = stars.randrange(width), stars.randrange(int(height * 0.8))
        size = stars.choice((1, 1, 2, 3))
        draw.ellipse([x, y, x + size, y + size], fill=(255, 255, 230))
    draw.ellipse([width * 0.7, height * 0.1, width * 0.85, height * 0.1 + width * 0.15], fill=(245, 245, 210))
    draw.rectangle([0, height * 0.85, width, height], fill=(15, 20, 30))


def _bar_chart(draw, width, height):
    draw.rectangle([0, 0, width, height], fill=(250, 250, 245))
    draw.line([(60, 40), (60, height - 60), (width - 40, height - 60)], fill=(40, 40, 40), width=3)
    values = (0.35, 0.6, 0.45, 0.8, 0.7, 0.95)
    colours = ((66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188), (0, 172, 193))
    slot = (width - 120) / len(values)
    for index, (value, colour) in enumerate(zip(values, colours, strict=True)):
        left = 80 + index * slot
        top = (height - 60) - value * (height - 120)
        draw.rectangle([left, top, left + slot * 0.7, height - 62], fill=colour)


def _circles(draw, width, height):
    draw.rectangle([0, 0, width, height], fill=(245, 235, 220))
    palette = ((230, 57, 70), (29, 53, 87), (69, 123, 157), (168, 218, 220), (241, 250, 238))
    for index in range(9):
        radius = 40 + index * 18
        cx = width * (0.2 + 0.08 * index)
        cy = height * (0.3 + 0.05 * (index % 4))
        draw.ellipse(
            [cx - radius, cy - radius, cx + radius, cy + radius], outline=palette[index % 5], width=8
        )


def _house(draw, width, height):
    _vertical_gradient(draw, width, height, (135, 206, 235), (200, 235, 255))
    draw.rectangle([0, height * 0.75, width, height], fill=(90, 160, 70))
    draw.rectangle([width * 0.3, height * 0.45, width * 0.7, height * 0.78], fill=(200, 80, 60))
    draw.polygon(
        [(width * 0.25, height * 0.47), (width * 0.5, height * 0.25), (width * 0.75, height * 0.47)],
        fill=(110, 60, 40),
    )
    draw.rectangle([width * 0.46, height * 0.6, width * 0.54, height * 0.78], fill=(80, 50, 30))
    draw.rectangle([width * 0.35, height * 0.52, width * 0.42, height * 0.6], fill=(255, 250, 200))
    draw.rectangle([width * 0.58, height * 0.52, width * 0.65, height * 0.6], fill=(255, 250, 200))
    draw.ellipse(
        [width * 0.05, height * 0.05, width * 0.17, height * 0.05 + width * 0.12], fill=(255, 230, 0)
    )


def _tree(draw, width, height):
    draw.rectangle([0, 0, width, height], fill=(225, 240, 250))
    draw.rectangle([0, height * 0.85, width, height], fill=(120, 90, 60))
    draw.rectangle([width * 0.46, height * 0.5, width * 0.54, height * 0.86], fill=(100, 65, 35))
    for dx, dy, r in ((0, 0.3, 0.22), (-0.15, 0.38, 0.16), (0.15, 0.38, 0.16), (0, 0.18, 0.15)):
        cx, cy, radius = width * (0.5 + dx), height * dy, width * r
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(40, 140, 60))


def _sea_boat(draw, width, height):
    _vertical_gradient(draw, width, int(height * 0.55), (180, 215, 240), (230, 240, 250))
    for y in range(int(height * 0.55), height):
        t = (y - height * 0.55) / (height * 0.45)
        draw.line([(0, y), (width, y)], fill=(20, round(90 - 40 * t), round(160 - 60 * t)))
    draw.polygon(
        [
            (width * 0.35, height * 0.6),
            (width * 0.65, height * 0.6),
            (width * 0.6, height * 0.68),
            (width * 0.4, height * 0.68),
        ],
        fill=(120, 60, 30),
    )
    draw.line([(width * 0.5, height * 0.6), (width * 0.5, height * 0.3)], fill=(60, 40, 20), width=4)
    draw.polygon(
        [(width * 0.5, height * 0.32), (width * 0.5, height * 0.57), (width * 0.64, height * 0.57)],
        fill=(250, 250, 250),
    )


def _mountains(draw, width, height):
    _vertical_gradient(draw, width, height, (170, 200, 230), (240, 240, 250))
    draw.polygon([(0, height), (width * 0.3, height * 0.3), (width * 0.6, height)], fill=(90, 100, 120))
    draw.polygon(
        [(width * 0.35, height), (width * 0.7, height * 0.2), (width, height * 0.9), (width, height)],
        fill=(70, 80, 100),
    )
    draw.polygon(
        [(width * 0.7, height * 0.2), (width * 0.62, height * 0.38), (width * 0.78, height * 0.38)],
        fill=(250, 250, 255),
    )


def _stripes(draw, width, height):
    colours = ((228, 3, 3), (255, 140, 0), (255, 237, 0), (0, 128, 38), (36, 64, 142), (115, 41, 130))
    band = height / len(colours)
    for index, colour in enumerate(colours):
        draw.rectangle([0, index * band, width, (index + 1) * band], fill=colour)


def _flower(draw, width, height):
    draw.rectangle([0, 0, width, height], fill=(235, 245, 225))
    cx, cy = width / 2, height * 0.4
    draw.line([(cx, cy), (cx, height)], fill=(50, 130, 50), width=10)
    for index in range(8):
        angle_x = (-1, -0.7, 0, 0.7, 1, 0.7, 0, -0.7)[index]
        angle_y = (0, -0.7, -1, -0.7, 0, 0.7, 1, 0.7)[index]
        px, py, radius = cx + angle_x * 70, cy + angle_y * 70, 45
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=(240, 110, 170))
    draw.ellipse([cx - 35, cy - 35, cx + 35, cy + 35], fill=(250, 200, 40))


def _video_poster(draw, width, height):
    _vertical_gradient(draw, width, height, (30, 30, 35), (70, 70, 80))
    draw.polygon(
        [(width * 0.42, height * 0.35), (width * 0.42, height * 0.65), (width * 0.62, height * 0.5)],
        fill=(255, 255, 255),
    )


# name -> (width, height, scene). The names are what the demo content refers to.
SCENES: dict[str, tuple[int, int, Scene]] = {
    "sunset": (800, 600, _sunset),
    "night_sky": (800, 533, _night_sky),
    "bar_chart": (720, 480, _bar_chart),
    "circles": (640, 640, _circles),
    "house": (800, 600, _house),
    "tree": (480, 720, _tree),
    "sea_boat": (960, 540, _sea_boat),
    "mountains": (800, 450, _mountains),
    "stripes": (600, 400, _stripes),
    "flower": (500, 500, _flower),
    "video_poster": (640, 360, _video_poster),
}

_cache: dict[tuple[str, str], bytes] = {}
_cache_lock = threading.Lock()


def scene_size(name: str) -> tuple[int, int]:
    width, height, _ = SCENES[name]
    return width, height


def scene_png(name: str, *, variant: str = "original") -> bytes:
    """The PNG of a scene: "original" at full size, "small" at most PREVIEW_SIDE px long."""
    if variant not in ("original", "small"):
        raise ValueError("variant is 'original' or 'small'")
    key = (name, variant)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    width, height, scene = SCENES[name]
    image = Image.new("RGB", (width, height), (255, 255, 255))
    scene(ImageDraw.Draw(image), width, height)
    if variant == "small":
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    data = buffer.getvalue()
    with _cache_lock:
        _cache[key] = data
    return data
