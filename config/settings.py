"""Settings, all read from the environment (or `.env`) with django-environ.

See `.env.example` for every variable and its default.
"""

import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.keys import KeyConfigError, parse_keys

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is not set. `make run` writes a .env with one; see .env.example.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Field encryption: the first key encrypts, every key decrypts (MultiFernet).
# PLATFORM_ENCRYPTION_KEY is the name the caption seed (Vedfolnir) used.
_key_var = "FIELD_ENCRYPTION_KEYS"
if not env.str(_key_var, default="") and env.str("PLATFORM_ENCRYPTION_KEY", default=""):
    _key_var = "PLATFORM_ENCRYPTION_KEY"
try:
    FIELD_ENCRYPTION_KEYS = parse_keys(env.str(_key_var, default=""), source=_key_var)
except KeyConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None

INSTALLED_APPS = [
    "core.apps.AdminConfig",  # django.contrib.admin with our site (core.admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_q",
    "core",
    "accounts",
    "platforms",
    "captions",
    "workflows",
    "scraping",
    "generation",
    "console",  # wires the apps together (dashboard, demo, bootstrap, serve, health)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside WhiteNoise, so static files get their (strict) policy too.
    "core.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserSessionMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.throttling.RateLimitHeadersMiddleware",
    # Last, as django-axes requires: it turns lockouts raised during authentication into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.notifications",
            ],
        },
    },
]

# Database: SQLite in var/ by default, PostgreSQL (psycopg 3) through DATABASE_URL.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids
    # "database is locked" on read-then-write transactions.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The django-q2 monitor needs a cache shared between processes.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://django_cache")}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out accounts and IPs before any password check.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.UsernameOrEmailBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": env.str("STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# S3 or MinIO (pip install '.[s3]', STORAGE_BACKEND=storages.backends.s3.S3Storage): scraped
# artifacts and generated persona images go to the bucket; downloads are still streamed through
# the API, which checks who may read them.
if STORAGES["default"]["BACKEND"].startswith("storages.backends.s3"):
    if not env.str("S3_BUCKET", default=""):
        raise ImproperlyConfigured("S3_BUCKET must be set when STORAGE_BACKEND is an S3 storage.")
    STORAGES["default"]["OPTIONS"] = {
        "bucket_name": env.str("S3_BUCKET"),
        "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,  # MinIO: http://minio:9000
        "region_name": env.str("S3_REGION", default="") or None,
        "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
        "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
        "default_acl": None,
        "querystring_auth": True,
    }
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.ApiKeyScopes",
        "accounts.permissions.ViewersReadOnly",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.DatabaseRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "socialdesk API",
    "DESCRIPTION": (
        "Alt text, repurposing, image generation, scraping and persona datasets. Authenticate with "
        "`Authorization: Bearer <token>` (from /api/v1/auth/login/) or `Authorization: Api-Key <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI are public: they describe the API, they grant nothing.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Choice sets that share a field name ("status", "type") or appear under two ("platform",
    # "platforms") get a name of their own; without one drf-spectacular invents a hashed name
    # (Status043Enum) and warns (drf_spectacular.W001) on every `check --deploy`.
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "captions.models.ImageStatus",
        "WorkflowStatusEnum": "workflows.models.WorkflowStatus",
        "WorkflowPlatformEnum": "workflows.models.Platform",
        "PlatformStateStatusEnum": "workflows.models.PlatformStatus",
        "PublishingJobStatusEnum": "workflows.models.PublishingStatus",
        "ResourceTypeEnum": "workflows.models.ResourceType",
        "ScrapingJobStatusEnum": "scraping.models.JobStatus",
        # Caption tasks and image prompts share one set (queued, running, completed, failed, cancelled).
        "QueuedTaskStatusEnum": "captions.models.TaskStatus",
        "ConfigTypeEnum": "core.models.ConfigType",
        # Where a workflow's attachment is taken from instead of an upload; drafts keep the name
        # their `source` always had.
        "MediaSourceEnum": ["generated", "persona"],
        "SourceEnum": "workflows.models.DraftSource",
        # Every network a connection may be; and the ones people connect by signing in (platforms.oauth2).
        "PlatformTypeEnum": "platforms.models.PlatformType",
        "OAuth2PlatformTypeEnum": [("x", "X"), ("linkedin", "LinkedIn")],
        "ConnectionHealthEnum": "platforms.models.ConnectionHealth",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
}

# Sessions and tokens.
API_TOKEN_TTL = env.int("API_TOKEN_TTL_HOURS", default=14 * 24) * 3600
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)
# A token or browser session used from a client (User-Agent family + /24 or /48 network) other than
# the one it was created from is audited and marked; "revoke" also ends it at once. Checked at
# startup (accounts.checks).
SESSION_FINGERPRINT_ACTION = env.str("SESSION_FINGERPRINT_ACTION", default="record").strip().lower()

# Rate limits per endpoint scope: "<requests>/<window>", window in s, m, h or d.
RATE_LIMITS = {
    "auth": env.str("RATE_LIMIT_AUTH", default="10/5m"),
    "api": env.str("RATE_LIMIT_API", default="1000/h"),
    "search": env.str("RATE_LIMIT_SEARCH", default="50/5m"),
    "admin": env.str("RATE_LIMIT_ADMIN", default="500/h"),
}

# Brute-force protection on login (django-axes): N failures per account or per IP within
# the window lock that account or IP out for the cool-off.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"

# django-q2 delivers at least once: timeout < retry, bounded attempts, failures kept.
# A queue of short tasks drains at the pace of the cluster's one monitor and one pusher, so each
# round trip they make per task counts (benchmark `queue_drain`):
# - save_limit 0: the monitor keeps every success record and the daily cleanup prunes them to the
#   newest RETENTION_Q_SUCCESS_KEEP (policy `core.q_success`). With a limit N > 0 the monitor
#   instead locks and loads all N records (pickled payloads included) in a transaction before
#   saving each result: at the former 1000 that held a full queue to a few dozen tasks a second.
# - bulk = workers: one SELECT locks a task for each worker. Locked tasks wait in the cluster's
#   local queue (workers squared) plus the pusher's hand, so this keeps the few tasks a long job
#   holds back from another cluster (and redelivered after `retry`) few.
_q_workers = env.int("Q_WORKERS", default=2)
Q_CLUSTER = {
    "name": "socialdesk",
    "orm": "default",
    # django-q2's ORM broker with one statement per dequeue on PostgreSQL (core.queue_broker).
    "broker_class": "core.queue_broker.DatabaseBroker",
    "workers": _q_workers,
    "bulk": max(1, _q_workers),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=360),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "save_limit": env.int("Q_SAVE_LIMIT", default=0),
    "ack_failures": True,
    "catch_up": False,
    "poll": env.float("Q_POLL", default=0.5),
    "label": "Background tasks",
    "log_level": env.str("Q_LOG_LEVEL", default="WARNING"),
}
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_TIMEOUT must be lower than Q_RETRY, or django-q2 runs tasks twice.")

# AI backends (core.ai): "builtin" is offline and rule-based; "openai" is any OpenAI-compatible
# server (Ollama's /v1 by default). AI_API_KEY is a secret: a sensitive SystemConfig `ai_api_key`
# takes precedence, and neither is ever logged.
AI_BACKEND = env.str("AI_BACKEND", default="builtin")
AI_BASE_URL = env.str("AI_BASE_URL", default="http://127.0.0.1:11434/v1")
AI_API_KEY = env.str("AI_API_KEY", default="")
AI_TIMEOUT = env.float("AI_TIMEOUT", default=60.0)
AI_VISION_MODEL = env.str("AI_VISION_MODEL", default="llava:7b")
AI_VISION_BACKUP_MODEL = env.str("AI_VISION_BACKUP_MODEL", default="llava:13b-v1.6")
AI_TEXT_MODEL = env.str("AI_TEXT_MODEL", default="llama3.1:8b")
# Image backends (generation.backends): "builtin" draws a deterministic, marked-synthetic picture
# offline; "openai" is an OpenAI-compatible /images/generations server at AI_BASE_URL (key as
# above); "imagefx" is Google ImageFX with the user's labs.google cookie (an `imagefx` platform
# connection). The two ImageFX base URLs are settings so tests point them at local fakes.
IMAGE_BACKEND = env.str("IMAGE_BACKEND", default="builtin")
IMAGE_TIMEOUT = env.float("IMAGE_TIMEOUT", default=120.0)
IMAGE_OPENAI_MODEL = env.str("IMAGE_OPENAI_MODEL", default="gpt-image-1")
# Variations of a reference image through /images/edits (not every compatible server has it);
# false: the prompt alone is sent, and the result's metadata says the reference was not used.
IMAGE_OPENAI_EDITS = env.bool("IMAGE_OPENAI_EDITS", default=False)
IMAGEFX_LABS_URL = env.str("IMAGEFX_LABS_URL", default="https://labs.google/fx")
IMAGEFX_API_URL = env.str("IMAGEFX_API_URL", default="https://aisandbox-pa.googleapis.com")
# Prompt generation: transient backend failures are retried by re-queueing, this many times at most.
IMAGE_GENERATION_MAX_ATTEMPTS = env.int("IMAGE_GENERATION_MAX_ATTEMPTS", default=3)
# Caption tasks: images captioned at once per task; a running task silent this long is taken back.
# Requests a second to one fediverse instance (or its media host), shared by every worker process
# and machine (core.pacing); a Retry-After from the host pauses them all.
PLATFORM_REQUESTS_PER_SECOND = env.float("PLATFORM_REQUESTS_PER_SECOND", default=5.0)
# Where the next allowed request time per host is kept (core.pacing): "database", shared by every
# worker process and machine. "local" (per pacer, in memory) exists for tests with fake clocks.
OUTBOUND_PACING = "database"
CAPTION_CONCURRENCY = env.int("CAPTION_CONCURRENCY", default=4)
CAPTION_TASK_TIMEOUT_MINUTES = env.int("CAPTION_TASK_TIMEOUT_MINUTES", default=60)
# Publishing jobs: attempts before a job fails for good (transient failures wait and retry); a job
# left publishing with no heartbeat for this many seconds is taken back (its worker died).
PUBLISHING_MAX_ATTEMPTS = env.int("PUBLISHING_MAX_ATTEMPTS", default=3)
PUBLISHING_JOB_TIMEOUT = env.int("PUBLISHING_JOB_TIMEOUT", default=300)
# X and LinkedIn connections by OAuth 2.0 (authorisation code with PKCE, platforms.oauth2): the
# operator's app credentials (developer.x.com, LinkedIn developer portal). Empty: only pasted
# tokens. The endpoints are settings so tests (and a proxy) can point them elsewhere.
X_CLIENT_ID = env.str("X_CLIENT_ID", default="")
X_CLIENT_SECRET = env.str("X_CLIENT_SECRET", default="")
X_OAUTH_AUTHORIZE_URL = env.str("X_OAUTH_AUTHORIZE_URL", default="https://x.com/i/oauth2/authorize")
X_OAUTH_TOKEN_URL = env.str("X_OAUTH_TOKEN_URL", default="https://api.x.com/2/oauth2/token")
X_API_URL = env.str("X_API_URL", default="https://api.x.com")
LINKEDIN_CLIENT_ID = env.str("LINKEDIN_CLIENT_ID", default="")
LINKEDIN_CLIENT_SECRET = env.str("LINKEDIN_CLIENT_SECRET", default="")
LINKEDIN_OAUTH_AUTHORIZE_URL = env.str(
    "LINKEDIN_OAUTH_AUTHORIZE_URL", default="https://www.linkedin.com/oauth/v2/authorization"
)
LINKEDIN_OAUTH_TOKEN_URL = env.str(
    "LINKEDIN_OAUTH_TOKEN_URL", default="https://www.linkedin.com/oauth/v2/accessToken"
)
LINKEDIN_API_URL = env.str("LINKEDIN_API_URL", default="https://api.linkedin.com")
# An access token expiring within this many seconds is refreshed before it is used.
OAUTH2_REFRESH_MARGIN = env.int("OAUTH2_REFRESH_MARGIN", default=300)
# Connection health (platforms.health): the daily check's batch size.
CONNECTION_HEALTH_BATCH = env.int("CONNECTION_HEALTH_BATCH", default=100)
# Signed media URLs (core.signed_media): a receiver that fetches a publication's images itself
# (the blog webhook) gets absolute URLs on PUBLIC_BASE_URL (this site's address as the receiver
# reaches it, scheme and host, no trailing path), each valid SIGNED_MEDIA_MAX_AGE seconds.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
SIGNED_MEDIA_MAX_AGE = env.int("SIGNED_MEDIA_MAX_AGE", default=7 * 24 * 3600)
if not re.fullmatch(r"https?://[^/\s?#]+", PUBLIC_BASE_URL):
    raise ImproperlyConfigured("PUBLIC_BASE_URL must be an http(s) origin such as https://desk.example.org.")
if SIGNED_MEDIA_MAX_AGE <= 0:
    raise ImproperlyConfigured("SIGNED_MEDIA_MAX_AGE must be a positive number of seconds.")
# Notifications (accounts.services.notification_delivery). Email goes through Django's mail framework:
# the console backend (mails printed on the worker's stdout) unless EMAIL_URL (e.g.
# smtp+tls://user:password@mail.example.org:587) or EMAIL_HOST (with EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD, EMAIL_USE_TLS / EMAIL_USE_SSL) names an SMTP server.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Socialdesk <socialdesk@localhost>")
EMAIL_SUBJECT_PREFIX = env.str("EMAIL_SUBJECT_PREFIX", default="[Socialdesk] ")
# A delivery (email or webhook) is tried this many times, with growing waits, before it fails; a
# person's webhook is disabled after this many failed attempts in a row; seconds a receiver gets.
NOTIFICATION_DELIVERY_MAX_ATTEMPTS = env.int("NOTIFICATION_DELIVERY_MAX_ATTEMPTS", default=8)
NOTIFICATION_WEBHOOK_DISABLE_AFTER = env.int("NOTIFICATION_WEBHOOK_DISABLE_AFTER", default=5)
NOTIFICATION_WEBHOOK_TIMEOUT = env.float("NOTIFICATION_WEBHOOK_TIMEOUT", default=10.0)
if globals().get("EMAIL_USE_TLS") and globals().get("EMAIL_USE_SSL"):
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
# Workflow engine steps: a platform claimed by a worker that sent no heartbeat for this many
# seconds is free to be taken up again (the worker died or its step raised).
WORKFLOW_STEP_TIMEOUT = env.int("WORKFLOW_STEP_TIMEOUT", default=300)
# Persona datasets (generation.personas): a task in generating-data or generating-images whose
# heartbeat is older than AVATAR_TASK_TIMEOUT seconds is taken back by the reaper (every 5 minutes)
# and queued again, at most AVATAR_TASK_MAX_ATTEMPTS runs in all, then failed. A run may take up to
# AVATAR_TASK_RUN_TIMEOUT seconds before django-q stops it (the next run resumes where it stopped).
AVATAR_TASK_TIMEOUT = env.int("AVATAR_TASK_TIMEOUT", default=900)
AVATAR_TASK_MAX_ATTEMPTS = env.int("AVATAR_TASK_MAX_ATTEMPTS", default=3)
AVATAR_TASK_RUN_TIMEOUT = env.int("AVATAR_TASK_RUN_TIMEOUT", default=3600)
# Outbound requests made on a user's behalf (core.urlguard): private and loopback addresses are
# refused unless OUTBOUND_ALLOW_PRIVATE_NETWORKS is true (link-local and cloud metadata addresses
# stay refused whatever it says). OUTBOUND_ALLOWED_ORIGINS is the precise way to reach intranet
# servers: exact origins (https://wiki.corp, http://10.0.0.5:8080, comma-separated) that may be on
# a private network, and the only ones where a connection may use plain http.
OUTBOUND_ALLOW_PRIVATE_NETWORKS = env.bool("OUTBOUND_ALLOW_PRIVATE_NETWORKS", default=False)
OUTBOUND_ALLOWED_ORIGINS = env.list("OUTBOUND_ALLOWED_ORIGINS", default=[])
# The built-in demo Mastodon instance (`manage.py demo_instance`, started by `make run`), e.g.
# http://127.0.0.1:8001: its origin joins OUTBOUND_ALLOWED_ORIGINS, and `bootstrap --demo` points
# the demo connection at it. Empty: no demo instance.
DEMO_INSTANCE_URL = env.str("DEMO_INSTANCE_URL", default="")
if DEMO_INSTANCE_URL:
    OUTBOUND_ALLOWED_ORIGINS = [*OUTBOUND_ALLOWED_ORIGINS, DEMO_INSTANCE_URL]
# Scraping fetcher (scraping.fetching): seconds between the starts of two requests to one host,
# requests in flight to one host at once, the largest body read (bytes), and the User-Agent sent
# (robots.txt rules are matched against its product token, the part before "/"; operators should
# add a contact, e.g. "socialdesk-scraper/1 (+https://example.org/bot)").
SCRAPING_POLITENESS_DELAY = env.float("SCRAPING_POLITENESS_DELAY", default=1.0)
SCRAPING_PER_HOST_CONCURRENCY = env.int("SCRAPING_PER_HOST_CONCURRENCY", default=2)
SCRAPING_MAX_BYTES = env.int("SCRAPING_MAX_BYTES", default=20_000_000)
# Seconds one request may take in all, from connecting to the last byte (headers included): the
# read timeout restarts with every byte, so a server dripping bytes is ended only by this.
SCRAPING_FETCH_DEADLINE = env.float("SCRAPING_FETCH_DEADLINE", default=60.0)
SCRAPING_USER_AGENT = env.str("SCRAPING_USER_AGENT", default="socialdesk-scraper/1")
# Scraping sources (scraping.sources): a SearXNG-compatible search server for web_page jobs (its
# base URL; a SystemConfig `scraping_search_url` overrides it; empty: web_page jobs fail with a
# clear message), the arXiv and CrossRef APIs for paper jobs, and the contact address CrossRef
# asks polite clients to send (`mailto`; requests with one go to its faster "polite" pool).
SCRAPING_SEARCH_URL = env.str("SCRAPING_SEARCH_URL", default="")
ARXIV_API_URL = env.str("ARXIV_API_URL", default="https://export.arxiv.org")
CROSSREF_API_URL = env.str("CROSSREF_API_URL", default="https://api.crossref.org")
CROSSREF_MAILTO = env.str("CROSSREF_MAILTO", default="")
# Scraping jobs (scraping.services): a running job with no heartbeat for this many seconds is
# resumed by the reaper (or failed after 3 attempts); one task works for at most half of it, then
# hands over to a new task. Pages one job fetches at once over all its hosts (threads; 1: one
# after the other; at most SCRAPING_PER_HOST_CONCURRENCY per host): with fewer than the hosts a
# job spans, hosts wait for a thread while their politeness delay has long passed.
SCRAPING_JOB_TIMEOUT = env.int("SCRAPING_JOB_TIMEOUT", default=600)
SCRAPING_CONCURRENCY = env.int("SCRAPING_CONCURRENCY", default=32)

# Retention (manage.py cleanup; core.retention and each app's retention.py): ages in days unless
# named otherwise. `manage.py cleanup --list` shows every policy with its setting.
RETENTION_SESSION_DAYS = env.int("RETENTION_SESSION_DAYS", default=0)
RETENTION_RATE_LIMIT_HOURS = env.int("RETENTION_RATE_LIMIT_HOURS", default=24)
RETENTION_API_KEY_DAYS = env.int("RETENTION_API_KEY_DAYS", default=30)
RETENTION_OAUTH_SIGN_IN_DAYS = env.int("RETENTION_OAUTH_SIGN_IN_DAYS", default=7)
RETENTION_AUDIT_DAYS = env.int("RETENTION_AUDIT_DAYS", default=365)
RETENTION_NOTIFICATION_DAYS = env.int("RETENTION_NOTIFICATION_DAYS", default=90)
RETENTION_PROCESSING_RUN_DAYS = env.int("RETENTION_PROCESSING_RUN_DAYS", default=90)
RETENTION_IMAGE_REJECTED_DAYS = env.int("RETENTION_IMAGE_REJECTED_DAYS", default=30)
RETENTION_IMAGE_POSTED_DAYS = env.int("RETENTION_IMAGE_POSTED_DAYS", default=180)
RETENTION_IMAGE_ERROR_DAYS = env.int("RETENTION_IMAGE_ERROR_DAYS", default=60)
RETENTION_EMPTY_POST_DAYS = env.int("RETENTION_EMPTY_POST_DAYS", default=1)
RETENTION_CAPTION_TASK_COMPLETED_DAYS = env.int("RETENTION_CAPTION_TASK_COMPLETED_DAYS", default=365)
RETENTION_CAPTION_TASK_FAILED_DAYS = env.int("RETENTION_CAPTION_TASK_FAILED_DAYS", default=30)
RETENTION_CHECKPOINT_DAYS = env.int("RETENTION_CHECKPOINT_DAYS", default=7)
RETENTION_SCRAPING_ITEM_DAYS = env.int("RETENTION_SCRAPING_ITEM_DAYS", default=30)
# Artifacts are the users' collected content: deleted (with their files) only when this is set.
RETENTION_ARTIFACT_DAYS = env.int("RETENTION_ARTIFACT_DAYS", default=None)
RETENTION_PROMPT_FAILED_DAYS = env.int("RETENTION_PROMPT_FAILED_DAYS", default=30)
RETENTION_AVATAR_TASK_FAILED_DAYS = env.int("RETENTION_AVATAR_TASK_FAILED_DAYS", default=30)
RETENTION_Q_SUCCESS_KEEP = env.int("RETENTION_Q_SUCCESS_KEEP", default=1000)

# /health/ready (console.health): the oldest worker heartbeat that still counts as a live cluster, and
# how long the AI backend gets to answer.
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=90)
HEALTH_AI_TIMEOUT_SECONDS = env.float("HEALTH_AI_TIMEOUT_SECONDS", default=3.0)

# Bootstrap's operator account.
ADMIN_USERNAME = env.str("ADMIN_USERNAME", default="admin")
ADMIN_EMAIL = env.str("ADMIN_EMAIL", default="admin@localhost")
ADMIN_PASSWORD = env.str("ADMIN_PASSWORD", default="")

# Logging (core.logging): one line per event on stderr, logfmt (`ts=... level=... logger=...
# msg="..." key=value`) or JSON lines, tracebacks folded into the line. The handler's filter masks
# credentials and the values of secret settings before anything is written.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="logfmt").strip().lower()
if LOG_FORMAT not in ("logfmt", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be logfmt or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.logging.RedactSecrets"}},
    "formatters": {"structured": {"()": "core.logging.StructuredFormatter", "output": LOG_FORMAT}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "structured",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give "django" a DEBUG-only console handler and runserver's request lines
        # a format of their own; without them both reach the root handler, once.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # django-q2 adds a handler of its own unless its logger already has one.
        "django-q": {"handlers": ["console"], "level": Q_CLUSTER["log_level"], "propagate": False},
        "axes": {"level": env.str("AXES_LOG_LEVEL", default="WARNING")},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = (
        ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
    )

# --- Security headers (HSTS: Django's SecurityMiddleware; CSP: core.security) --------------------
# Kept together and last: whether cookies are secure is decided just above. HSTS is sent on https
# responses only; it is on by default (a year) whenever cookies are secure, i.e. whenever DEBUG is
# off unless SESSION_COOKIE_SECURE=false says the site is served over plain http. Lower it to a few
# minutes while trying https out; raise INCLUDE_SUBDOMAINS and PRELOAD only knowingly.
_cookies_secure = not DEBUG and SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _cookies_secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Content-Security-Policy on every response (the policy is in core.security); true: sent as
# Content-Security-Policy-Report-Only, so violations are reported in the browser, nothing blocked.
CSP_REPORT_ONLY = env.bool("CSP_REPORT_ONLY", default=False)
