"""The origins the operator allows by name (`OUTBOUND_ALLOWED_ORIGINS`, e.g.
"http://wp.intranet:8080"): the one way to reach a site over plain http.

An origin is scheme, host and port (RFC 6454): "http://wp.intranet" and "http://wp.intranet:80"
are the same origin, "https://wp.intranet" and "http://wp.intranet:8080" are others. Only exact
origins count, no wildcards and no paths, so one listed intranet blog opens nothing else.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, lower-case, the default port filled in; None when
    the URL has no usable origin."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def origin_allow_listed(url: str, *, allowed: Iterable[str] | None = None) -> bool:
    """True when `url`'s origin is one of `allowed` (default: settings.OUTBOUND_ALLOWED_ORIGINS)."""
    origin = url_origin(url)
    if origin is None:
        return False
    listed = getattr(settings, "OUTBOUND_ALLOWED_ORIGINS", ()) if allowed is None else allowed
    return any(url_origin(entry) == origin for entry in listed or ())
