"""The platforms app's domain errors (see core/errors.py); the codes are part of the API."""

from core.errors import Conflict, Invalid, NotFound, Unavailable


class ConnectionNotFound(NotFound):
    default_message = "No such connection."


class ConnectionConflict(Conflict):
    """A concurrent change won (a constraint, a delete), or the connection is still in use."""

    code = "conflict"


class VerificationFailed(Invalid):
    """The platform answered and refused the credentials."""

    code = "verification_failed"
    default_message = "The platform did not accept these credentials."


class VerificationUnsupported(Invalid):
    code = "verification_unsupported"
    default_message = (
        "Verification is available for Mastodon-compatible platforms, X, LinkedIn, WordPress and Bluesky."
    )


class PlatformUnavailable(Unavailable):
    """The platform could not be asked: timeout, network error, 429, 5xx or a malformed answer."""

    code = "platform_unavailable"
    default_message = "The platform could not be reached or gave an unusable answer; try again later."


class SignInRefused(Invalid):
    """A fediverse sign-in could not finish: the callback's state is unknown, expired, already used
    or another person's; the person declined; or the instance refused the registration or the code."""

    code = "sign_in_refused"
    default_message = "The sign-in could not be completed; start again."
