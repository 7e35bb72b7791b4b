"""The project's settings for benchmarks: generated secrets, persistent connections, no debug."""

import os
import tempfile

from config.keys import generate_key

os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", generate_key())
os.environ["DEBUG"] = "false"

from config.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# clusters_scale gives the qcluster processes it starts the bench process's directory.
MEDIA_ROOT = os.environ.get("BENCH_MEDIA_ROOT") or tempfile.mkdtemp(prefix="socialdesk-bench-media-")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": True}
ROOT_URLCONF = "bench.urls"  # the project URLs plus the bare view of bench.api_list
