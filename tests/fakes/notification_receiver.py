"""A receiver of Socialdesk's notification webhook, written from the contract a receiver implements
(accounts.services.notification_delivery, the user guide's "Notification webhook" section): it
checks X-Socialdesk-Signature, `sha256=` + hex HMAC-SHA256 with the shared secret of
"{X-Socialdesk-Timestamp}.{raw body}", compared in constant time, refuses timestamps more than five
minutes away (a replay), and dedupes by Idempotency-Key (a key seen before is answered 200 again,
not recorded twice).

    receiver = FakeNotificationReceiver(httpserver, secret=secret)
    receiver.fail_next(503, times=3)        # tests.fakes.base knobs, on POST receiver.path
    assert len(receiver.events) == 1

A bad signature is 401, a stale timestamp 400; those requests are counted in `receiver.refused`.
"""

import hashlib
import hmac
import time
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response

REPLAY_WINDOW_SECONDS = 300


class FakeNotificationReceiver(FakeHttpPlatform):
    prefix = r"^/notify/"
    post_path = "/notify/socialdesk"

    def __init__(self, httpserver, *, secret: str):
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self._seen_keys: set[str] = set()
        super().__init__(httpserver)
        self.path = self.post_path
        self.url = f"{self.base_url}{self.path}"

    def signature_valid(self, headers, raw_body: bytes) -> bool:
        timestamp = headers.get("X-Socialdesk-Timestamp") or ""
        expected = (
            "sha256="
            + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
        )
        return hmac.compare_digest(headers.get("X-Socialdesk-Signature") or "", expected)

    def signature_valid_for(self, recorded) -> bool:
        """Check a request of the log (tests.fakes.base.RecordedRequest) as the receiver did."""
        return self.signature_valid(recorded.headers, recorded.body)

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if method != "POST" or path != self.path:
            return json_response({"error": "not found"}, 404)
        if not self.signature_valid(request.headers, request.get_data()):
            self.refused.append("signature")
            return json_response({"error": "bad signature"}, 401)
        timestamp = request.headers.get("X-Socialdesk-Timestamp") or ""
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            self.refused.append("timestamp")
            return json_response({"error": "stale timestamp"}, 400)
        key = request.headers.get("Idempotency-Key") or ""
        with self._lock:
            if key and key in self._seen_keys:
                return json_response({"ok": True, "duplicate": True})
            self._seen_keys.add(key)
            self.events.append(body)
        return json_response({"ok": True})
