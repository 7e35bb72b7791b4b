"""drf-spectacular post-processing: document the error responses every operation can give.

DRF views answer 400, 401, 403, 404, 409 and 429 in the one error format
(core.api.errors); spectacular only documents successes, so clients (and schemathesis)
would otherwise see undocumented status codes.
"""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each offending field.",
    "401": "Missing, unknown, expired or revoked credentials.",
    "403": "Authenticated, but the role or API-key scopes do not allow this.",
    "404": "No such object, or not one the caller may see.",
    "409": "Conflicts with the current state.",
    "429": "Rate limit reached; see Retry-After.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in DESCRIPTIONS.items():
                if code == "409" and method not in WRITE_METHODS:
                    continue
                operation["responses"].setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    return result
