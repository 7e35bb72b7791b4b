"""django-q2 entry points of the accounts app."""

from accounts.services.rate_limits import rate_limits_prune


def prune_rate_limit_windows() -> int:
    """Delete rate-limit windows that have ended; returns how many rows went."""
    return rate_limits_prune()


def deliver_notification(delivery_id: int) -> str | None:
    """Send one notification delivery (email or webhook) if it is due; safe to run twice."""
    from accounts.services.notification_delivery import notification_delivery_send

    return notification_delivery_send(delivery_id=delivery_id)


def dispatch_notification_deliveries() -> int:
    """Queue the deliveries whose next attempt is due; returns how many."""
    from accounts.services.notification_delivery import notification_deliveries_dispatch_due

    return notification_deliveries_dispatch_due()
