"""What sessions and audit rows record about the request that made them."""

import hashlib
import ipaddress
import re
from dataclasses import dataclass

USER_AGENT_MAX_CHARS = 512
FINGERPRINT_CHARS = 32
# A session's fingerprint names the client's network, not its exact address: a phone on a mobile
# network, or a laptop behind a carrier's NAT pool, changes address within such a block all day.
IPV4_NETWORK_PREFIX = 24
IPV6_NETWORK_PREFIX = 48  # one site's allocation; the interface part changes with privacy addresses
_VERSION_PARTS = re.compile(r"[\d._]+")


def user_agent_family(user_agent: str) -> str:
    """The User-Agent without its version numbers: the same browser (or client) on the same system
    after an update keeps its family; another browser or system does not."""
    return " ".join(_VERSION_PARTS.sub("", user_agent or "").lower().split())


def client_network(ip_address: str | None) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address, "" when there is none or it is unreadable."""
    if not ip_address:
        return ""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_NETWORK_PREFIX if address.version == 4 else IPV6_NETWORK_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def fingerprint_of(*, user_agent: str, ip_address: str | None) -> str:
    """A short hash of the User-Agent family and the client's network (docs/operations.md); "" when
    there is no client to name (a session made outside a request has nothing to compare with)."""
    if not user_agent and not ip_address:
        return ""
    material = f"{user_agent_family(user_agent)}\n{client_network(ip_address)}".encode()
    return hashlib.sha256(material).hexdigest()[:FINGERPRINT_CHARS]


@dataclass(frozen=True)
class RequestMeta:
    """What a session and an audit row record about the request that made them."""

    ip_address: str | None = None
    user_agent: str = ""
    accept_language: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(user_agent=self.user_agent, ip_address=self.ip_address)


def request_meta(request) -> RequestMeta:
    """The client's address is REMOTE_ADDR: proxy headers are client-controlled and not trusted."""
    if request is None:
        return RequestMeta()
    meta = request.META
    return RequestMeta(
        ip_address=meta.get("REMOTE_ADDR") or None,
        user_agent=(meta.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX_CHARS],
        accept_language=(meta.get("HTTP_ACCEPT_LANGUAGE") or "")[:200],
    )
