"""What a person's browser does between our authorize URL and our callback, against the fake
instance's own consent page (its HTML form, as served): for the service and view tests. The
browser tests click the same page in Chromium."""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx

HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def consent(authorize_url: str, *, decision: str = "approve") -> dict[str, str]:
    """Open the consent page, press Authorize (or Deny), and return the parameters the instance
    sends back to the redirect URI (code and state, or error and state)."""
    with httpx.Client(trust_env=False) as http:
        page = http.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = {name: unescape(value) for name, value in HIDDEN_FIELD.findall(page.text)}
        action = authorize_url.split("/oauth/authorize", 1)[0] + "/oauth/authorize"
        answer = http.post(action, data={**fields, "decision": decision})
    assert answer.status_code == 302, answer.text
    return callback_params(answer.headers["Location"])


def callback_params(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def authorize_params(authorize_url: str) -> dict[str, str]:
    return callback_params(authorize_url)
