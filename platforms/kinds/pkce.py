"""What every OAuth sign-in of this project shares (fediverse instances, X, LinkedIn): a state
that travels in URLs and is kept only as its hash, and RFC 7636's PKCE pair."""

import base64
import hashlib
import secrets


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_verifier() -> str:
    """86 characters of the unreserved set (RFC 7636 allows 43 to 128)."""
    return secrets.token_urlsafe(64)


def state_hash(state: str) -> str:
    """What is stored of a state: its SHA-256, so a database read cannot replay a sign-in."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636's S256 challenge: base64url of the verifier's SHA-256, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
