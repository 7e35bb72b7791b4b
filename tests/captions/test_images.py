"""Image download against a real local HTTP server, normalisation on Pillow-made images, storage."""

import hashlib
import io
import os
import struct
import time
import zlib

import httpx
import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageFile, features
from werkzeug import Response

from captions.images import (
    DownloadedImage,
    ImageRejected,
    ImageUnavailable,
    download_image,
    normalise_image,
    store_image,
)

# --- image makers --------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(size=(200, 100), color="red", **params) -> bytes:
    return encode(Image.new("RGB", size, color), "JPEG", **params)


def noise_jpeg(size=(400, 300)) -> bytes:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    return encode(image, "JPEG", quality=95)


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_with_header_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims another size: a decompression bomb's header."""
    data = bytearray(encode(Image.new("RGB", (64, 64), "white"), "PNG"))
    # Signature (8) + length (4) + b"IHDR" (4), then width and height, then the chunk's CRC.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


# --- download ------------------------------------------------------------------------------------


def test_download_returns_bytes_type_and_url(httpserver):
    body = jpeg()
    httpserver.expect_request("/media/cat.jpg", headers={"Accept": "image/*"}).respond_with_data(
        body, content_type="image/jpeg"
    )
    url = httpserver.url_for("/media/cat.jpg")
    assert download_image(url=url) == DownloadedImage(data=body, content_type="image/jpeg", final_url=url)


def test_download_follows_redirects_and_reports_the_final_url(httpserver):
    body = jpeg()
    httpserver.expect_request("/short").respond_with_response(
        Response(status=302, headers={"Location": "/hop"})
    )
    httpserver.expect_request("/hop").respond_with_response(
        Response(status=301, headers={"Location": httpserver.url_for("/media/cat.jpg")})
    )
    httpserver.expect_request("/media/cat.jpg").respond_with_data(body, content_type="image/jpeg")
    result = download_image(url=httpserver.url_for("/short"))
    assert result.data == body
    assert result.final_url == httpserver.url_for("/media/cat.jpg")


def test_five_redirects_are_followed_six_are_not(httpserver):
    for hop in range(6):
        httpserver.expect_request(f"/r{hop}").respond_with_response(
            Response(status=302, headers={"Location": f"/r{hop + 1}"})
        )
    httpserver.expect_request("/r6").respond_with_data(jpeg(), content_type="image/jpeg")
    assert download_image(url=httpserver.url_for("/r1")).final_url == httpserver.url_for("/r6")
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/r0"))
    assert caught.value.transient is False
    assert "redirected more than 5 times" in caught.value.reason


def test_a_redirect_loop_stops(httpserver):
    httpserver.expect_request("/a").respond_with_response(Response(status=302, headers={"Location": "/b"}))
    httpserver.expect_request("/b").respond_with_response(Response(status=307, headers={"Location": "/a"}))
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/a"))
    assert caught.value.transient is False
    assert len(httpserver.log) == 6  # the first request and five redirects


def test_a_redirect_to_another_scheme_is_refused(httpserver):
    httpserver.expect_request("/a").respond_with_response(
        Response(status=302, headers={"Location": "file:///etc/passwd"})
    )
    with pytest.raises(ImageRejected, match="Only http and https"):
        download_image(url=httpserver.url_for("/a"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example/cat.jpg",
        "file:///etc/passwd",
        "data:image/png;base64,iVBORw0KGgo=",
        "cat.jpg",
        "",
    ],
)
def test_only_http_and_https_urls_are_downloaded(url, httpserver):
    with pytest.raises(ImageRejected):
        download_image(url=url)
    assert httpserver.log == []


@pytest.mark.parametrize("status", [404, 410])
def test_gone_is_permanent(httpserver, status):
    httpserver.expect_request("/gone.jpg").respond_with_data("Not Found", status=status)
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/gone.jpg"))
    assert (caught.value.transient, caught.value.status) == (False, status)
    assert f"HTTP {status}" in caught.value.reason


def test_forbidden_is_permanent(httpserver):
    httpserver.expect_request("/private.jpg").respond_with_data("Forbidden", status=403)
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/private.jpg"))
    assert caught.value.transient is False


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_are_transient(httpserver, status):
    httpserver.expect_request("/cat.jpg").respond_with_data("oops", status=status)
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/cat.jpg"))
    assert (caught.value.transient, caught.value.status) == (True, status)


def test_429_is_transient_and_carries_retry_after(httpserver):
    httpserver.expect_request("/cat.jpg").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/cat.jpg"))
    assert caught.value.transient is True
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert "rate-limiting" in caught.value.reason


@pytest.mark.timing
def test_a_server_slower_than_the_timeout_is_transient(httpserver):
    def slow(_request):
        time.sleep(0.4)
        return Response(jpeg(), content_type="image/jpeg")

    httpserver.expect_request("/slow.jpg").respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/slow.jpg"), timeout=0.1)
    assert time.monotonic() - started < 0.35
    assert caught.value.transient is True
    assert "0.1 s" in caught.value.reason


def test_a_trickling_body_hits_the_overall_timeout(httpserver):
    def trickle(_request):
        def chunks():
            for _ in range(8):
                time.sleep(0.05)
                yield b"x" * 100

        return Response(chunks(), content_type="image/jpeg")

    httpserver.expect_request("/trickle.jpg").respond_with_handler(trickle)
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url=httpserver.url_for("/trickle.jpg"), timeout=0.15)
    assert caught.value.transient is True


def test_an_unreachable_server_is_transient():
    with pytest.raises(ImageUnavailable) as caught:
        download_image(url="http://127.0.0.1:9/cat.jpg", timeout=1)  # the discard port: nothing listens
    assert caught.value.transient is True


def test_oversize_with_content_length_is_refused(httpserver):
    httpserver.expect_request("/big.jpg").respond_with_data(b"\xff" * 5000, content_type="image/jpeg")
    with pytest.raises(ImageRejected, match="over the limit"):
        download_image(url=httpserver.url_for("/big.jpg"), max_bytes=4096)


def test_oversize_without_content_length_is_refused_while_streaming(httpserver):
    sent = []

    def endless(_request):
        def chunks():
            for _ in range(100):
                sent.append(1)
                yield b"\xff" * 1024

        return Response(chunks(), content_type="image/jpeg")

    httpserver.expect_request("/stream.jpg").respond_with_handler(endless)
    probe = httpx.get(httpserver.url_for("/stream.jpg"))
    assert "content-length" not in probe.headers  # the server really sends no length
    sent.clear()
    with pytest.raises(ImageRejected, match="larger than the limit"):
        download_image(url=httpserver.url_for("/stream.jpg"), max_bytes=4096)


def test_exactly_max_bytes_is_accepted(httpserver):
    httpserver.expect_request("/edge.jpg").respond_with_data(b"\xff" * 4096, content_type="image/jpeg")
    assert len(download_image(url=httpserver.url_for("/edge.jpg"), max_bytes=4096).data) == 4096


def test_an_html_page_is_not_an_image(httpserver):
    httpserver.expect_request("/login").respond_with_data("<html>Sign in</html>", content_type="text/html")
    with pytest.raises(ImageRejected, match="text/html"):
        download_image(url=httpserver.url_for("/login"))


def test_a_shared_client_is_used_and_left_open(httpserver):
    httpserver.expect_request("/a").respond_with_response(Response(status=302, headers={"Location": "/b"}))
    httpserver.expect_request("/b").respond_with_data(jpeg(), content_type="image/jpeg")
    with httpx.Client(follow_redirects=True, headers={"User-Agent": "shared-pool"}) as client:
        result = download_image(url=httpserver.url_for("/a"), client=client)
        assert result.final_url == httpserver.url_for("/b")
        assert not client.is_closed
    assert all(request.headers["User-Agent"] == "shared-pool" for request, _response in httpserver.log)


# --- normalise -----------------------------------------------------------------------------------


def test_a_small_jpeg_is_kept_at_its_size():
    result = normalise_image(data=jpeg((300, 200)))
    assert (result.mime_type, result.width, result.height) == ("image/jpeg", 300, 200)
    assert (result.original_format, result.original_width, result.original_height) == ("JPEG", 300, 200)
    assert reopen(result.data).format == "JPEG"


def test_exif_orientation_6_is_applied():
    image = Image.new("RGB", (200, 100), "blue")
    image.paste((255, 0, 0), (0, 0, 100, 100))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    result = normalise_image(data=encode(image, "JPEG", exif=exif))
    assert (result.width, result.height) == (100, 200)
    assert (result.original_width, result.original_height) == (200, 100)
    upright = reopen(result.data)
    red, _green, blue = upright.getpixel((50, 20))  # the left half is now on top
    assert red > 200 and blue < 60
    red, _green, blue = upright.getpixel((50, 180))
    assert blue > 200 and red < 60
    assert 0x0112 not in upright.getexif()


def test_a_large_image_is_downscaled_to_1024_on_the_longest_side():
    result = normalise_image(data=jpeg((3000, 2000)))
    assert (result.width, result.height) == (1024, 683)
    assert (result.original_width, result.original_height) == (3000, 2000)
    assert reopen(result.data).size == (1024, 683)


def test_a_tall_png_is_downscaled_by_its_height():
    result = normalise_image(data=encode(Image.new("RGB", (600, 2400), "green"), "PNG"))
    assert (result.mime_type, result.width, result.height) == ("image/jpeg", 256, 1024)
    assert result.original_format == "PNG"


def test_max_side_is_a_parameter():
    result = normalise_image(data=jpeg((800, 400)), max_side=200)
    assert (result.width, result.height) == (200, 100)


@pytest.mark.parametrize("size", [(40, 40), (49, 500), (500, 49)])
def test_a_tiny_image_is_refused(size):
    with pytest.raises(ImageRejected, match="smaller than 50 pixels"):
        normalise_image(data=jpeg(size))


def test_an_image_of_exactly_min_side_is_accepted():
    assert normalise_image(data=jpeg((50, 50))).width == 50


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not an image at all",
        os.urandom(2048),
        b"\x89PNG\r\n\x1a\n" + os.urandom(200),
        b"\xff\xd8\xff\xe0" + os.urandom(200),
    ],
    ids=["empty", "text", "random", "png-signature-then-garbage", "jpeg-signature-then-garbage"],
)
def test_corrupt_bytes_are_refused(data):
    with pytest.raises(ImageRejected):
        normalise_image(data=data)


def test_a_truncated_jpeg_is_refused():
    data = noise_jpeg()
    with pytest.raises(ImageRejected, match="truncated"):
        normalise_image(data=data[: len(data) // 2])


def test_a_png_with_transparency_stays_png():
    image = Image.new("RGBA", (120, 80), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 60, 80))
    result = normalise_image(data=encode(image, "PNG"))
    assert result.mime_type == "image/png"
    reopened = reopen(result.data)
    assert reopened.format == "PNG" and reopened.mode == "RGBA"
    assert reopened.getpixel((10, 10))[3] == 0 and reopened.getpixel((100, 10))[3] == 255


def test_an_opaque_rgba_png_becomes_jpeg():
    result = normalise_image(data=encode(Image.new("RGBA", (120, 80), (0, 128, 0, 255)), "PNG"))
    assert result.mime_type == "image/jpeg"
    assert reopen(result.data).mode == "RGB"


def test_grey_with_alpha_stays_png_in_rgba():
    image = Image.new("LA", (100, 100), (128, 0))
    image.paste((200, 255), (50, 0, 100, 100))
    result = normalise_image(data=encode(image, "PNG"))
    assert result.mime_type == "image/png"
    assert reopen(result.data).mode == "RGBA"


def test_a_cmyk_jpeg_becomes_an_rgb_jpeg():
    cmyk = Image.new("CMYK", (120, 80), (0, 255, 255, 0))  # full magenta and yellow: red
    assert reopen(encode(cmyk, "JPEG")).mode == "CMYK"
    result = normalise_image(data=encode(cmyk, "JPEG"))
    assert result.mime_type == "image/jpeg"
    reopened = reopen(result.data)
    assert reopened.mode == "RGB"
    red, green, blue = reopened.getpixel((60, 40))
    assert red > 200 and green < 60 and blue < 60


def test_a_palette_image_becomes_rgb():
    image = Image.new("RGB", (100, 100), "orange").convert("P", palette=Image.Palette.ADAPTIVE)
    assert image.mode == "P"
    result = normalise_image(data=encode(image, "GIF"))
    assert (result.mime_type, result.original_format) == ("image/jpeg", "GIF")
    assert reopen(result.data).mode == "RGB"


def test_a_palette_image_with_a_transparent_index_stays_png():
    image = Image.new("P", (100, 100), 0)
    image.putpalette([255, 255, 255, 0, 0, 255] + [0] * 762)
    image.paste(1, (50, 0, 100, 100))
    result = normalise_image(data=encode(image, "PNG", transparency=0))
    assert result.mime_type == "image/png"
    reopened = reopen(result.data)
    assert reopened.getpixel((10, 10))[3] == 0 and reopened.getpixel((90, 10)) == (0, 0, 255, 255)


def test_a_16_bit_grey_png_keeps_its_tones():
    image = Image.new("I;16", (100, 100), 32768)
    result = normalise_image(data=encode(image, "PNG"))
    value = reopen(result.data).getpixel((50, 50))
    assert all(120 <= channel <= 136 for channel in value)


def test_an_animated_gif_uses_its_first_frame():
    frames = [Image.new("RGB", (80, 80), color) for color in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    result = normalise_image(data=data)
    red, _green, blue = reopen(result.data).getpixel((40, 40))
    assert red > 200 and blue < 60


def test_webp_is_read():
    result = normalise_image(data=encode(Image.new("RGB", (120, 90), "teal"), "WEBP"))
    assert (result.original_format, result.mime_type) == ("WEBP", "image/jpeg")


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")
def test_avif_is_read_when_pillow_supports_it():
    result = normalise_image(data=encode(Image.new("RGB", (120, 90), "teal"), "AVIF"))
    assert (result.original_format, result.mime_type) == ("AVIF", "image/jpeg")


def test_heic_without_a_plugin_is_refused_by_name():
    if "HEIF" in Image.OPEN:
        pytest.skip("a HEIF plugin is installed here")
    heic_header = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + os.urandom(64)
    with pytest.raises(ImageRejected, match="HEIC/HEIF images are not supported"):
        normalise_image(data=heic_header)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"></svg>', "SVG"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n", "PostScript/EPS"),
        (b"%PDF-1.7\n", "PDF"),
    ],
)
def test_formats_that_are_not_read_are_named(data, name):
    with pytest.raises(ImageRejected, match=name):
        normalise_image(data=data)


def test_exif_and_gps_are_not_passed_on():
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPS info
    result = normalise_image(data=encode(Image.new("RGB", (100, 100), "grey"), "JPEG", exif=exif))
    assert dict(reopen(result.data).getexif()) == {}


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_a_decompression_bomb_header_is_refused_without_decoding(no_decoding):
    with pytest.raises(ImageRejected) as caught:
        normalise_image(data=png_with_header_size(50_000, 50_000))  # 2.5 G pixels
    assert "pixels" in caught.value.reason and "not decoded" in caught.value.reason


def test_just_over_max_pixels_is_refused_without_decoding(no_decoding):
    with pytest.raises(ImageRejected) as caught:
        normalise_image(data=png_with_header_size(10_001, 10_000))
    assert caught.value.reason == (
        "The image is 10001x10000 pixels, more than the limit of 100,000,000 pixels; it was not decoded."
    )


def test_max_pixels_is_a_parameter():
    with pytest.raises(ImageRejected, match="more than the limit of 10,000 pixels"):
        normalise_image(data=jpeg((200, 100)), max_pixels=10_000)


def test_a_jpeg_is_decoded_at_reduced_scale_when_large():
    """libjpeg's draft mode keeps memory low; the output is the same size either way."""
    result = normalise_image(data=jpeg((4096, 3072)))
    assert (result.width, result.height) == (1024, 768)


# --- store ---------------------------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def test_store_saves_under_a_content_hash(media_root):
    data = normalise_image(data=jpeg()).data
    key = store_image(data=data, mime_type="image/jpeg", key_prefix="conn-7")
    assert key == f"captions/conn-7/{hashlib.sha256(data).hexdigest()}.jpg"
    assert (media_root / key).read_bytes() == data
    with default_storage.open(key) as stored:
        assert stored.read() == data


def test_store_is_idempotent(media_root, monkeypatch):
    data = b"\x89PNG fake but stored as given"
    first = store_image(data=data, mime_type="image/png", key_prefix="conn-7")
    saves = []
    original_save = default_storage.save
    monkeypatch.setattr(default_storage, "save", lambda *a, **k: saves.append(a) or original_save(*a, **k))
    assert store_image(data=data, mime_type="image/png", key_prefix="conn-7") == first
    assert saves == []
    assert first.endswith(".png")
    assert len(list((media_root / "captions" / "conn-7").iterdir())) == 1


def test_different_bytes_get_different_keys(media_root):
    one = store_image(data=b"one", mime_type="image/jpeg", key_prefix="u1/c2")
    two = store_image(data=b"two", mime_type="image/jpeg", key_prefix="u1/c2")
    assert one != two
    assert one.startswith("captions/u1/c2/")


def test_a_concurrent_duplicate_save_keeps_one_file(media_root, monkeypatch):
    data = b"raced"
    key = store_image(data=data, mime_type="image/jpeg", key_prefix="race")
    real_exists = default_storage.exists
    calls = []

    def exists(name):
        # store_image's own check misses the file another worker saved a moment ago.
        calls.append(name)
        return False if len(calls) == 1 else real_exists(name)

    monkeypatch.setattr(default_storage, "exists", exists)
    assert store_image(data=data, mime_type="image/jpeg", key_prefix="race") == key
    assert len(calls) > 1  # the storage did look for a free name and saved a second copy
    assert [path.name for path in (media_root / "captions" / "race").iterdir()] == [key.rsplit("/", 1)[1]]


@pytest.mark.parametrize("mime_type", ["image/gif", "image/webp", "text/plain", ""])
def test_store_only_takes_normalised_types(media_root, mime_type):
    with pytest.raises(ValueError, match="Only normalised JPEG or PNG"):
        store_image(data=b"x", mime_type=mime_type, key_prefix="conn")


@pytest.mark.parametrize("prefix", ["", "../escape", "/absolute", "a//b", "a/../b", "spaces here", "trail/"])
def test_store_refuses_unsafe_prefixes(media_root, prefix):
    with pytest.raises(ValueError, match="Invalid key prefix"):
        store_image(data=b"x", mime_type="image/jpeg", key_prefix=prefix)


def test_store_refuses_empty_data(media_root):
    with pytest.raises(ValueError):
        store_image(data=b"", mime_type="image/jpeg", key_prefix="conn")
