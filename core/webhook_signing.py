"""The signature of every webhook this site sends (the blog publisher's, a person's notifications'):

    X-Socialdesk-Timestamp: <unix seconds>
    X-Socialdesk-Signature: sha256=<hex HMAC-SHA256(key=secret, msg=f"{timestamp}.{raw body}")>

A receiver recomputes it over the raw body with the shared secret, compares in constant time, and
may refuse old timestamps (a replayed request).
"""

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Socialdesk-Timestamp"
SIGNATURE_HEADER = "X-Socialdesk-Signature"


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Socialdesk-Signature value of one request."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
