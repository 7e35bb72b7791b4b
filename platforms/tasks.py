"""django-q entry points of the platforms app: thin, they call services."""

import logging

from platforms.health import connections_health_check_all

logger = logging.getLogger(__name__)


def check_connections_health() -> dict[str, int]:
    """The daily connection health check (platforms/schedules.py)."""
    counts = connections_health_check_all()
    logger.info("Connection health check: %s", counts)
    return counts
