"""The OAuth 2.0 side of the X and LinkedIn fakes: an authorize endpoint and a token endpoint.

Written from RFC 6749 and 7636 and the networks' documentation:
- X (docs.x.com, "OAuth 2.0 Authorization Code Flow with PKCE"): GET /i/oauth2/authorize needs
  response_type=code, client_id, redirect_uri, scope, state, code_challenge and
  code_challenge_method (S256 or plain); POST /2/oauth2/token, form-encoded, a confidential client
  authenticating with HTTP Basic. Access tokens last 7,200 s; with `offline.access` a refresh token
  comes too and every refresh answers a new one, the old one no longer working. A bad code or
  refresh token is answered 400 {"error": "invalid_request", "error_description": "Value passed
  for the token was invalid."}, as X does; bad client credentials 401 {"error":
  "unauthorized_client", ...}.
- LinkedIn (Microsoft Learn, "Authorization Code Flow", "Programmatic Refresh Tokens"): GET
  /oauth/v2/authorization; POST /oauth/v2/accessToken with client_id and client_secret in the form.
  Access tokens last 60 days, refresh tokens a year; a refresh answers a new access token and the
  same refresh token. Refused grants are RFC 6749's 400 {"error": "invalid_grant"}; bad client
  credentials 401 {"error": "invalid_client"}.

The authorize endpoint has no consent page: it redirects at once to the redirect_uri with code and
state (or error=access_denied when `deny_next` is set). Knobs: `revoke()` withdraws every grant
(the refresh tokens stop working and the access token with them), `expire_access()` makes only the
access token stop working.
"""

import base64
import hashlib
import itertools
import secrets
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request, Response

from tests.fakes.base import json_response

CLIENT_ID = "fake-client-id-0123456789"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"


class OAuth2Grants:
    def __init__(
        self,
        *,
        on_access: Any,
        style: str,
        scopes: frozenset[str],
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
    ):
        self.style = style  # "x" or "linkedin"
        self.scopes = scopes
        self.client_id = client_id
        self.client_secret = client_secret
        self._on_access = on_access  # called with each new access token (the API accepts it)
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, bool] = {}  # token -> still valid
        self.deny_next = False
        self.token_requests: list[dict[str, str]] = []
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self.access_ttl = 7200 if style == "x" else 60 * 24 * 3600

    # Knobs ---------------------------------------------------------------------------------

    def revoke(self) -> None:
        with self._lock:
            for token in self.refresh_tokens:
                self.refresh_tokens[token] = False
        self._on_access(f"revoked-{secrets.token_hex(8)}")

    def expire_access(self) -> None:
        self._on_access(f"expired-{secrets.token_hex(8)}")

    def current_refresh_tokens(self) -> list[str]:
        return [token for token, valid in self.refresh_tokens.items() if valid]

    # Endpoints -----------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri") or ""
        problems = []
        if args.get("response_type") != "code":
            problems.append("response_type must be code")
        if args.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if not redirect_uri.startswith(("http://", "https://")):
            problems.append("redirect_uri is missing")
        requested = set((args.get("scope") or "").split())
        if not requested or not requested <= self.scopes:
            problems.append("scope is missing or unknown")
        challenge = args.get("code_challenge")
        method = args.get("code_challenge_method")
        if self.style == "x" and (not challenge or method not in ("S256", "plain")):
            problems.append("PKCE code_challenge and code_challenge_method are required")
        if problems:  # no redirect to a URI we cannot trust: an error page
            return Response("; ".join(problems), status=400, content_type="text/plain")
        state = args.get("state") or ""
        if self.deny_next:
            self.deny_next = False
            query = {"error": "access_denied", "state": state}
        else:
            code = f"code-{next(self._serial)}-{secrets.token_urlsafe(12)}"
            with self._lock:
                self.codes[code] = {
                    "redirect_uri": redirect_uri,
                    "challenge": challenge,
                    "method": method,
                    "scope": " ".join(sorted(requested)),
                    "used": False,
                }
            query = {"code": code, "state": state}
        separator = "&" if "?" in redirect_uri else "?"
        return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(query)}"})

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return json_response({"error": "invalid_request", "error_description": "Use POST."}, 405)
        if request.mimetype != "application/x-www-form-urlencoded":
            return self._invalid_request("Content-Type must be application/x-www-form-urlencoded.")
        form = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        self.token_requests.append({key: value for key, value in form.items() if key == "grant_type"})
        if not self._client_ok(request, form):
            error = "unauthorized_client" if self.style == "x" else "invalid_client"
            return json_response(
                {"error": error, "error_description": "Missing valid authorization header"}, 401
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._exchange_code(form)
        if grant == "refresh_token":
            return self._refresh(form)
        return json_response({"error": "unsupported_grant_type"}, 400)

    # Grants --------------------------------------------------------------------------------

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        if self.style == "x":
            header = request.headers.get("Authorization", "")
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            return header == f"Basic {expected}"
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def _exchange_code(self, form: dict[str, str]) -> Response:
        with self._lock:
            grant = self.codes.get(form.get("code") or "")
            if grant is None or grant["used"]:
                return self._bad_grant()
            grant["used"] = True  # a code works once, even when the rest is wrong
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._bad_grant()
        if grant["challenge"]:
            verifier = form.get("code_verifier") or ""
            if grant["method"] == "S256":
                digest = hashlib.sha256(verifier.encode()).digest()
                computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            else:
                computed = verifier
            if not verifier or computed != grant["challenge"]:
                return self._bad_grant()
        return self._issue(
            scope=grant["scope"], offline="offline.access" in grant["scope"] or self.style == "linkedin"
        )

    def _refresh(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token") or ""
        with self._lock:
            if not self.refresh_tokens.get(token):
                return self._bad_grant()
            if self.style == "x":  # rotation: the old refresh token is spent
                self.refresh_tokens[token] = False
        if self.style == "x":
            return self._issue(scope=" ".join(sorted(self.scopes)), offline=True)
        return self._issue(scope=" ".join(sorted(self.scopes)), offline=False, same_refresh=token)

    def _issue(self, *, scope: str, offline: bool, same_refresh: str | None = None) -> Response:
        access = f"{self.style}-access-{next(self._serial)}-{secrets.token_urlsafe(16)}"
        self._on_access(access)
        body: dict[str, Any] = {"access_token": access, "expires_in": self.access_ttl, "scope": scope}
        if self.style == "x":
            body["token_type"] = "bearer"
        refresh = same_refresh
        if refresh is None and offline:
            refresh = f"{self.style}-refresh-{next(self._serial)}-{secrets.token_urlsafe(16)}"
            with self._lock:
                self.refresh_tokens[refresh] = True
        if refresh is not None:
            body["refresh_token"] = refresh
            if self.style == "linkedin":
                body["refresh_token_expires_in"] = 365 * 24 * 3600
        return json_response(body)

    def _bad_grant(self) -> Response:
        if self.style == "x":
            return self._invalid_request("Value passed for the token was invalid.")
        return json_response(
            {
                "error": "invalid_grant",
                "error_description": (
                    "The provided authorization grant or refresh token is invalid, expired or revoked."
                ),
            },
            400,
        )

    def _invalid_request(self, description: str) -> Response:
        return json_response({"error": "invalid_request", "error_description": description}, 400)
