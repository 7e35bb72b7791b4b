"""One error format for every API response that is not a success:

    {"error": {"code": "...", "message": "...", "fields": {...}}}

`fields` maps a field name (dotted for nested input) to its list of messages; it is
present, possibly empty, on every error.

Services raise domain errors (core/errors.py), not HTTP ones: the handler gives each kind its
status (Invalid 400, Forbidden 403, NotFound 404, Conflict 409, Unavailable 502, a bare
DomainError 400; a subclass's `http_status` wins) and the error's own `code` and message.

Messages may echo the input (`"x" is not a valid choice.`, `"x" is not a valid UUID.`, a field
name). Input can hold characters no encoding can write (a lone UTF-16 surrogate from a JSON
`"\\ud800"`), which would make the renderer fail and the error a 500: every message and field name
passes through `encodable()` first, whatever field or code produced it.
"""

import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from core import errors

# Each kind of domain error (core/errors.py) and its status; a subclass may override with
# `http_status` (e.g. 503 for a backend that is down rather than answering badly).
STATUSES = (
    (errors.Invalid, 400),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Unavailable, 502),
)
# Every 404 reads the same, whatever the service said: "not yours" must not differ from "no such".
NOT_FOUND_MESSAGE = "Not found."

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"field": [...], "items.0.name": [...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


_UNENCODABLE = re.compile(r"[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with lone surrogates (the only code points UTF-8 cannot write) replaced by U+FFFD."""
    return _UNENCODABLE.sub("\ufffd", text)


def error_body(
    *, status_code: int, message: str, code: str | None = None, fields: dict | None = None
) -> dict:
    fields = {
        encodable(str(name)): [encodable(str(item)) for item in messages]
        for name, messages in (fields or {}).items()
    }
    return {
        "error": {
            "code": code or CODES.get(status_code, "error"),
            "message": encodable(str(message)),
            "fields": fields,
        }
    }


def _domain_status(exc: errors.DomainError) -> int:
    if exc.http_status is not None:
        return exc.http_status
    return next((status for kind, status in STATUSES if isinstance(exc, kind)), 400)


def _as_api_exception(exc: errors.DomainError) -> exceptions.APIException:
    """The domain error as DRF's exception, so DRF's handler does what it does for every error
    (rollback of an atomic request, the Retry-After header); the body is written below."""
    api = exceptions.APIException(detail=exc.message)
    api.status_code = _domain_status(exc)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        api.wait = max(1, round(retry_after))  # becomes Retry-After
    return api


def api_exception_handler(exc, context):
    if isinstance(exc, errors.DomainError):
        response = drf_exception_handler(_as_api_exception(exc), context)
        message = NOT_FOUND_MESSAGE if isinstance(exc, errors.NotFound) else exc.message
        # Invalid names its fields; a conflict may too (the images whose alt text is not approved).
        fields = _flatten(exc.fields) if getattr(exc, "fields", None) else {}
        response.data = error_body(
            status_code=response.status_code, message=message, code=exc.code, fields=fields
        )
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    fields: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = "Invalid input." if fields else "Invalid request."
        if set(fields) == {"non_field_errors"}:
            message = fields["non_field_errors"][0]
        code = "invalid"
    elif isinstance(exc, exceptions.ParseError):
        message, code = str(exc.detail), "malformed_request"
    else:
        message = str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)
        # Project exceptions may name a more precise code (e.g. "locked_out", "scope_missing").
        code = getattr(exc, "error_code", None) or CODES.get(response.status_code, "error")
    response.data = error_body(status_code=response.status_code, message=message, code=code, fields=fields)
    return response


@csrf_exempt  # a POST to an unknown URL is a JSON 404, not CSRF's HTML 403
@csrf_exempt
def json_not_found(request, exception=None):
    """404 for unknown /api/ URLs in the same format (Django's handler404 serves HTML elsewhere)."""
    return JsonResponse(error_body(status_code=404, message=NOT_FOUND_MESSAGE), status=404)
