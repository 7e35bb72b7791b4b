"""A fake OpenAI-compatible chat server in a process of its own, answering after a fixed latency.

A real AI server is another machine: its work does not compete with ours for this process's GIL.
Served from a thread of the measured process, the fake's own request handling (parsing a body
with a base64 image, writing the answer) took a share of the interpreter that grew with the
concurrency being measured. Here it runs in a forked child (`ThreadingHTTPServer`, one thread per
connection, so calls overlap), speaks HTTP/1.1 with keep-alive as real servers do, and counts the
calls it answered per `answer_key` so a benchmark can check that nothing was asked twice.

    with SlowChatServer(latency=0.2, answer=lambda body: "A red square.") as server:
        settings.AI_BASE_URL = server.base_url   # http://127.0.0.1:<port>/v1
        ...
        server.counts()                          # {"<key>": calls, ...}
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


def _serve(ready, port_value, latency: float, answer: Answer, answer_key: AnswerKey | None) -> None:
    counts: Counter[str] = Counter()
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
            if self.path != "/_counts":
                self._send(404, b'{"error": "not found"}')
                return
            with lock:
                body = json.dumps(dict(counts)).encode()
            self._send(200, body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                self._send(404, b'{"error": "not found"}')
                return
            time.sleep(latency)
            with lock:
                counts[answer_key(request) if answer_key else "calls"] += 1
            self._send(200, _completion(answer(request), request.get("model", "bench")))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_value.value = server.server_address[1]
    ready.set()
    server.serve_forever(poll_interval=0.05)


class SlowChatServer:
    def __init__(self, *, latency: float, answer: Answer, answer_key: AnswerKey | None = None):
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
        import httpx

        return httpx.get(f"http://127.0.0.1:{self._port.value}/_counts", timeout=5).json()
