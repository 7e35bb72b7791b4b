"""Structured log lines, with secrets kept out of them.

`StructuredFormatter` writes one line per event, so a log shipper never splits an event in two:
logfmt by default (`ts=... level=info logger=core.reaper msg="..." key=value`), or JSON lines
with `LOG_FORMAT=json`. Values passed with `extra={...}` become fields; a traceback is folded into
the same line as `exc="Traceback ...\\n..."`.

`RedactSecrets` is a filter on the handler: before any formatter sees a record it formats the
message with its arguments, masks secrets in it (and in the traceback and string extras), and puts
the masked text back in the record, so every handler after it gets the clean version too. It masks

- bearer and API-key credentials (`Authorization: Bearer xxx`, `Bearer xxx`, `Api-Key xxx`) and
  whole `Cookie:` headers;
- values of secret-looking names in query strings, logfmt, JSON and dict reprs (`access_token=`,
  `password=`, `"api_key": "..."`, `'token': '...'`, `client_secret=` ...);
- passwords in URLs (`postgres://user:xxx@host`);
- the values of the secret settings themselves wherever they appear: SECRET_KEY, every key of
  FIELD_ENCRYPTION_KEYS, AI_API_KEY, ADMIN_PASSWORD, database passwords, the S3 secret key.

The patterns are a safety net, not the first defence: code still must not log credentials (the
platform and AI clients build their error messages without them). Sensitive `SystemConfig` values
live in the database and are not known here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

MASK = "***"
FORMATS = ("logfmt", "json")
# Shorter values are not masked as literal secrets: masking "admin" everywhere would wreck the log
# while protecting nothing worth having.
MIN_SECRET_LENGTH = 6

# Settings whose values are secrets (a string or a list of strings).
SECRET_SETTINGS = (
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "FIELD_ENCRYPTION_KEYS",
    "AI_API_KEY",
    "ADMIN_PASSWORD",
    "EMAIL_HOST_PASSWORD",
)

# A field name that holds a secret: it ends in one of these words (so `max_tokens` and
# `token_count` are not secrets, while `access_token`, `csrftoken` and `x-api-key` are).
_MASKED_WORDS = (
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|"
    r"(?:access|secret|private|client|encryption|signing)[_-]?keys?|cookie|credentials?|"
    r"signature|sessionid)"
)
# Extras named like this are masked whole (Authorization has its own pattern below, which keeps the
# scheme readable, so it is not one of the words above).
SECRET_NAME = re.compile(rf"[A-Za-z0-9_.-]*?(?:{_MASKED_WORDS}|authorization)", re.IGNORECASE)
_NAME = rf"(?<![A-Za-z0-9_-])[A-Za-z0-9_.-]*?{_MASKED_WORDS}(?![A-Za-z0-9_])"

_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    # Authorization: <scheme> <credentials>, in headers, reprs and JSON; the scheme stays readable.
    (
        re.compile(
            r"""(\bauthorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|api-key|digest)\s+)?)"""
            r"""(?!\*\*\*|(?:bearer|basic|token|api-key|digest)\s)[^\s"',;}]+""",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # Bearer tokens and this project's API keys wherever they appear.
    (re.compile(r"\b(Bearer|Api-Key)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {MASK}"),
    # A whole Cookie header: every cookie in it may be a session.
    (
        re.compile(r"""\b((?:set-)?cookie["']?\s*[:=]\s*)(["']?)(?!\*\*\*)[^"'\r\n]+""", re.IGNORECASE),
        rf"\1\2{MASK}",
    ),
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?!\*\*\*@)[^@\s/]+(@)", re.IGNORECASE), rf"\1{MASK}\2"),
    # name="quoted value" / 'name': 'value' / "name": "value".
    (
        re.compile(rf"""(["']?{_NAME}["']?\s*[:=]\s*)(["'])(?!\*\*\*\2)(?:\\.|(?!\2).)*\2""", re.IGNORECASE),
        rf"\1\2{MASK}\2",
    ),
    # name=value (query strings, logfmt, form bodies) and name: value.
    (
        re.compile(rf"""(["']?{_NAME}["']?\s*[:=]\s*)(?!\*\*\*)[^\s"'&,;)}}\]]+""", re.IGNORECASE),
        rf"\1{MASK}",
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the literal `secrets` and anything that looks like a credential masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def secret_values() -> list[str]:
    """The current values of the secret settings (read on every call: tests and reloads change them)."""
    from django.conf import settings

    if not settings.configured:
        return []
    values: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= MIN_SECRET_LENGTH:
                values.append(value)
        elif isinstance(value, list | tuple):
            for item in value:
                add(item)

    for name in SECRET_SETTINGS:
        add(getattr(settings, name, None))
    for database in getattr(settings, "DATABASES", {}).values():
        add(database.get("PASSWORD"))
    for storage in getattr(settings, "STORAGES", {}).values():
        add((storage.get("OPTIONS") or {}).get("secret_key"))
    return values


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}


class RedactSecrets(logging.Filter):
    """Mask secrets in a record's message, arguments, traceback and string extras (see the module)."""

    _traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, masked, rather than fail
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message, secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        for key, value in record_extras(record).items():
            if SECRET_NAME.fullmatch(key):
                setattr(record, key, MASK)
            elif isinstance(value, str):
                setattr(record, key, redact(value, secrets))
        return True


# Fields every line starts with; an extra of the same name is written with a trailing "_".
_CORE_FIELDS = ("ts", "level", "logger", "msg")
# Extras Django's loggers add that say nothing the line does not (runserver's own timestamp).
_DROPPED_EXTRAS = frozenset({"server_time"})
_LOGFMT_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_LOGFMT_NEEDS_QUOTES = re.compile(r'[\s="\\\x00-\x1f\x7f\u2028\u2029]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f\u2028\u2029]')


def _escape(match: re.Match) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


class StructuredFormatter(logging.Formatter):
    """One line per record: logfmt (`output="logfmt"`, the default) or a JSON object (`"json"`)."""

    def __init__(self, output: str = "logfmt", **kwargs):
        if output not in FORMATS:
            raise ValueError(f"Log format must be one of {', '.join(FORMATS)}, not {output!r}.")
        super().__init__(**kwargs)
        self.output = output

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record_extras(record).items():
            if key in _DROPPED_EXTRAS:
                continue
            if key == "request":
                value = _request_label(value)
                if value is None:
                    continue
            fields[f"{key}_" if key in fields else key] = value
        exc = record.exc_text
        if record.exc_info and not exc:
            exc = self.formatException(record.exc_info)
        if exc:
            fields["exc"] = exc
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        if self.output == "json":
            return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=_text)
        return " ".join(
            f"{_LOGFMT_KEY_UNSAFE.sub('_', key)}={_logfmt_value(key, value)}" for key, value in fields.items()
        )


def _timestamp(created: float) -> str:
    # UTC with milliseconds and a Z, whatever TIME_ZONE is: lines from several machines sort together.
    return datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _request_label(request: Any) -> str | None:
    """Django passes the HttpRequest (or, from runserver, a socket): name it by method and path only;
    its query string may hold credentials."""
    method, path = getattr(request, "method", None), getattr(request, "path", None)
    if isinstance(method, str) and isinstance(path, str):
        return f"{method} {path}"
    return None


def _text(value: Any) -> str:
    # Objects passed as extras are not strings when the filter sees them: mask their text here.
    return redact(str(value), secret_values())


def _logfmt_value(key: str, value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = value if isinstance(value, str) else _text(value)
    if key == "msg" or not text or _LOGFMT_NEEDS_QUOTES.search(text):
        return '"' + _TO_ESCAPE.sub(_escape, text) + '"'
    return text
