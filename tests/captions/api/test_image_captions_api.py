"""/api/v1/captions/image-captions/: upload an image, get its caption; types are read from content."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from accounts.models import AuditLog
from captions.models import ImageCaption
from captions.services import image_captions
from captions.services.image_captions import detect_image_type
from core.ai import AIRefused, AIUnavailable, Classification, ImageCategory
from tests.captions.api.conftest import png_bytes
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageCaptionFactory
from tests.isolation import OwnedEndpoint, assert_isolated, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/captions/image-captions/"


def encoded(fmt: str, *, size=(80, 60), **options) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (30, 120, 200)).save(buffer, fmt, **options)
    return buffer.getvalue()


def apng_bytes() -> bytes:
    frames = [PILImage.new("RGB", (80, 60), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- drawn by hand -->
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100">
  <title>Company logo</title>
  <rect x="0" y="0" width="200" height="100" fill="navy"/>
  <circle cx="50" cy="50" r="30" fill="gold"/>
  <text x="100" y="60">ACME</text>
</svg>
"""
SVG_WITH_PUBLIC_DOCTYPE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 30"><path d="M0 0L10 30"/></svg>'
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE svg [\n <!ENTITY lol "lol">\n'
    b' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&lol2;</text></svg>'
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>'
)


def upload(client, data: bytes, name: str, **extra):
    return client.post(URL, {"image": SimpleUploadedFile(name, data), **extra}, format="multipart")


def fields_of(response) -> set[str]:
    return set(response.json()["error"]["fields"])


def test_isolation():
    assert_isolated(
        OwnedEndpoint(list_url=URL, make=lambda user: ImageCaptionFactory(user=user), create={}, update=None)
    )


# --- type by content ---------------------------------------------------------------------------


def test_a_png_named_jpg_is_a_png(api, user):
    response = upload(api, png_bytes(), "holiday.jpg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["image_type"] == "png"
    assert body["user"] == user.pk
    assert body["caption_text"].endswith(".")
    row = ImageCaption.objects.get(pk=body["id"])
    assert row.image_path.startswith(f"captions/uploads/{user.pk}/")
    assert default_storage.exists(row.image_path)
    assert AuditLog.objects.filter(action="image_caption.created", resource_id=str(row.pk)).exists()


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (encoded("JPEG"), "photo.jpe", "jpe"),
        (encoded("JPEG"), "photo.JPG", "jpg"),
        (encoded("JPEG"), "photo.png", "jpeg"),
        (encoded("JPEG"), "photo", "jpeg"),
        (encoded("GIF"), "a.png", "gif"),
        (encoded("WEBP"), "a.gif", "webp"),
        (encoded("BMP"), "a.jpg", "bmp"),
        (encoded("TIFF"), "a.bmp", "tiff"),
        (encoded("AVIF"), "a.webp", "avif"),
        (apng_bytes(), "a.png", "apng"),
        (png_bytes(), "a.apng", "png"),
        (SVG, "logo.png", "svg"),
        (b"\xef\xbb\xbf" + SVG_WITH_PUBLIC_DOCTYPE, "logo.svg", "svg"),
    ],
)
def test_each_accepted_type_is_read_from_its_content(api, data, name, expected):
    response = upload(api, data, name)
    assert response.status_code == 201, response.content
    assert response.json()["image_type"] == expected


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"just some text, honestly\n", "notes.png"),
        (b"<!DOCTYPE html><html><body><svg></svg></body></html>", "page.svg"),
        (b"%PDF-1.7\n%...", "doc.jpg"),
        (b"<?xml version='1.0'?><note>hi</note>", "note.svg"),
        (png_bytes()[:40], "cut.png"),
        (BILLION_LAUGHS, "laughs.svg"),
        (EXTERNAL_ENTITY, "xxe.svg"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>', "broken.svg"),
        (encoded("PNG", size=(10, 10)), "tiny.png"),
        (encoded("PCX"), "old.png"),
    ],
)
def test_anything_else_is_a_400_on_image_and_stores_nothing(api, data, name):
    response = upload(api, data, name)
    assert response.status_code == 400, response.content
    assert fields_of(response) == {"image"}
    assert not ImageCaption.objects.exists()


def test_an_empty_or_missing_file_is_a_400(api):
    assert fields_of(upload(api, b"", "empty.png")) == {"image"}
    assert fields_of(api.post(URL, {"language": "en"}, format="multipart")) == {"image"}


def test_oversized_uploads_are_refused(api, settings):
    settings.CAPTION_UPLOAD_MAX_BYTES = 1000
    small_but_over = png_bytes(size=(120, 120), colour=(1, 2, 3))
    big = encoded("BMP", size=(300, 300))  # ~270 KB: refused from its Content-Length alone
    assert len(small_but_over) > 0
    for data in (encoded("BMP", size=(60, 60)), big):
        response = upload(api, data, "big.bmp")
        assert response.status_code == 400
        assert fields_of(response) == {"image"}
        assert "over the limit" in response.json()["error"]["fields"]["image"][0]
    assert not ImageCaption.objects.exists()


def test_a_json_body_is_unsupported(api):
    response = api.post(URL, {"image": "aGVsbG8="}, format="json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_bad_language_is_a_400(api):
    assert fields_of(upload(api, png_bytes(), "a.png", language="English please")) == {"language"}


# --- SVG ---------------------------------------------------------------------------------------


def test_svg_is_described_as_a_vector_drawing_without_rendering(api):
    body = upload(api, SVG, "logo.svg").json()
    assert body["image_type"] == "svg"
    assert body["caption_text"] == (
        'A landscape-format vector drawing (SVG) titled "Company logo"; it contains text.'
    )
    path = ImageCaption.objects.get(pk=body["id"]).image_path
    assert path.endswith(".svg")


def test_svg_with_a_backend_that_needs_pixels_is_refused_honestly(api, settings):
    settings.AI_BACKEND = "openai"
    response = upload(api, SVG, "logo.svg")
    assert response.status_code == 400
    assert "needs pixels" in response.json()["error"]["fields"]["image"][0]


def test_detect_image_type_directly():
    assert detect_image_type(data=SVG).image_type == "svg"
    assert detect_image_type(data=SVG).svg_root is not None
    assert detect_image_type(data=encoded("JPEG"), filename="x.jpeg").image_type == "jpeg"


# --- backends ----------------------------------------------------------------------------------


class FailingBackend:
    name = "fake"

    def __init__(self, error):
        self.error = error

    def classify_image(self, image, *, model=None):
        return Classification(ImageCategory.OTHER, 0.2)

    def caption_image(self, request):
        raise self.error


def stored_files() -> set[str]:
    found = set()

    def walk(folder):
        directories, files = default_storage.listdir(folder) if default_storage.exists(folder) else ([], [])
        found.update(f"{folder}/{name}" for name in files)
        for directory in directories:
            walk(f"{folder}/{directory}")

    walk("captions/uploads")
    return found


def test_an_unavailable_backend_is_a_503_and_nothing_is_stored(api, monkeypatch):
    before = stored_files()
    monkeypatch.setattr(
        image_captions, "backend_for", lambda *, user: FailingBackend(AIUnavailable("down", retry_after=7))
    )
    response = upload(api, png_bytes(), "a.png")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ai_unavailable"
    assert response["Retry-After"] == "7"
    assert not ImageCaption.objects.exists()
    assert stored_files() == before


def test_a_refusal_is_a_400_on_image(api, monkeypatch):
    monkeypatch.setattr(
        image_captions, "backend_for", lambda *, user: FailingBackend(AIRefused("content policy"))
    )
    response = upload(api, png_bytes(), "a.png")
    assert response.status_code == 400
    assert fields_of(response) == {"image"}


def test_the_openai_backend_over_http(api, settings, httpserver):
    """The same upload through a local server speaking the chat-completions wire format."""
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = httpserver.url_for("/v1")

    def completion(content):
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "llava:7b",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
        }

    path = "/v1/chat/completions"
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(completion("animal"))
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(
        completion("A grey heron standing in shallow water.")
    )
    response = upload(api, encoded("JPEG"), "heron.jpg", language="en")
    assert response.status_code == 201, response.content
    assert response.json()["caption_text"] == "A grey heron standing in shallow water."
    sent = httpserver.log[1][0].get_json()
    image_part = sent["messages"][-1]["content"][-1]
    assert image_part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "animal" in " ".join(str(part) for part in sent["messages"][-1]["content"]).lower()


# --- list, retrieve, delete --------------------------------------------------------------------


def test_list_and_retrieve_own(api, user):
    mine = ImageCaptionFactory(user=user)
    ImageCaptionFactory(user=UserFactory())
    rows = api.get(URL).json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert api.get(f"{URL}{mine.pk}/").json()["caption_text"] == mine.caption_text
    assert "image_path" not in rows[0]
    bad = api.get(URL, {"image_type": "psd"})
    assert bad.status_code == 400 and fields_of(bad) == {"image_type"}


def test_delete_removes_the_row_and_the_file(api, django_capture_on_commit_callbacks):
    body = upload(api, png_bytes(), "a.png").json()
    path = ImageCaption.objects.get(pk=body["id"]).image_path
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"{URL}{body['id']}/")
    assert response.status_code == 204
    assert not ImageCaption.objects.exists()
    assert not default_storage.exists(path)


def test_a_file_shared_by_two_captions_stays_until_the_last_goes(api, django_capture_on_commit_callbacks):
    first = upload(api, png_bytes(), "a.png").json()
    second = upload(api, png_bytes(), "b.png").json()
    path = ImageCaption.objects.get(pk=first["id"]).image_path
    assert ImageCaption.objects.get(pk=second["id"]).image_path == path
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"{URL}{first['id']}/")
    assert default_storage.exists(path)


def test_viewers_cannot_upload():
    viewer = UserFactory(role="viewer")
    response = upload(client_for(viewer), png_bytes(), "a.png")
    assert response.status_code == 403


@pytest.mark.parametrize("size", [2, 20])
def test_a_page_costs_a_fixed_number_of_queries(api, user, size, count_queries):
    ImageCaptionFactory.create_batch(size, user=user)
    response, queries = count_queries(lambda: api.get(URL, {"page_size": size}))
    assert len(response.json()["results"]) == size
    assert queries == 2, queries


def test_the_builtin_backend_describes_what_it_measured(api):
    body = upload(api, png_bytes(colour=(250, 250, 250)), "white.png").json()
    assert (
        body["caption_text"] == "A bright, black-and-white landscape-format image; it is mostly flat colour."
    )
