"""What the AI sees: which backend, and which host, receives a person's images and text.

Shown on the pages where a person starts AI work on their content (connections, caption settings,
the caption scan) and in `GET /api/v1/auth/me/` (`ai`). The host is that of `AI_BASE_URL`, where
the OpenAI-compatible backend sends every request; the builtin backend runs in this process.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from django.conf import settings

from core.ai.registry import BUILTIN, backend_name_for, builtin_only, site_backend_name

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
BACKEND_LABELS = {"openai": "OpenAI-compatible"}


@dataclass(frozen=True)
class AIDisclosure:
    backend: str  # the backend that runs for the person's work
    host: str | None  # the host that receives their images and text; None: no other process does
    leaves_machine: bool  # whether that host is another machine (not this one's loopback)
    builtin_only: bool  # the person's own preference (User.ai_builtin_only)
    site_backend: str  # what the site is configured for (AI_BACKEND)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def label(self) -> str:
        return BACKEND_LABELS.get(self.backend, self.backend)

    @property
    def summary(self) -> str:
        """One sentence for a page."""
        if self.backend == BUILTIN:
            why = (
                "you chose builtin AI only"
                if self.builtin_only and self.site_backend != BUILTIN
                else "the site uses the builtin backend"
            )
            return (
                f"Captions and drafts are written by the builtin backend on this server ({why}): "
                "your images and text do not leave the machine."
            )
        if self.host is None:
            return (
                f"Captions and drafts are written by the {self.label} backend, but AI_BASE_URL "
                "names no host: the AI calls fail and nothing is sent."
            )
        where = "another machine" if self.leaves_machine else "another program on this machine"
        return (
            f"Captions and drafts are written by the {self.label} backend: your images and the "
            f"text of your posts and drafts are sent to {self.host} ({where})."
        )


def _ai_hostname_and_port() -> tuple[str | None, int | None]:
    parts = urlsplit((getattr(settings, "AI_BASE_URL", "") or "").strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port


def ai_host() -> str | None:
    """host[:port] of AI_BASE_URL (an IPv6 address in brackets), or None when it names none."""
    hostname, port = _ai_hostname_and_port()
    if not hostname:
        return None
    shown = f"[{hostname}]" if ":" in hostname else hostname
    return f"{shown}:{port}" if port else shown


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def ai_disclosure(*, user) -> AIDisclosure:
    """Where `user`'s images and text go when the AI works on them (None: the site's default)."""
    backend = backend_name_for(user=user)
    host = None if backend == BUILTIN else ai_host()
    hostname, _ = _ai_hostname_and_port()
    return AIDisclosure(
        backend=backend,
        host=host,
        leaves_machine=host is not None and not _is_loopback(hostname or ""),
        builtin_only=builtin_only(user),
        site_backend=site_backend_name(),
    )
