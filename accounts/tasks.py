"""django-q2 entry points of the accounts app."""

from accounts.services.rate_limits import rate_limits_prune


def prune_rate_limit_windows() -> int:
    """Delete rate-limit windows that have ended; returns how many rows went."""
    return rate_limits_prune()
