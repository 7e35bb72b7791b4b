"""The ImageFX client (platforms.kinds.imagefx) and image backend against a fake of labs.google/aisandbox."""

import base64
import json

import pytest

from core.retry import RetryPolicy
from generation.backends import (
    ImageBackendAuthError,
    ImageBackendRefused,
    ImageBackendUnavailable,
    ImageRequest,
    image_backend_for,
)
from generation.backends.imagefx import ImageFXBackend
from generation.models import AspectRatio, GenerationModel
from platforms.kinds.common import PlatformAuthError, PlatformUnavailableError
from platforms.kinds.imagefx.client import ImageFXRefused
from platforms.models import PlatformType
from tests.factories.accounts import UserFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.fakes.imagefx import CAPTION_PATH, FETCH_PATH, GENERATE_PATH, SESSION_PATH, FakeImageFX


@pytest.fixture
def fake(httpserver):
    return FakeImageFX(httpserver)


def _request(**kwargs):
    options = {
        "prompt": "A lighthouse at dusk",
        "seed": 42,
        "count": 2,
        "aspect_ratio": AspectRatio.LANDSCAPE,
        "model": GenerationModel.IMAGEN_3_5,
    }
    return ImageRequest(**{**options, **kwargs})


def test_generate_sends_the_original_wire_format_and_maps_the_images(fake):
    results = fake.backend().generate(_request())

    session = fake.requests_to(SESSION_PATH)[0]
    assert session.headers["Cookie"] == fake.cookie
    call = fake.requests_to(GENERATE_PATH, "POST")[0]
    assert call.headers["Authorization"].startswith("Bearer ya29.fake-token-")
    assert fake.cookie not in call.headers.get("Cookie", "")  # the aisandbox call needs only the token

    body = json.loads(call.body)
    assert body["userInput"] == {"candidatesCount": 2, "prompts": ["A lighthouse at dusk"], "seed": 42}
    assert body["clientContext"]["tool"] == "IMAGE_FX" and body["clientContext"]["sessionId"].startswith(";")
    assert body["modelInput"] == {"modelNameType": "IMAGEN_3_5"}
    assert body["aspectRatio"] == "IMAGE_ASPECT_RATIO_LANDSCAPE"

    assert len(results) == 2
    first = results[0]
    stored = fake.images[first.media_generation_id]
    assert first.data == base64.b64decode(stored["encodedImage"])
    assert first.data.startswith(b"\x89PNG")
    assert first.seed == 42 and results[1].seed == 43
    assert first.model == "IMAGEN_3_5"
    assert first.workflow_id == stored["workflowId"]
    assert first.fingerprint_log_record_id == stored["fingerprintLogRecordId"]
    assert first.metadata["backend"] == "imagefx"


def test_session_token_is_reused_until_it_expires(fake):
    client = fake.client()
    client.generate(prompt="a", aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")
    client.generate(prompt="b", aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")
    assert fake.count("GET", SESSION_PATH) == 1
    assert client.session().access_token == client.session().access_token


def test_session_about_to_expire_is_refreshed(httpserver):
    from datetime import timedelta

    fake = FakeImageFX(httpserver, token_ttl=timedelta(seconds=30))  # inside the 60 s margin
    client = fake.client()
    client.session()
    client.session()
    assert fake.count("GET", SESSION_PATH) == 2


def test_token_rejected_early_is_refreshed_once(fake):
    client = fake.client()
    client.generate(prompt="a", aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")
    fake.revoke_tokens()
    images = client.generate(prompt="b", aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")
    assert len(images) == 1
    assert fake.count("GET", SESSION_PATH) == 2
    assert fake.count("POST", GENERATE_PATH) == 3


def test_expired_cookie_is_a_clear_auth_error_without_the_cookie(fake):
    fake.expire_cookie()
    with pytest.raises(ImageBackendAuthError) as caught:
        fake.backend().generate(_request())
    message = str(caught.value)
    assert "expired" in message and "fresh cookie" in message
    assert fake.cookie not in message and "fake-imagefx-cookie" not in message
    assert fake.count("POST", GENERATE_PATH) == 0


def test_session_refused_with_401_is_an_auth_error(fake):
    fake.fail_next(401, path=SESSION_PATH, method="GET")
    with pytest.raises(PlatformAuthError, match="HTTP 401"):
        fake.client().session()


def test_token_still_rejected_after_refresh_is_an_auth_error(fake):
    fake.fail_next(401, path=GENERATE_PATH, times=2)
    with pytest.raises(ImageBackendAuthError, match="expired or was signed out"):
        fake.backend().generate(_request())
    assert fake.count("GET", SESSION_PATH) == 2


def test_429_is_retried_after_retry_after(fake):
    fake.rate_limit_next(retry_after="3")
    results = fake.backend().generate(_request(count=1))
    assert len(results) == 1
    assert fake.sleeps == [3.0]
    assert results[0].metadata["retry"]["retries"] == 1


def test_429_that_persists_is_unavailable_with_retry_after(fake):
    fake.rate_limit_next(retry_after="7", times=3)
    with pytest.raises(ImageBackendUnavailable) as caught:
        fake.backend().generate(_request())
    assert caught.value.status == 429 and caught.value.retry_after == 7.0
    assert fake.count("POST", GENERATE_PATH) == 3


def test_5xx_on_generation_is_not_repeated_blindly(fake):
    # runImageFx uses quota and a 5xx may have run it: the caller's task re-queues instead.
    fake.fail_next(503)
    with pytest.raises(ImageBackendUnavailable, match="HTTP 503") as caught:
        fake.backend().generate(_request())
    assert caught.value.status == 503
    assert fake.count("POST", GENERATE_PATH) == 1


def test_5xx_on_session_is_retried(fake):
    fake.fail_next(500, path=SESSION_PATH, method="GET")
    assert fake.client().session().access_token
    assert fake.count("GET", SESSION_PATH) == 2
    assert len(fake.sleeps) == 1


def test_malformed_body_is_unavailable(fake):
    fake.malformed_next()
    with pytest.raises(ImageBackendUnavailable, match="not JSON") as caught:
        fake.backend().generate(_request())
    assert caught.value.retry_reason == "malformed"


def test_body_without_image_panels_is_unavailable(fake):
    fake.fail_next(200, body={"unexpected": True})
    with pytest.raises(ImageBackendUnavailable, match="no imagePanels"):
        fake.backend().generate(_request())


def test_timeout_is_unavailable(fake):
    fake.hang_next(1.5)
    backend = fake.backend(timeout=0.3, policy=RetryPolicy(attempts=1))
    with pytest.raises(ImageBackendUnavailable, match="did not answer"):
        backend.generate(_request())


def test_moderation_refusal(fake):
    fake.refuse_next()
    with pytest.raises(ImageBackendRefused, match="safety policy"):
        fake.backend().generate(_request())
    assert fake.count("POST", GENERATE_PATH) == 1


def test_all_images_withheld_is_a_refusal(fake):
    fake.withhold_next()
    with pytest.raises(ImageBackendRefused, match="withheld"):
        fake.backend().generate(_request())


def test_other_4xx_is_a_plain_error(fake):
    from generation.backends import ImageBackendError

    fake.fail_next(400, body={"error": {"code": 400, "message": "Bad seed", "status": "INVALID_ARGUMENT"}})
    with pytest.raises(ImageBackendError, match="Bad seed") as caught:
        fake.backend().generate(_request())
    assert type(caught.value) is ImageBackendError


def test_reference_is_noted_as_unused(fake):
    result = fake.backend().generate(_request(count=1, reference=b"\x89PNG..."))[0]
    assert result.metadata["reference_used"] is False


def test_fetch_media_returns_a_generated_image(fake):
    client = fake.client()
    generated = client.generate(prompt="a", seed=9, aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")[0]
    fetched = client.fetch_media(media_key=generated.media_generation_id)
    assert fetched.encoded_image == generated.encoded_image
    assert fetched.seed == 9 and fetched.prompt == "a"
    request = fake.requests_to(FETCH_PATH)[0]
    assert request.arg("input") == json.dumps(
        {"json": {"mediaKey": generated.media_generation_id}}, separators=(",", ":")
    )


def test_fetch_media_unknown_is_a_clear_error(fake):
    from platforms.kinds.common import PlatformError

    with pytest.raises(PlatformError, match="HTTP 404"):
        fake.client().fetch_media(media_key="nope")


def test_caption_sends_a_data_uri_and_returns_the_candidates(fake):
    fake.captions = ["A red square.", "A small red tile."]
    captions = fake.backend().caption(data=b"\x89PNG-bytes", mime_type="image/png", count=2)
    assert captions == ["A red square.", "A small red tile."]

    body = json.loads(fake.requests_to(CAPTION_PATH)[0].body)["json"]["captionInput"]
    assert body["candidatesCount"] == 2
    assert body["mediaInput"]["mediaCategory"] == "MEDIA_CATEGORY_SUBJECT"
    assert (
        body["mediaInput"]["rawBytes"]
        == "data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode()
    )


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda f: f.rate_limit_next(retry_after="1", path=CAPTION_PATH, times=3), ImageBackendUnavailable),
        (lambda f: f.fail_next(502, path=CAPTION_PATH, times=3), ImageBackendUnavailable),
        (lambda f: f.malformed_next(path=CAPTION_PATH, times=3), ImageBackendUnavailable),
        (lambda f: f.fail_next(200, body={"result": {}}, path=CAPTION_PATH), ImageBackendUnavailable),
        (lambda f: f.expire_cookie(), ImageBackendAuthError),
    ],
)
def test_caption_failures(fake, setup, error):
    setup(fake)
    with pytest.raises(error):
        fake.backend().caption(data=b"x", mime_type="image/png")


def test_caption_5xx_is_retried(fake):
    fake.fail_next(502, path=CAPTION_PATH)
    assert fake.backend().caption(data=b"x", mime_type="image/png")
    assert fake.count("POST", CAPTION_PATH) == 2


def test_client_errors_are_platform_errors(fake):
    fake.rate_limit_next(retry_after="2", times=3)
    with pytest.raises(PlatformUnavailableError):
        fake.client().generate(prompt="a", aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")
    fake.refuse_next()
    with pytest.raises(ImageFXRefused):
        fake.client().generate(prompt="a", aspect_ratio=AspectRatio.SQUARE, model="IMAGEN_3")


def test_empty_cookie_is_an_auth_error():
    with pytest.raises(ImageBackendAuthError, match="no cookie"):
        ImageFXBackend(cookie=" ").generate(_request())


@pytest.mark.django_db
def test_registry_uses_the_users_active_connection(fake, settings):
    settings.IMAGEFX_LABS_URL = fake.labs_url
    settings.IMAGEFX_API_URL = fake.api_url
    user = UserFactory()
    with pytest.raises(ImageBackendAuthError, match="Add an ImageFX connection"):
        image_backend_for(user=user, name="imagefx")
    PlatformConnectionFactory(
        user=user, platform_type=PlatformType.IMAGEFX, access_token="stale", is_active=False, name="old"
    )
    PlatformConnectionFactory(
        user=UserFactory(), platform_type=PlatformType.IMAGEFX, access_token=fake.cookie
    )
    with pytest.raises(ImageBackendAuthError):
        image_backend_for(user=user, name="imagefx")  # inactive or someone else's do not count
    PlatformConnectionFactory(
        user=user,
        platform_type=PlatformType.IMAGEFX,
        access_token=fake.cookie,
        instance_url="https://labs.google",
    )
    backend = image_backend_for(user=user, name="imagefx")
    assert backend.name == "imagefx"
    backend._options["sleep"] = fake.sleeps.append
    assert len(backend.generate(_request(count=1))) == 1
    assert "fake-imagefx-cookie" not in repr(backend)
