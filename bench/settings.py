"""The project's settings for benchmarks: generated secrets, persistent connections, no debug."""

import os
import tempfile

from config.keys import generate_key

os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", generate_key())
os.environ["DEBUG"] = "false"

from config.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# One folder for the run: the servers and clusters a benchmark starts (gunicorn, qcluster)
# inherit it, and read the files the benchmark stored.
MEDIA_ROOT = os.environ.get("BENCH_MEDIA_ROOT") or tempfile.mkdtemp(prefix="socialdesk-bench-media-")
os.environ["BENCH_MEDIA_ROOT"] = MEDIA_ROOT
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": True}
ROOT_URLCONF = "bench.urls"  # the project URLs plus the bare view of bench.api_list

# Every fake outside service in the benchmarks listens on loopback, which the outbound guard
# refuses in production; the tests open it the same way.
OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
