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
- long opaque path segments of URLs and of access-log request lines, where webhooks carry their secret
  (`https://hooks.slack.com/services/T0/B0/<secret>`, `/api/webhooks/<id>/<token>`): a segment
  with a run of 16 or more letters and digits that mixes digits and letters or upper and lower case
  (numeric ids, UUIDs and word-like slugs stay readable);
- all of the above inside percent-encoded text too (`?next=/x%3Fapi_key%3D<key>`): a token holding
  `%XX` escapes is decoded (up to three times, for double encoding) and written decoded and masked
  when the decoded text holds a secret;
- the values of the secret settings themselves wherever they appear: SECRET_KEY, every key of
  FIELD_ENCRYPTION_KEYS, AI_API_KEY, ADMIN_PASSWORD, database passwords, the S3 secret key;
- the values of sensitive `SystemConfig` rows (`SENSITIVE_CONFIG`): a process-wide set, read from
  the database on first use and every `SensitiveConfigValues.REFRESH_SECONDS` after (so a value
  another process saved is known within a minute), and told at once by `core.services.config_set`
  about values this process saves. The read uses a connection of its own, so it never runs inside,
  or aborts, the transaction of the code that is logging.

The patterns are a safety net, not the first defence: code still must not log credentials (the
platform and AI clients build their error messages without them).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

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
    "X_CLIENT_SECRET",
    "LINKEDIN_CLIENT_SECRET",
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

_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_SEGMENT_CHARS = re.compile(r"[A-Za-z0-9_:~-]+")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{16,}")


def _opaque(segment: str) -> bool:
    """A path segment that reads like a key rather than a name (see the module docstring)."""
    if not _SEGMENT_CHARS.fullmatch(segment) or _UUID.fullmatch(segment):
        return False
    for run in _ALNUM_RUN.findall(segment):
        has_digit = any(char.isdigit() for char in run)
        has_letter = any(char.isalpha() for char in run)
        if (has_digit and has_letter) or (run != run.lower() and run != run.upper()):
            return True
    return False


def _mask_opaque_segments(match: re.Match) -> str:
    segments = match.group(2).split("/")
    return match.group(1) + "/".join(MASK if _opaque(segment) else segment for segment in segments)


_PATTERNS: tuple[tuple[re.Pattern, Any], ...] = (
    # Opaque path segments of URLs (webhook secrets): scheme://host, then the path up to ? or #.
    (
        re.compile(r"""(\b[a-z][a-z0-9+.-]*://[^\s/?#"'<>]*)(/[^\s?#"'<>]*)""", re.IGNORECASE),
        _mask_opaque_segments,
    ),
    # ... and in request lines without a host, as access logs write them ("POST /hooks/... HTTP/1.1";
    # no \b before the method: a coloured line has an escape code's letter right before it).
    (
        re.compile(r"""((?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) )(/[^\s?#"'<>]*)"""),
        _mask_opaque_segments,
    ),
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


# A run of text holding at least one percent escape (a URL, a form body, a query value).
_ENCODED = re.compile(r"""[^\s"'<>]*%[0-9A-Fa-f]{2}[^\s"'<>]*""")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the literal `secrets` and anything that looks like a credential masked."""
    secrets = sorted(secrets, key=len, reverse=True)
    if "%" in text:
        text = _ENCODED.sub(lambda match: _redact_encoded(match.group(), secrets), text)
    return _redact_plain(text, secrets)


def _redact_plain(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_encoded(token: str, secrets: list[str]) -> str:
    """The token as it was when it hides no secret; else decoded, with the secret masked."""
    decoded = token
    for _ in range(3):  # %253D is %3D is "="
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    if decoded == token:
        return token
    masked = _redact_plain(decoded, secrets)
    return token if masked == decoded else masked


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
    values.extend(SENSITIVE_CONFIG.values())
    return values


class SensitiveConfigValues:
    """The values of sensitive `SystemConfig` rows this process knows, to mask in every record."""

    REFRESH_SECONDS = 60.0
    # After a failed read (no table yet before `migrate`, the database down): try again soon.
    RETRY_SECONDS = 5.0

    def __init__(self):
        self._values: frozenset[str] = frozenset()
        self._next_read = 0.0  # monotonic time of the next read; 0: never read
        self._lock = threading.Lock()
        self._reading = threading.local()

    def values(self) -> frozenset[str]:
        if time.monotonic() >= self._next_read and not getattr(self._reading, "active", False):
            self._read()
        return self._values

    def add(self, value: str | None) -> None:
        """Known from now on in this process (the service calls this on every sensitive write)."""
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            with self._lock:
                self._values = self._values | {value}

    def forget(self) -> None:
        """Drop what is known and read again on next use (tests)."""
        with self._lock:
            self._values, self._next_read = frozenset(), 0.0

    def _read(self) -> None:
        from django.apps import apps

        if not apps.ready:
            return
        # A record logged while reading (the database backend's own debug lines) must not read again.
        self._reading.active = True
        try:
            with self._lock:
                if time.monotonic() < self._next_read:
                    return  # another thread has just read
                try:
                    found = _read_sensitive_config()
                except Exception:  # logging must go on whatever the database says
                    self._next_read = time.monotonic() + self.RETRY_SECONDS
                    return
                # Values stay known once seen: an old secret masked does no harm, and a value this
                # process saved but has not committed yet must not be dropped by a read.
                self._values = self._values | {v for v in found if len(v) >= MIN_SECRET_LENGTH}
                self._next_read = time.monotonic() + self.REFRESH_SECONDS
        finally:
            self._reading.active = False


def _read_sensitive_config() -> set[str]:
    """Every sensitive value, decrypted, through a connection of its own: the caller may be in a
    transaction (a failed query would abort it) or counting its queries."""
    from django.db import DEFAULT_DB_ALIAS, connections

    from core import crypto
    from core.models import SystemConfig

    connection = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        table = connection.ops.quote_name(SystemConfig._meta.db_table)
        column = connection.ops.quote_name(SystemConfig._meta.get_field("secret_value").column)
        flag = connection.ops.quote_name(SystemConfig._meta.get_field("is_sensitive").column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {column} FROM {table} WHERE {flag} = %s", [True])  # noqa: S608
            rows = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    values = set()
    for encrypted in rows:
        if not encrypted:
            continue
        try:
            values.add(crypto.decrypt(encrypted))
        except Exception:  # noqa: S112 - a row under a retired key (rotate_encryption_key)
            continue
    return values


SENSITIVE_CONFIG = SensitiveConfigValues()


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
                value = _text(value)  # the path may hold a secret too (a sensitive value, a webhook's)
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
