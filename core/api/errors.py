"""One error format for every API response that is not a success:

    {"error": {"code": "...", "message": "...", "fields": {...}}}

`fields` maps a field name (dotted for nested input) to its list of messages; it is
present, possibly empty, on every error.

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
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = error_code = "conflict"


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


def api_exception_handler(exc, context):
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
    return JsonResponse(error_body(status_code=404, message="Not found."), status=404)
