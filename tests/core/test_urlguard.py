"""The outbound guard: address rules, every literal form, redirects, and connecting as checked."""

import ipaddress
import socket
import subprocess
import sys
from pathlib import Path

import httpcore
import httpx
import pytest
from django.core.checks import run_checks
from pytest_httpserver import HTTPServer

from core import urlguard
from core.urlguard import (
    OutboundPolicy,
    OutboundRefused,
    address_refusal,
    check_url,
    guarded_client,
    literal_address,
)

# Every way of writing "this machine" that a resolver or a URL parser accepts.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1.2.3",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "0177.1",
    "127.0.0.1.",
    "127.1",
]
PRIVATE_FORMS = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "[fc00::1]",
    "[fd12:3456::1]",
    "167772161",
]
ALWAYS_REFUSED = [
    "169.254.169.254",
    "169.254.0.1",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "[::ffff:169.254.169.254]",
    "2852039166",  # 169.254.169.254 as one number
    "0.0.0.0",  # noqa: S104
    "0",
    "[::]",
    "224.0.0.1",
    "[ff02::1]",
    "255.255.255.255",
    "240.0.0.1",
]


def refusal(host: str, *, allow_private: bool = False) -> str | None:
    address = literal_address(host)
    assert address is not None, host
    return address_refusal(address, allow_private=allow_private)


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_form_of_loopback_is_read_as_loopback(host):
    assert refusal(host) == "a loopback address"
    assert refusal(host, allow_private=True) is None


@pytest.mark.parametrize("host", PRIVATE_FORMS)
def test_private_ranges_open_only_with_the_setting(host):
    assert refusal(host) == "a private network address"
    assert refusal(host, allow_private=True) is None


@pytest.mark.parametrize("host", ALWAYS_REFUSED)
def test_link_local_metadata_unspecified_and_multicast_stay_refused_whatever_the_setting(host):
    assert refusal(host) is not None
    assert refusal(host, allow_private=True) is not None


def test_integer_hosts_are_read_as_the_c_library_reads_them():
    assert literal_address("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("0x7f000001") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("10.1") == ipaddress.ip_address("10.0.0.1")
    assert literal_address("192.168.257") == ipaddress.ip_address("192.168.1.1")
    assert literal_address("example.org") is None
    assert literal_address("1.2.3.4.5") is None
    assert literal_address("256.1.1.1") is None
    assert literal_address("08.1.1.1") is None


@pytest.mark.parametrize("host", ["93.184.215.14", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]", "1.1.1.1"])
def test_public_addresses_pass(host):
    assert refusal(host) is None


def test_a_name_with_one_refused_address_is_refused(monkeypatch):
    def fake(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(OutboundRefused, match="private network"):
        check_url("https://split.example/", policy=OutboundPolicy())


# --- the client ---------------------------------------------------------------------------------


@pytest.fixture
def strict(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    return settings


@pytest.fixture
def inner():
    """A second server on loopback, standing for an internal service."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.stop()


def _url(httpserver, host: str, path: str = "/secret") -> str:
    return f"http://{host}:{httpserver.port}{path}"


@pytest.mark.parametrize(
    "host", [h for h in LOOPBACK_FORMS if "64:ff9b" not in h and "2002:" not in h and h != "[::127.0.0.1]"]
)
def test_the_client_refuses_every_loopback_form_before_connecting(strict, httpserver, host):
    httpserver.expect_request("/secret").respond_with_data("secret")
    # httpx itself refuses a dotted form with a leading zero as an invalid URL: also safe.
    with guarded_client() as client, pytest.raises((OutboundRefused, httpx.InvalidURL)) as caught:
        client.get(_url(httpserver, host))
    assert isinstance(caught.value, httpx.InvalidURL) or "loopback" in str(caught.value)
    assert httpserver.log == []


def test_the_client_refuses_a_name_that_resolves_to_loopback(strict, httpserver):
    httpserver.expect_request("/secret").respond_with_data("secret")
    with guarded_client() as client, pytest.raises(OutboundRefused, match="localhost is a loopback address"):
        client.get(_url(httpserver, "localhost"))
    assert httpserver.log == []


def test_every_redirect_hop_is_checked(strict, httpserver, inner):
    inner.expect_request("/admin").respond_with_data("internal")
    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": _url(inner, "127.0.0.1", "/admin")}
    )
    strict.OUTBOUND_ALLOWED_ORIGINS = [f"http://127.0.0.1:{httpserver.port}"]
    with guarded_client(follow_redirects=True) as client, pytest.raises(OutboundRefused, match="loopback"):
        client.get(_url(httpserver, "127.0.0.1", "/start"))
    assert len(httpserver.log) == 1
    assert inner.log == []


def test_an_allowed_origin_is_exact_scheme_host_and_port(strict, httpserver):
    httpserver.expect_request("/ok").respond_with_data("fine")
    strict.OUTBOUND_ALLOWED_ORIGINS = [f"http://127.0.0.1:{httpserver.port}"]
    with guarded_client() as client:
        assert client.get(_url(httpserver, "127.0.0.1", "/ok")).text == "fine"
        for url in (
            _url(httpserver, "localhost", "/ok"),  # another name
            f"http://127.0.0.1:{httpserver.port + 1}/ok",  # another port
            f"https://127.0.0.1:{httpserver.port}/ok",  # another scheme
        ):
            with pytest.raises(OutboundRefused):
                client.get(url)
    assert len(httpserver.log) == 1


def test_an_allowed_origin_without_a_port_means_the_default_port():
    policy = OutboundPolicy(allowed_origins=urlguard.parse_origins(["http://10.0.0.5"]))
    check_url("http://10.0.0.5:80/x", policy=policy)
    check_url("http://10.0.0.5/x", policy=policy)
    with pytest.raises(OutboundRefused):
        check_url("http://10.0.0.5:8080/x", policy=policy)


def test_listing_a_metadata_origin_does_not_open_it():
    policy = OutboundPolicy(
        allow_private=True, allowed_origins=urlguard.parse_origins(["http://169.254.169.254"])
    )
    with pytest.raises(OutboundRefused, match="link-local"):
        check_url("http://169.254.169.254/latest/meta-data/", policy=policy)


def test_the_private_networks_setting_opens_loopback_but_not_metadata(settings, httpserver):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    httpserver.expect_request("/ok").respond_with_data("fine")
    with guarded_client() as client:
        assert client.get(_url(httpserver, "127.0.0.1", "/ok")).text == "fine"
        with pytest.raises(OutboundRefused, match="link-local"):
            client.get("http://169.254.169.254/latest/meta-data/")


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(
    settings, httpserver, monkeypatch
):
    # A rebinding name: the first answer is this machine (allowed here), every later one an
    # internal host. The guard must connect to the first answer and never ask again.
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    httpserver.expect_request("/ok").respond_with_data("fine")
    answers = iter(["127.0.0.1"] + ["10.255.255.1"] * 10)
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    connected = []
    real_connect = httpcore.SyncBackend.connect_tcp

    def spy(self, host, port, *args, **kwargs):
        connected.append(host)
        return real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", spy)
    with guarded_client() as client:
        response = client.get(f"http://rebind.test:{httpserver.port}/ok")
    assert response.text == "fine"
    assert lookups == ["rebind.test"]
    assert connected == ["127.0.0.1"]
    assert httpserver.log[0][0].headers["Host"] == f"rebind.test:{httpserver.port}"


def test_a_rebinding_name_whose_answer_is_internal_is_refused(strict, monkeypatch):
    def internal(host, port, *args, **kwargs):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:169.254.169.254", port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", internal)
    with guarded_client() as client, pytest.raises(OutboundRefused, match="link-local"):
        client.get("https://rebind.test/")


def test_unix_sockets_and_other_schemes_are_refused(strict):
    with guarded_client() as client, pytest.raises((OutboundRefused, httpx.UnsupportedProtocol)):
        client.get("ftp://example.org/")
    with pytest.raises(ValueError):
        urlguard.GuardedTransport(uds="/var/run/docker.sock")


def test_proxies_from_the_environment_are_not_used(strict, monkeypatch, httpserver):
    monkeypatch.setenv("HTTP_PROXY", _url(httpserver, "127.0.0.1", ""))
    monkeypatch.setenv("ALL_PROXY", _url(httpserver, "127.0.0.1", ""))
    with guarded_client() as client, pytest.raises(OutboundRefused):
        client.get(_url(httpserver, "127.0.0.1"))
    assert httpserver.log == []


# --- settings -----------------------------------------------------------------------------------


def test_a_malformed_allowed_origin_is_a_system_check_error(settings):
    settings.OUTBOUND_ALLOWED_ORIGINS = [
        "https://ok.example",
        "ftp://files.example",
        "https://x.example/path",
    ]
    errors = [e for e in run_checks() if e.id == "core.E010"]
    assert len(errors) == 1
    assert "ftp://files.example" in errors[0].msg


def test_the_demo_instance_joins_the_allowed_origins_at_start_up():
    code = "from django.conf import settings; print(settings.OUTBOUND_ALLOWED_ORIGINS)"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEMO_INSTANCE_URL": "http://127.0.0.1:8001",
        "OUTBOUND_ALLOWED_ORIGINS": "https://wiki.corp,http://10.0.0.5:8080",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.strip() == "['https://wiki.corp', 'http://10.0.0.5:8080', 'http://127.0.0.1:8001']"
