"""What the publishing fakes (X, LinkedIn, WordPress, webhook) share: a request log, failure knobs
and a threaded server fixture. Each fake is stateful and speaks its platform's wire format; this
base only serves, records and fails.

Failure knobs act on the next `times` requests to one path and method (by default the fake's
publishing endpoint, `fake.post_path` with POST):
- `fail_next(status=500, body=None, headers=None)`: that answer instead (nothing happens);
- `rate_limit_next(retry_after="1")`: a 429 with the platform's rate-limit headers (nothing happens);
- `malformed_next()`: the request takes effect, the answer is truncated JSON (a 2xx);
- `hang_next(seconds)`: sleep, then answer an error; nothing happens (the request "never arrived");
- `accept_then_hang_next(seconds)`: the request takes effect, then the answer comes `seconds`
  late: with a shorter client timeout, the ambiguous case.

A test module serves the fakes from a threaded server, so a hanging request does not hold up the
next one:

    from tests.fakes.base import make_httpserver  # noqa: F401  (overrides pytest-httpserver's)
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


@pytest.fixture(scope="module")
def make_httpserver():
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


class Sleeper:
    """A `sleep` for clients under test: records the waits instead of waiting."""

    def __init__(self):
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    query_string: str
    headers: dict[str, str]
    body: bytes
    json: Any = None

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Failure:
    path: str
    method: str
    remaining: int
    kind: str  # "status", "malformed", "hang", "accept_then_hang"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class FakeHttpPlatform:
    """Subclasses set `prefix` (a regex the fake serves), `post_path`, and implement `route`."""

    prefix = r"^/"
    post_path = "/"
    malformed_body = '{"data": {"id": '

    def __init__(self, httpserver):
        self.httpserver = httpserver
        self.base_url = httpserver.url_for("/").rstrip("/")
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._failures: list[_Failure] = []
        httpserver.expect_request(re.compile(self.prefix)).respond_with_handler(self._handle)

    # Knobs ------------------------------------------------------------------------------------

    def _add(self, kind: str, *, path: str | None, method: str, times: int, **fields) -> None:
        with self._lock:
            self._failures.append(
                _Failure(
                    path=_norm(path or self.post_path),
                    method=method.upper(),
                    remaining=times,
                    kind=kind,
                    **fields,
                )
            )

    def fail_next(
        self,
        status: int = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        path: str | None = None,
        method: str = "POST",
        times: int = 1,
    ) -> None:
        self._add(
            "status",
            path=path,
            method=method,
            times=times,
            status=status,
            body=body if body is not None else self.error_body(status),
            headers=dict(headers or {}),
        )

    def rate_limit_next(
        self, retry_after: str | None = "1", *, path: str | None = None, method: str = "POST", times: int = 1
    ) -> None:
        headers = self.rate_limit_headers()
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        self.fail_next(429, headers=headers, path=path, method=method, times=times)

    def malformed_next(self, *, path: str | None = None, method: str = "POST", times: int = 1) -> None:
        self._add("malformed", path=path, method=method, times=times)

    def hang_next(
        self, seconds: float, *, path: str | None = None, method: str = "POST", times: int = 1
    ) -> None:
        self._add("hang", path=path, method=method, times=times, seconds=seconds)

    def accept_then_hang_next(
        self, seconds: float, *, path: str | None = None, method: str = "POST", times: int = 1
    ) -> None:
        self._add("accept_then_hang", path=path, method=method, times=times, seconds=seconds)

    # Request log ------------------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        path = _norm(path)
        with self._lock:
            return [
                r for r in self.requests if r.path == path and (method is None or r.method == method.upper())
            ]

    def count(self, method: str, path: str) -> int:
        return len(self.requests_to(path, method))

    # For subclasses ---------------------------------------------------------------------------

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        return {"error": f"Fake failure (HTTP {status})"}

    def rate_limit_headers(self) -> dict[str, str]:
        return {}

    # Serving ----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        path = _norm(request.path)
        method = request.method.upper()
        raw = request.get_data()
        body = None
        if raw and request.mimetype == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                return json_response({"error": "Invalid JSON"}, 400)
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query={key: request.args.getlist(key) for key in request.args},
                    query_string=request.query_string.decode("latin-1"),
                    headers=dict(request.headers),
                    body=raw,
                    json=body,
                )
            )
            failure = self._take_failure(method, path)
        if failure is None:
            return self.route(request, method, path, body)
        if failure.kind == "status":
            return json_response(failure.body, failure.status, failure.headers)
        if failure.kind == "hang":
            time.sleep(failure.seconds)
            return json_response(self.error_body(504), 504)
        response = self.route(request, method, path, body)
        if failure.kind == "accept_then_hang":
            time.sleep(failure.seconds)
            return response
        return Response(self.malformed_body, status=response.status_code, content_type="application/json")

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.remaining > 0 and failure.path == path and failure.method == method:
                failure.remaining -= 1
                return failure
        return None


def _norm(path: str) -> str:
    return path.rstrip("/") or "/"
