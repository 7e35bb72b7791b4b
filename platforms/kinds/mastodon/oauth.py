"""Signing in to a Mastodon-compatible instance with OAuth 2 (docs.joinmastodon.org: methods/apps,
methods/oauth, spec/oauth): the wire calls, one request each, no retry (a person is waiting).

- `register_application`: POST /api/v1/apps (client_name, redirect_uris, scopes, website) -> the
  client id and secret.
- `announces_pkce`: GET /.well-known/oauth-authorization-server (RFC 8414; Mastodon >= 4.3):
  whether `code_challenge_methods_supported` lists S256. A server without the document (404, or
  no usable JSON) does not announce PKCE.
- `authorize_url`: where the person is sent ({instance}/oauth/authorize?...).
- `exchange_code`: POST /oauth/token (grant_type authorization_code) -> the access token.
- `revoke_token`: POST /oauth/revoke (client_id, client_secret, token).

Every request goes through the outbound guard (`core.urlguard.guarded_client`). Failures are the
classes of `platforms.kinds.common`: PlatformAuthError when the server refused (4xx, with its own
reason, secrets masked), PlatformUnavailableError when it could not be asked usefully (network
error, timeout, 429, 5xx, a body that is not the expected JSON); the guard's refusal is a plain
PlatformError.
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from core.urlguard import OutboundRefused, guarded_client
from platforms.kinds.common import (
    DEFAULT_TIMEOUT,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
    server_reason,
)
from platforms.kinds.mastodon.client import USER_AGENT

DISCOVERY_PATH = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True)
class RegisteredApplication:
    client_id: str
    client_secret: str


def authorize_url(
    *,
    instance_url: str,
    client_id: str,
    redirect_uri: str,
    scopes: str,
    state: str,
    code_challenge: str | None,
) -> str:
    """{instance}/oauth/authorize with the parameters of Mastodon's documentation; the PKCE
    challenge only when there is one."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes,
        "state": state,
    }
    if code_challenge:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    return f"{instance_url.rstrip('/')}/oauth/authorize?{urlencode(params)}"


def register_application(
    *,
    instance_url: str,
    client_name: str,
    redirect_uri: str,
    scopes: str,
    website: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> RegisteredApplication:
    """POST /api/v1/apps: register the project on the instance."""
    response = _post(
        instance_url,
        "/api/v1/apps",
        data={
            "client_name": client_name,
            "redirect_uris": redirect_uri,
            "scopes": scopes,
            "website": website,
        },
        timeout=timeout,
        what="registering the application",
        secrets=(),
    )
    body = _json_object(response, instance_url=instance_url, what="the application registration")
    client_id, client_secret = body.get("client_id"), body.get("client_secret")
    if (
        not isinstance(client_id, str)
        or not client_id
        or not isinstance(client_secret, str)
        or not client_secret
    ):
        raise PlatformUnavailableError(
            f"{_host(instance_url)} answered the application registration without a client id and secret.",
            status=response.status_code,
        )
    return RegisteredApplication(client_id=client_id, client_secret=client_secret)


def announces_pkce(*, instance_url: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether the instance's authorization server metadata lists S256 among
    `code_challenge_methods_supported`. No document (404 or another refusal) or a document that is
    not JSON: no. An instance that cannot be reached raises PlatformUnavailableError."""
    response = _request(
        "GET", instance_url, DISCOVERY_PATH, timeout=timeout, what="its OAuth server metadata"
    )
    if response.status_code >= 500 or response.status_code == 429:
        raise _error_for(response, instance_url=instance_url, what="its OAuth server metadata", secrets=())
    if not response.is_success:
        return False
    try:
        metadata = response.json()
    except ValueError:
        return False
    methods = metadata.get("code_challenge_methods_supported") if isinstance(metadata, dict) else None
    return isinstance(methods, list) and "S256" in methods


def exchange_code(
    *,
    instance_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    scopes: str,
    code_verifier: str | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """POST /oauth/token with grant_type authorization_code: the access token."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "scope": scopes,
    }
    if code_verifier:
        data["code_verifier"] = code_verifier
    secrets = (client_secret, code, code_verifier or "")
    response = _post(
        instance_url, "/oauth/token", data=data, timeout=timeout, what="exchanging the code", secrets=secrets
    )
    body = _json_object(response, instance_url=instance_url, what="the token exchange")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise PlatformUnavailableError(
            f"{_host(instance_url)} answered the token exchange without an access token.",
            status=response.status_code,
        )
    return token


def revoke_token(
    *, instance_url: str, client_id: str, client_secret: str, token: str, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """POST /oauth/revoke: the token stops working on the instance."""
    _post(
        instance_url,
        "/oauth/revoke",
        data={"client_id": client_id, "client_secret": client_secret, "token": token},
        timeout=timeout,
        what="revoking the token",
        secrets=(client_secret, token),
    )


# Wire ------------------------------------------------------------------------------------------


def _host(instance_url: str) -> str:
    return instance_url.split("://", 1)[-1].rstrip("/")


def oauth_http(*, instance_url: str, timeout: float) -> httpx.Client:
    """The HTTP client for the sign-in calls to one instance (no token yet), through the outbound
    guard; building it makes no request."""
    return guarded_client(
        base_url=instance_url.rstrip("/"),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


def _request(
    method: str, instance_url: str, path: str, *, timeout: float, what: str, data: dict | None = None
) -> httpx.Response:
    try:
        with oauth_http(instance_url=instance_url, timeout=timeout) as http:
            return http.request(method, path, data=data)
    except OutboundRefused as exc:
        raise PlatformError(str(exc)) from None
    except httpx.TimeoutException:
        raise PlatformUnavailableError(
            f"{_host(instance_url)} did not answer within {timeout:g} s ({what}); try again later."
        ) from None
    except httpx.HTTPError:
        raise PlatformUnavailableError(
            f"{_host(instance_url)} could not be reached ({what}): check the address, or try again later."
        ) from None


def _post(instance_url: str, path: str, *, data: dict, timeout: float, what: str, secrets) -> httpx.Response:
    response = _request("POST", instance_url, path, timeout=timeout, what=what, data=data)
    if not response.is_success:
        raise _error_for(response, instance_url=instance_url, what=what, secrets=secrets)
    return response


def _error_for(response: httpx.Response, *, instance_url: str, what: str, secrets) -> PlatformError:
    status = response.status_code
    reason = server_reason(response, secrets=[s for s in secrets if s])
    said = f" The server said: {reason}" if reason else ""
    host = _host(instance_url)
    if status == 429:
        return PlatformUnavailableError(
            f"{host} is rate-limiting requests (HTTP 429); try again later.", status=429
        )
    if status >= 500:
        return PlatformUnavailableError(
            f"{host} failed while {what} (HTTP {status}); try again later.{said}", status=status
        )
    if status == 404:
        return PlatformAuthError(
            f"{host} has no Mastodon-compatible OAuth endpoint for {what} (HTTP 404): check the "
            "instance address and the kind of server.",
            status=404,
        )
    return PlatformAuthError(f"{host} refused {what} (HTTP {status}).{said}", status=status)


def _json_object(response: httpx.Response, *, instance_url: str, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if not isinstance(body, dict):
        raise PlatformUnavailableError(
            f"{_host(instance_url)} answered {what} with something that is not a JSON object.",
            status=response.status_code,
        )
    return body
