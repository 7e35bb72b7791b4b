"""A fake OpenAI-compatible chat server in a process of its own, answering after a fixed latency.

A real AI server is another machine: its work does not compete with ours for this process's GIL.
Served from a thread of the measured process, the fake's own request handling (parsing a body
with a base64 image, writing the answer) took a share of the interpreter that grew with the
concurrency being measured. Here it runs in a forked child (`ThreadingHTTPServer`, one thread per
connection, so calls overlap), speaks HTTP/1.1 with keep-alive as real servers do, and counts the
calls it answered per `answer_key` so a benchmark can check that nothing was asked twice, and the
most calls it held at once, so one can check that no more overlapped than it allows.

    with SlowChatServer(latency=0.2, answer=lambda body: "A red square.") as server:
        settings.AI_BASE_URL = server.base_url   # http://127.0.0.1:<port>/v1
        ...
        server.counts()                          # {"<key>": calls, ...}
        server.most_in_flight()                  # the most calls answered at once
        server.reset()                           # both back to zero, for the next round

`latency` may also be a function of the request's body (vision calls slower than text, say).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

Answer = Callable[[dict], str]
AnswerKey = Callable[[dict], str]
Latency = float | Callable[[dict], float]  # seconds, or seconds for a request's body


def _completion(content: str, model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def _serve(ready, port_value, latency: Latency, answer: Answer, answer_key: AnswerKey | None) -> None:
    counts: Counter[str] = Counter()
    flight = {"now": 0, "most": 0}
    lock = Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes: with Nagle's algorithm the body waited for
        # the client's delayed ACK of the headers, ~40 ms a call on a kept-alive connection
        # (measured with this server behind workflow_engine: 1.64x the floor against 1.23x).
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # quiet: the benchmark prints its own lines
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                if self.path == "/_counts":
                    body = json.dumps(dict(counts)).encode()
                elif self.path == "/_most_in_flight":
                    body = json.dumps(flight["most"]).encode()
                elif self.path == "/_reset":
                    counts.clear()
                    flight["most"] = flight["now"]
                    body = b"{}"
                else:
                    body = None
            if body is None:
                self._send(404, b'{"error": "not found"}')
            else:
                self._send(200, body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                self._send(404, b'{"error": "not found"}')
                return
            with lock:
                flight["now"] += 1
                flight["most"] = max(flight["most"], flight["now"])
            try:
                time.sleep(latency(request) if callable(latency) else latency)
            finally:
                with lock:
                    flight["now"] -= 1
            with lock:
                counts[answer_key(request) if answer_key else "calls"] += 1
            self._send(200, _completion(answer(request), request.get("model", "bench")))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_value.value = server.server_address[1]
    ready.set()
    server.serve_forever(poll_interval=0.05)


class SlowChatServer:
    def __init__(self, *, latency: Latency, answer: Answer, answer_key: AnswerKey | None = None):
        context = multiprocessing.get_context("fork")
        self._ready = context.Event()
        self._port = context.Value("i", 0)
        self._process = context.Process(
            target=_serve,
            args=(self._ready, self._port, latency, answer, answer_key),
            daemon=True,
            name="bench-slow-ai",
        )

    def __enter__(self) -> SlowChatServer:
        self._process.start()
        if not self._ready.wait(timeout=10):
            self._process.kill()
            raise RuntimeError("the fake AI server did not start within 10 s")
        return self

    def __exit__(self, *exc) -> None:
        self._process.kill()
        self._process.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port.value}/v1"

    def counts(self) -> dict[str, int]:
        return self._get("/_counts")

    def most_in_flight(self) -> int:
        return self._get("/_most_in_flight")

    def reset(self) -> None:
        self._get("/_reset")

    def _get(self, path: str):
        import httpx

        return httpx.get(f"http://127.0.0.1:{self._port.value}{path}", timeout=5).json()
