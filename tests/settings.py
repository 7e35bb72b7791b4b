"""Settings for the test suite: the project's settings with generated secrets.

Tests never need a `.env`: a fresh encryption key is generated per run unless
one is given, and DATABASE_URL (when set) selects PostgreSQL.
"""

import os
import tempfile

from config.keys import generate_key

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", generate_key())
os.environ.setdefault("DEBUG", "false")

from config.settings import *  # noqa: F403
from config.settings import DATABASES, Q_CLUSTER

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
MEDIA_ROOT = tempfile.mkdtemp(prefix="socialdesk-test-media-")
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].get("OPTIONS", {}).pop("init_command", None)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = tempfile.mkdtemp(prefix="socialdesk-test-static-")
# Outbound pacing is tested with its own throttles; the shared one must not slow the suite.
PLATFORM_REQUESTS_PER_SECOND = 10_000.0
# Tests fetch pages from local servers (pytest-httpserver on 127.0.0.1).
OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
# The scraper's politeness delay is tested with an injected clock; other tests must not wait.
SCRAPING_POLITENESS_DELAY = 0.0
# Pacing turns in each pacer's memory, on the clock the test injects (fake clocks stay exact, and
# the suite's many threads do not write to the database). The shared database pacing is tested
# on its own (tests/core/test_pacing.py, tests/scraping/test_pacing_workers.py).
OUTBOUND_PACING = "local"
