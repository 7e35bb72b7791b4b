"""The outbound guard: every request made on a user's behalf goes through `guarded_client()`.

A user hands us URLs (an instance, a webhook, a page to scrape) and instances hand us more (media
URLs, redirects), and the server connects to them from inside our network. So every connection is
vetted where it is made, not where the URL was read: the client's network backend resolves the
host once, refuses the connection unless every address is allowed, and connects to the address
it checked. A redirect opens a new connection and is checked the same way, and a DNS answer
that changes between a check and a connect (rebinding) cannot slip past, because there is no
second lookup. TLS still verifies the certificate against the host name.

Refused always: link-local (169.254.0.0/16, fe80::/10), cloud metadata addresses, unspecified
(0.0.0.0/8, ::), multicast, broadcast and reserved. Refused unless
`OUTBOUND_ALLOW_PRIVATE_NETWORKS` is true: loopback, private (RFC 1918, unique-local fc00::/7,
shared 100.64.0.0/10) and any other non-global range. IPv6 forms that carry an IPv4 address
(mapped, compatible, NAT64, 6to4, Teredo) are judged by that address, and hosts written as
integers (2130706433, 0x7f000001, 0177.1) are read the way the C library reads them.
`OUTBOUND_ALLOWED_ORIGINS` names exact origins (scheme://host:port) that may be on private
networks, the precise way to reach one intranet server; the first two rules still hold there.

`check_url` applies the same rules to a URL before it is stored, so a bad address is refused
when a connection or job is created, with a message naming the address's kind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services that are not link-local: AWS's IPv6 one, Alibaba Cloud's, Azure's
# wire server. 169.254.169.254 (AWS, GCP, Azure, OpenStack) is link-local and refused as such.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
ONLY_HTTP = "Only http and https URLs with a host name can be used."
_INET_ATON_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")


class OutboundRefused(Exception):
    """A request the guard will not make. The message is safe to show; `reason` is
    `invalid_url` (not http(s) with a host), `private_address`, or (from `check_url` only)
    `unresolvable`."""

    def __init__(self, message: str, *, reason: str = "private_address"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of an http(s) URL, default port filled in; None for anything else."""
        try:
            parts = urlsplit(str(url).strip())
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        host = _plain_host(parts.hostname or "")
        if scheme not in ("http", "https") or not host:
            return None
        return cls(scheme, host, port or (443 if scheme == "https" else 80))


@dataclass(frozen=True)
class OutboundPolicy:
    allow_private: bool = False
    allowed_origins: frozenset[Origin] = frozenset()

    @classmethod
    def from_settings(cls) -> OutboundPolicy:
        return cls(
            allow_private=bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE_NETWORKS", False)),
            allowed_origins=parse_origins(getattr(settings, "OUTBOUND_ALLOWED_ORIGINS", ()), strict=False),
        )

    def origin_allowed(self, origin: Origin | None) -> bool:
        return origin is not None and origin in self.allowed_origins

    def host_port_allowed(self, host: str, port: int) -> bool:
        host = _plain_host(host)
        return any(o.host == host and o.port == port for o in self.allowed_origins)


def parse_origins(values: Iterable[str] | str, *, strict: bool = True) -> frozenset[Origin]:
    """Origins from settings; an entry that is not scheme://host[:port] raises ValueError naming
    it, or with `strict` off is left out (it opens nothing; the system check reports it)."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    origins = set()
    for value in values:
        origin = Origin.of(value)
        parts = urlsplit(str(value).strip())
        if origin is None or parts.path not in ("", "/") or parts.query or parts.username:
            if strict:
                raise ValueError(f"{value!r} is not an origin like https://host or http://host:port.")
            continue
        origins.add(origin)
    return frozenset(origins)


def _plain_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def literal_address(host: str) -> Address | None:
    """The IP address a host name spells, in any form the resolver accepts; None for a name."""
    host = _plain_host(host).split("%", 1)[0]
    if not host:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.match(p) for p in parts):
        return None
    try:
        numbers = [_inet_aton_number(p) for p in parts]
    except ValueError:
        return None
    # inet_aton: the last part fills every byte the earlier ones (one byte each) left.
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    return ipaddress.IPv4Address(value * 256 ** (4 - len(leading)) + last)


def _inet_aton_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:], 16)
    return int(part, 8) if part.startswith("0") else int(part)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(address.packed[-4:])
    return None


def address_refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why a connection to `address` is refused (a phrase like "a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.ip_address(str(address).split("%", 1)[0])
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_refusal(inner, allow_private=allow_private)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or (address.version == 4 and address in _THIS_NETWORK):
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255"):
        return "a reserved address"
    if address.is_global or allow_private:
        return None
    return "a private network address"


def _refuse(host: str, why: str) -> OutboundRefused:
    return OutboundRefused(
        f"{host} is {why}; the server does not connect to such addresses "
        "(an operator can allow one origin with OUTBOUND_ALLOWED_ORIGINS)."
    )


def _check_addresses(host: str, addresses: Iterable[Address], *, allow_private: bool) -> None:
    for address in addresses:
        why = address_refusal(address, allow_private=allow_private)
        if why:
            raise _refuse(host, why)


def resolve_checked(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of `host` to connect to, each checked; OutboundRefused if any is refused.

    A name resolving to one allowed and one refused address is refused: an attacker who controls
    a name's records would otherwise need only one lucky answer.
    """
    literal = literal_address(host)
    if literal is not None:
        _check_addresses(host, [literal], allow_private=allow_private)
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(_plain_host(host), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise httpcore.ConnectError(f"The host {host} could not be found.") from exc
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    _check_addresses(host, addresses, allow_private=allow_private)
    return [str(a) for a in addresses]


def check_url(
    url: str,
    *,
    resolve: bool = True,
    unresolvable_ok: bool = True,
    policy: OutboundPolicy | None = None,
) -> Origin:
    """Refuse a URL the guarded client would refuse (OutboundRefused), before it is stored or used.

    With `resolve`, the host name is looked up too; a name that does not resolve passes here (it
    may resolve later, and the connection is checked again then) unless `unresolvable_ok` is
    False (reason `unresolvable`)."""
    policy = policy or OutboundPolicy.from_settings()
    origin = Origin.of(url)
    if origin is None:
        raise OutboundRefused(ONLY_HTTP, reason="invalid_url")
    literal = literal_address(origin.host)
    if literal is None and not resolve:
        return origin
    allow_private = policy.allow_private or policy.origin_allowed(origin)
    try:
        resolve_checked(origin.host, origin.port, allow_private=allow_private)
    except httpcore.ConnectError:
        if not unresolvable_ok:
            message = f"The host {origin.host} could not be found."
            raise OutboundRefused(message, reason="unresolvable") from None
    return origin


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, connecting only to checked addresses."""

    def __init__(self, policy: OutboundPolicy | None = None):
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        policy = self._policy or OutboundPolicy.from_settings()
        # The scheme is not known here; `_check_request` holds an allowed origin to its scheme.
        allow_private = policy.allow_private or policy.host_port_allowed(host, port)
        error: Exception | None = None
        for address in resolve_checked(host, port, allow_private=allow_private):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} could not be reached.")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused("Connections to local sockets are not made.", reason="invalid_url")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over `GuardedNetworkBackend`.

    httpx does not take a network backend, so ours is set on the pool it builds (httpcore's
    attribute); `tests/core/test_urlguard.py` fails if a future httpx or httpcore stops using it."""

    def __init__(self, *, policy: OutboundPolicy | None = None, **kwargs):
        if kwargs.get("proxy") or kwargs.get("uds"):
            raise ValueError("A guarded transport connects directly, to checked addresses only.")
        super().__init__(**kwargs)
        if not isinstance(self._pool, httpcore.ConnectionPool):
            raise TypeError("httpx built an unexpected pool; the guard cannot be installed.")
        self._pool._network_backend = GuardedNetworkBackend(policy)


def _request_checker(policy: OutboundPolicy | None):
    def check(request: httpx.Request) -> None:
        """Every request, redirects included: http(s) only, and an allowed origin only as listed."""
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:
            raise OutboundRefused(ONLY_HTTP, reason="invalid_url")
        current = policy or OutboundPolicy.from_settings()
        port = url.port or (443 if url.scheme == "https" else 80)
        if current.allow_private or not current.host_port_allowed(url.host, port):
            return
        if not current.origin_allowed(Origin(url.scheme, _plain_host(url.host), port)):
            # Listed with another scheme: judged as any other host (the backend then connects).
            with contextlib.suppress(httpcore.ConnectError):
                resolve_checked(url.host, port, allow_private=False)

    return check


def guarded_client(*, policy: OutboundPolicy | None = None, **kwargs) -> httpx.Client:
    """An httpx.Client whose every connection, redirects included, passes the guard.

    Takes httpx.Client's keyword arguments; proxies from the environment are not used (a proxy
    would connect on our behalf to addresses we never see)."""
    hooks = dict(kwargs.pop("event_hooks", None) or {})
    hooks["request"] = [_request_checker(policy), *hooks.get("request", [])]
    return httpx.Client(
        transport=GuardedTransport(policy=policy), event_hooks=hooks, trust_env=False, **kwargs
    )
