"""A small fake Mastodon instance on loopback, so the demo's caption loop works offline.

    from console.demo.instance import DEMO_TOKEN, DemoInstance

    with DemoInstance(port=0) as instance:            # port 0: any free port
        api = MastodonApi(instance_url=instance.base_url, access_token=DEMO_TOKEN)

`python manage.py demo_instance` runs one in the foreground; `make run` starts it next to the web
server. Standard library and Pillow only: it ships with the project, unlike the test fakes built on
pytest-httpserver (a development dependency), whose wire format it copies (tests/fakes/mastodon.py).

What it holds (in memory, the same on every start; a restart resets every change): one account,
`demo`, whose token is `DEMO_TOKEN`, with 6 posts carrying media and 1 text post. The media are
10 images, 7 without a description, 2 described in English and 1 in Japanese, and 1 video. Each
image is a simple scene drawn by Pillow (`console.demo.media`); the video's file is its poster frame.

The API (Mastodon 4.x shapes; JSON or form bodies):
- GET  /api/v1/accounts/verify_credentials
- GET  /api/v1/accounts/{id}/statuses: only_media, exclude_replies, exclude_reblogs, pinned,
  max_id, since_id, min_id, limit (default 20, at most 40); newest first; a Link header with
  rel="next" (max_id) and rel="prev" (min_id) when the page is not empty
- GET  /api/v2/instance, /api/v1/instance: description limit 1500 under
  `configuration.media_attachments.description_limit` (public, as on Mastodon)
- GET  /api/v1/statuses/{id}, /api/v1/statuses/{id}/source
- PUT  /api/v1/statuses/{id}: the edit, with Mastodon's lossy rules (no media_ids drops every
  attachment; no spoiler_text clears it); `media_attributes` [{id, description}] set
  descriptions. It answers 422 without an `Idempotency-Key` header (the project always sends one)
  and 422 for a description over the limit.
- PUT  /api/v1/media/{id}: sets `description` of any of the account's media (Pixelfed's rule;
  Mastodon itself refuses attached media), so a Pixelfed-type connection works too
- POST /api/v1/statuses: a text post (422 when blank or over 500 characters); a repeated
  `Idempotency-Key` answers the status it created instead of posting twice
- GET  /media/{id}/original, /media/{id}/small: PNG bytes (public)
Everything else under /api/ needs `Authorization: Bearer DEMO_TOKEN` (401 otherwise); unknown
paths are 404 `{"error": "Record not found"}`. The demo website (`console.demo.site`) is served at
/robots.txt and under /site/.

URLs in answers (media, Link headers, the site's sitemap) use the Host the request came to, so
a client that reached the instance as `localhost:8001` gets URLs it can follow.
"""

import ipaddress
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from console.demo.api import DESCRIPTION_LIMIT, Answer, MastodonRoutes, error_answer
from console.demo.content import DEMO_ACCOUNT_USERNAME, DEMO_TOKEN, build_state

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEMO_ACCOUNT_USERNAME",
    "DEMO_TOKEN",
    "DESCRIPTION_LIMIT",
    "DemoInstance",
    "is_loopback",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
MAX_BODY_BYTES = 1_000_000
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "socialdesk-demo-instance/1"
    timeout = 30  # an idle keep-alive connection does not hold its thread for ever

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._send(error_answer("The body is too large or its length is invalid", 413), close=True)
            return
        body = self.rfile.read(length) if length else b""
        api: MastodonRoutes = self.server.demo_api  # type: ignore[attr-defined]
        try:
            answer = api.handle(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers=self.headers,
                body=body,
                base_url=self._base_url(),
            )
        except Exception:
            logger.exception("The demo instance failed on %s %s", self.command, self.path)
            answer = error_answer("Internal error of the demo instance", 500)
        self._send(answer)

    def _base_url(self) -> str:
        host = (self.headers.get("Host") or "").strip()
        if not host or not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?", host):
            return self.server.demo_base_url  # type: ignore[attr-defined]
        return f"http://{host}"

    def _send(self, answer: Answer, *, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args) -> None:
        if getattr(self.server, "demo_log_requests", False):
            logger.info("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class DemoInstance:
    """The demo instance on `host:port` (port 0: a free one), served from a daemon thread.

    `start()` binds and serves, `stop()` shuts it down; `with DemoInstance() as instance:` does both.
    `base_url` is known once started. A new instance starts from the same content.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, log_requests: bool = False):
        self.host = host
        self.port = port
        self.log_requests = log_requests
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._api = MastodonRoutes(build_state())

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The demo instance is not running; call start() first.")
        shown = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "DemoInstance":
        if self._server is not None:
            return self
        server_class = _Server
        if ":" in self.host:
            server_class = _Server6
        server = server_class((self.host, self.port), _Handler)
        self.port = server.server_address[1]
        self._server = server
        server.demo_api = self._api  # type: ignore[attr-defined]
        server.demo_base_url = self.base_url  # type: ignore[attr-defined]
        server.demo_log_requests = self.log_requests  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="demo-instance", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_until(self, stop: threading.Event) -> None:
        """Serve until `stop` is set (the management command's foreground loop)."""
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> "DemoInstance":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # Reading state, for tests and the demo loader --------------------------------------------

    def status(self, status_id: str) -> dict[str, Any]:
        """A status as the API renders it (a copy)."""
        with self._api.state.lock:
            return self._api.render(self._api.state.statuses[str(status_id)], self.base_url)

    def statuses(self) -> list[dict[str, Any]]:
        """Every status of the account, newest first."""
        with self._api.state.lock:
            found = sorted(self._api.state.statuses.values(), key=lambda s: int(s.id), reverse=True)
            return [self._api.render(s, self.base_url) for s in found]


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (the demo refuses anything else by default)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
