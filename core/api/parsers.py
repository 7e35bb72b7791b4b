"""The API's JSON parser: DRF's, refusing the bodies that would otherwise end in a 500.

- Nesting. Python's json parser recurses once per level, so 100,000 nested `[` (200 KB) raise
  RecursionError, and a body just under the interpreter's limit would raise it later, in a
  serializer or in the database adapter. No request of this API nests deeper than a few levels:
  anything deeper than `MAX_DEPTH` is a 400 `malformed_request`.
- Lone surrogates. JSON may spell a UTF-16 half (`"\\ud800"`) that is not a character; Python keeps
  it in the string, and it cannot be encoded as UTF-8 (by the renderer echoing it in an error, by
  the database storing it). Such a string, value or key, is a 400 naming where it is.
- NUL characters. JSON may spell one (`"\u0000"`); PostgreSQL stores none in text or jsonb, so a
  body holding one, in any value or key, is a 400 naming where it is, whatever field it is bound
  for (a free-form object such as a resource's metadata included).
"""

from __future__ import annotations

import io
import re
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# Deep enough for every body this API takes (a workflow's template fields, a scraping job's
# configuration), shallow enough that nothing after the parser can run out of stack.
MAX_DEPTH = 64
SURROGATE = re.compile(r"[\ud800-\udfff]")
# A body can only hold a surrogate if it spells one as an escape (raw UTF-8 cannot encode one).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Nor a NUL: the parser refuses raw control characters in strings.
_NUL_ESCAPE = b"\\u0000"
UNSTORABLE = re.compile(r"[\ud800-\udfff\x00]")

MESSAGE_TOO_DEEP = f"JSON parse error - the body nests deeper than {MAX_DEPTH} levels."
MESSAGE_SURROGATE = "Not valid Unicode text: it holds a lone surrogate (\\ud800-\\udfff)."
MESSAGE_NUL = "Text that cannot be stored: it holds a NUL character (\\u0000)."


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(MESSAGE_TOO_DEEP) from None
        may_hold_unstorable = bool(_SURROGATE_ESCAPE.search(raw)) or _NUL_ESCAPE in raw
        _check(data, may_hold_unstorable=may_hold_unstorable)
        return data


def _check(data: Any, *, may_hold_unstorable: bool) -> None:
    """Walk the parsed body without recursion: refuse depth beyond MAX_DEPTH, lone surrogates and
    NUL characters."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise exceptions.ParseError(MESSAGE_TOO_DEEP)
        if isinstance(value, dict):
            for key, item in value.items():
                if may_hold_unstorable and UNSTORABLE.search(key):
                    _refuse((*path, UNSTORABLE.sub("\ufffd", key)), text=key)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))
        elif may_hold_unstorable and isinstance(value, str) and UNSTORABLE.search(value):
            _refuse(path, text=value)


def _refuse(path: tuple[str, ...], *, text: str) -> None:
    message = MESSAGE_SURROGATE if SURROGATE.search(text) else MESSAGE_NUL
    raise exceptions.ValidationError({".".join(path) or "non_field_errors": [message]})
