"""Domain errors: what a service raises when it refuses, in words every caller can use.

Services know nothing of HTTP. They raise a subclass of one of the kinds below, declared in their
app's `errors.py` with a stable `code` (a client may branch on it; never rename one). Each caller
turns it into its own answer: the API's exception handler (core/api/errors.py) into a status and
the one error format, the admin into a message or form error, a command into a CommandError.
"""


class DomainError(Exception):
    """A refusal with a stable `code` and a message fit to show a user."""

    code: str = "error"
    default_message: str = "The request could not be completed."
    # The API's status when a subclass must differ from its kind's (see core/api/errors.py).
    # Kept only to preserve statuses clients already rely on; new errors should not set it.
    http_status: int | None = None

    def __init__(self, message: str | None = None):
        self.message = self.default_message if message is None else str(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class Conflict(DomainError):
    """The object's current state does not allow this (409)."""

    code = "conflict"
    default_message = "The request conflicts with the current state of the resource."


class NotFound(DomainError):
    """No such object, or not one the actor may see: the two read the same (404)."""

    code = "not_found"
    default_message = "Not found."


class Invalid(DomainError):
    """The input cannot be used (400). `fields` maps a field name to its messages, when the fault
    lies in particular fields."""

    code = "invalid"
    default_message = "Invalid input."

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.fields = dict(fields or {})


class Unavailable(DomainError):
    """A service this needs failed or could not be reached (502); `retry_after` is the seconds it
    asked us to wait, when it said."""

    code = "unavailable"
    default_message = "A service this needs is unavailable; try again later."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(DomainError):
    """The actor may see the object but not do this to it (403)."""

    code = "permission_denied"
    default_message = "You do not have permission to perform this action."
