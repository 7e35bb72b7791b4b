"""Every URL a user gives and every URL a server hands us passes the outbound guard.

User-supplied fields are refused when they are saved (a 400 naming the field, nothing written);
a URL stored before the rules tightened, or followed from an instance's answer or a redirect, is
refused again when it is used, and the internal server never sees a request.
"""

import pytest
from django.core.exceptions import ValidationError
from pytest_httpserver import HTTPServer

from accounts.models import Role
from captions.models import ImageStatus
from captions.services.generation import caption_generate
from core.ai.builtin import BuiltinBackend
from core.outbound import HostThrottle
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformError, PlatformUnavailableError
from platforms.kinds.mastodon.client import MastodonApi, mastodon_verify_credentials
from platforms.kinds.publishing import Publication, publisher_for
from platforms.models import PlatformConnection, PlatformType
from platforms.services import instance_url_clean
from scraping.models import ScrapingJob
from tests.factories.accounts import UserFactory
from tests.factories.captions import ImageFactory
from tests.factories.platforms import PlatformConnectionFactory
from tests.isolation import client_for
from workflows.models import Resource

pytestmark = pytest.mark.django_db

# One of each kind the guard refuses, in the forms an attacker would try.
REFUSED_HOSTS = [
    "127.0.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "2130706433",
    "0x7f000001",
    "127.0.0.1.",
    "10.0.0.8",
    "[fd12::8]",
    "169.254.169.254",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "0.0.0.0",  # noqa: S104
]


@pytest.fixture(autouse=True)
def strict(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    return settings


@pytest.fixture
def internal():
    """A service on loopback that must never be reached."""
    server = HTTPServer(threaded=True)
    server.start()
    server.expect_request("/").respond_with_data("internal")
    yield server
    server.stop()


@pytest.fixture
def user():
    return UserFactory(role=Role.USER)


@pytest.fixture
def api(user):
    return client_for(user)


def fields_of(response) -> dict:
    return response.json()["error"]["fields"]


# --- refused when saved ---------------------------------------------------------------------------


@pytest.mark.parametrize("platform_type", ["mastodon", "pixelfed", "webhook", "wordpress"])
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_connection_to_an_internal_address_is_refused_on_create(api, platform_type, host):
    response = api.post(
        "/api/v1/platforms/connections/",
        {
            "name": "internal",
            "platform_type": platform_type,
            "instance_url": f"https://{host}:8443",
            "username": "alice",
            "access_token": "token-0001",
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    # DRF's URLField already refuses some forms ("Enter a valid URL."); the guard the others.
    assert "instance_url" in fields_of(response)
    assert not PlatformConnection.objects.exists()


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_the_connection_service_refuses_every_form_whoever_calls_it(host):
    with pytest.raises(ValidationError) as caught:
        instance_url_clean(f"https://{host}:8443")
    assert "the server does not connect to such addresses" in caught.value.message_dict["instance_url"][0]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_connection_cannot_be_moved_to_an_internal_address(api, user, host):
    connection = PlatformConnectionFactory(user=user, instance_url="https://social.example")
    response = api.patch(
        f"/api/v1/platforms/connections/{connection.pk}/", {"instance_url": f"https://{host}"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "instance_url" in fields_of(response)
    connection.refresh_from_db()
    assert connection.instance_url == "https://social.example"


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_scraping_job_for_an_internal_address_is_refused(api, host):
    response = api.post(
        "/api/v1/scraping/jobs/",
        {"title": "Internal", "job_type": "url_list", "configuration": {"urls": [f"http://{host}/admin"]}},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "configuration.urls" in fields_of(response)
    assert not ScrapingJob.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.8", "169.254.169.254", "2130706433"])
@pytest.mark.parametrize("field", ["sitemap_urls", "feed_urls"])
def test_sitemap_and_feed_jobs_for_an_internal_address_are_refused(api, host, field):
    job_type = {"sitemap_urls": "sitemap", "feed_urls": "feed"}[field]
    response = api.post(
        "/api/v1/scraping/jobs/",
        {"title": "Internal", "job_type": job_type, "configuration": {field: [f"http://{host}/x.xml"]}},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert f"configuration.{field}" in fields_of(response)


@pytest.mark.parametrize("site", ["http://127.0.0.1:8080", "http://10.0.0.8", "https://169.254.169.254"])
def test_a_government_job_for_an_internal_site_is_refused(api, site):
    response = api.post(
        "/api/v1/scraping/jobs/",
        {
            "title": "Internal",
            "job_type": "government_doc",
            "keywords": ["budget"],
            "configuration": {"domains": [site]},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "configuration.domains" in fields_of(response)


@pytest.mark.parametrize("host", REFUSED_HOSTS)
@pytest.mark.parametrize("kind", ["reference", "image"])
def test_a_workflow_resource_from_an_internal_address_is_refused(api, internal, host, kind):
    url = f"http://{host}:{internal.port}/"
    response = api.post("/api/v1/workflows/resources/", {"type": kind, "url": url}, format="json")
    assert response.status_code == 400, response.content
    assert "url" in fields_of(response)
    assert not Resource.objects.exists()
    assert internal.log == []


# --- refused again when used ----------------------------------------------------------------------


def loopback(server: HTTPServer, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.port}"


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "localhost"])
def test_a_stored_mastodon_connection_to_loopback_is_refused_when_used(internal, host):
    api = MastodonApi(instance_url=loopback(internal, host), access_token="token-0001", sleep=lambda s: None)
    with pytest.raises(PlatformError) as caught:
        api.verify()
    assert not isinstance(caught.value, PlatformUnavailableError), "a refusal is not retried"
    assert "the server does not connect to such addresses" in str(caught.value)
    with pytest.raises(PlatformError, match="does not connect"):
        mastodon_verify_credentials(instance_url=loopback(internal, host), access_token="token-0001")
    assert internal.log == []


@pytest.mark.parametrize(
    "platform_type", [PlatformType.WEBHOOK, PlatformType.WORDPRESS, PlatformType.MASTODON]
)
def test_a_publisher_does_not_post_to_an_internal_address(internal, platform_type):
    connection = PlatformConnection(
        name="p",
        platform_type=platform_type,
        instance_url=loopback(internal),
        username="alice",
        access_token="secret-0001",
        extra={},
    )
    publisher = publisher_for(
        connection,
        timeout=2.0,
        policy=RetryPolicy(attempts=3),
        sleep=lambda s: None,
        throttle=HostThrottle(rate=10_000, sleep=lambda s: None),
    )
    with pytest.raises(PlatformError, match="does not connect") as caught:
        publisher.publish(Publication(text="Hello", title="Hi", idempotency_key="k-0001"))
    assert not isinstance(caught.value, PlatformUnavailableError)
    assert internal.log == []


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:7f00:1]", "0x7f000001", "localhost"])
def test_a_media_url_from_an_instance_pointing_inside_is_not_downloaded(internal, host):
    image = ImageFactory(image_url=f"{loopback(internal, host)}/", local_path="", generated_caption=None)
    result = caption_generate(image=image, backend=BuiltinBackend())
    assert result.status == ImageStatus.ERROR
    assert "does not connect to such addresses" in result.processing_error
    assert internal.log == []


def test_a_redirect_from_a_media_host_to_an_internal_address_is_not_followed(strict, internal, httpserver):
    httpserver.expect_request("/media/1.jpg").respond_with_data(
        "", status=302, headers={"Location": f"{loopback(internal)}/"}
    )
    strict.OUTBOUND_ALLOWED_ORIGINS = [loopback(httpserver)]
    image = ImageFactory(
        image_url=f"{loopback(httpserver)}/media/1.jpg", local_path="", generated_caption=None
    )
    result = caption_generate(image=image, backend=BuiltinBackend())
    assert result.status == ImageStatus.ERROR
    assert "loopback" in result.processing_error
    assert len(httpserver.log) == 1
    assert internal.log == []
