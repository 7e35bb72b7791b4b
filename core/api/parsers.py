"""The API's JSON parser: DRF's, refusing the bodies that would otherwise end in a 500.

- Nesting. Python's json parser recurses once per level, so 100,000 nested `[` (200 KB) raise
  RecursionError, and a body just under the interpreter's limit would raise it later, in a
  serializer or in the database adapter. No request of this API nests deeper than a few levels:
  anything deeper than `MAX_DEPTH` is a 400 `malformed_request`.
- Lone surrogates. JSON may spell a UTF-16 half (`"\\ud800"`) that is not a character; Python keeps
  it in the string, and it cannot be encoded as UTF-8 (by the renderer echoing it in an error, by
  the database storing it). Such a string, value or key, is a 400 naming where it is.
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

MESSAGE_TOO_DEEP = f"JSON parse error - the body nests deeper than {MAX_DEPTH} levels."
MESSAGE_SURROGATE = "Not valid Unicode text: it holds a lone surrogate (\\ud800-\\udfff)."


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(MESSAGE_TOO_DEEP) from None
        _check(data, may_hold_surrogates=bool(_SURROGATE_ESCAPE.search(raw)))
        return data


def _check(data: Any, *, may_hold_surrogates: bool) -> None:
    """Walk the parsed body without recursion: refuse depth beyond MAX_DEPTH and lone surrogates."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise exceptions.ParseError(MESSAGE_TOO_DEEP)
        if isinstance(value, dict):
            for key, item in value.items():
                if may_hold_surrogates and SURROGATE.search(key):
                    _refuse((*path, SURROGATE.sub("\ufffd", key)))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))
        elif may_hold_surrogates and isinstance(value, str) and SURROGATE.search(value):
            _refuse(path)


def _refuse(path: tuple[str, ...]) -> None:
    raise exceptions.ValidationError({".".join(path) or "non_field_errors": [MESSAGE_SURROGATE]})
