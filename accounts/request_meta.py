"""What sessions and audit rows record about the request that made them."""

import hashlib
from dataclasses import dataclass

USER_AGENT_MAX_CHARS = 512
FINGERPRINT_CHARS = 32


@dataclass(frozen=True)
class RequestMeta:
    """What a session and an audit row record about the request that made them."""

    ip_address: str | None = None
    user_agent: str = ""
    accept_language: str = ""

    @property
    def fingerprint(self) -> str:
        material = f"{self.user_agent}\n{self.accept_language}".encode()
        return hashlib.sha256(material).hexdigest()[:FINGERPRINT_CHARS]


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
