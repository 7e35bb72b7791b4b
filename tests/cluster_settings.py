"""Settings for the `manage.py qcluster` processes a test starts (tests/core/test_multi_cluster.py).

tests.settings, with what production runs and the suite replaces: the queue served by the
clusters (not run synchronously in the caller), host pacing shared through the database at
PLATFORM_REQUESTS_PER_SECOND (the environment's, else the production default). The environment
also gives DATABASE_URL (the test's database), the AI_* settings and the encryption key.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "sync": False}
OUTBOUND_PACING = "database"
PLATFORM_REQUESTS_PER_SECOND = float(os.environ.get("PLATFORM_REQUESTS_PER_SECOND", "5"))
# Connections kept, as in production (tests.settings closes them after each request).
DATABASES["default"]["CONN_MAX_AGE"] = 60
