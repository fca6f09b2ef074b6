"""Flightdeck settings, read from the environment (see .env.example).

With no environment set, Flightdeck runs embedded: SQLite, a filesystem Celery broker
and email written to files, all under var/. Production points DATABASE_URL at PostgreSQL
and CELERY_BROKER_URL at Redis.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / env_str("FLIGHTDECK_VAR_DIR", "var")  # relative paths are under the project

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("FLIGHTDECK_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when FLIGHTDECK_REQUIRE_SECRET_KEY is on")
    # Development-only key; production sets SECRET_KEY (see .env.example).
    SECRET_KEY = "flightdeck-insecure-development-key-change-me"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes={"http", "https"}).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rollouts",
    "comms",
    "docs_portal",
    "flags",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

_loaders = [
    "django.template.loaders.filesystem.Loader",
    "django.template.loaders.app_directories.Loader",
]
if not DEBUG:
    _loaders = [("django.template.loaders.cached.Loader", _loaders)]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rollouts.context_processors.roles",
            ],
            "builtins": ["template_partials.templatetags.partials"],
            "loaders": [("template_partials.loader.Loader", _loaders)],
        },
    }
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'flightdeck.sqlite3'}",
    schemes={"sqlite", "postgres", "postgresql", "pgsql"},
)
try:
    _db = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600, minimum=0),
        conn_health_checks=True,
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes every transaction take the write lock up front, so two requests
    # that read-then-write the same release are serialised instead of racing.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["CONN_MAX_AGE"] = 0
    # A file, not memory, so a real Celery worker started by the reliability tests sees it.
    # One file per test run, so two runs in one checkout never share it.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
CACHE_URL = env_url("CACHE_URL", "locmem://", schemes={"locmem", "redis", "rediss", "dummy"})
if CACHE_URL.startswith("redis"):
    # django-redis keeps one client per process; Django's own backend builds a client per call.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
elif CACHE_URL.startswith("dummy"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# With a shared cache, sessions are read from it (falling back to the database); a
# per-process cache would let a signed-out session live on in another process.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if CACHE_URL.startswith("redis")
    else "django.contrib.sessions.backends.db"
)

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["rollouts.auth.CachedModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- I18N / time ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email ----------------------------------------------------------------------------
EMAIL_URL = env_str("EMAIL_URL", "")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Flightdeck <flightdeck@localhost>")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_MESSAGE_ID_DOMAIN = env_str("EMAIL_MESSAGE_ID_DOMAIN", urlparse(SITE_URL).hostname or "flightdeck.local")
if EMAIL_URL:
    _email = urlparse(EMAIL_URL)
    if _email.scheme not in {"smtp", "smtps", "smtp+tls"}:
        raise ImproperlyConfigured(f"EMAIL_URL must start with smtp://, smtps:// or smtp+tls://, got {EMAIL_URL!r}")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    try:
        EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 25)
    except ValueError:
        raise ImproperlyConfigured(f"EMAIL_URL has an invalid port: {EMAIL_URL!r}") from None
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = _email.scheme == "smtp+tls"
elif env_str("EMAIL_HOST", ""):
    # The same, as separate variables (EMAIL_URL wins when both are set).
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST", "")
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    if EMAIL_USE_SSL and EMAIL_USE_TLS:
        raise ImproperlyConfigured("EMAIL_USE_SSL and EMAIL_USE_TLS cannot both be on")
    EMAIL_PORT = env_int("EMAIL_PORT", 465 if EMAIL_USE_SSL else 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", "filesystem://", schemes={"filesystem", "redis", "rediss", "memory"})
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10)
if CELERY_BROKER_URL.startswith("filesystem"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "flightdeck")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 10)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
ENGINE_TICK_SECONDS = env_float("ENGINE_TICK_SECONDS", 2.0, minimum=0.5)
CELERY_BEAT_SCHEDULE = {
    "rollout-engine-tick": {
        "task": "rollouts.tasks.engine_tick",
        "schedule": ENGINE_TICK_SECONDS,
        # A tick that waited longer than one period is stale: the next one covers it.
        "options": {"expires": ENGINE_TICK_SECONDS},
    },
    "comms-outbox-tick": {
        "task": "comms.tasks.outbox_tick",
        "schedule": ENGINE_TICK_SECONDS,
        "options": {"expires": ENGINE_TICK_SECONDS},
    },
}

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Outbound calls (gates, webhooks, rollback actions) -------------------------------
OUTBOUND_TIMEOUT_SECONDS = env_float("OUTBOUND_TIMEOUT_SECONDS", 5.0, minimum=0.1)
OUTBOUND_MAX_BYTES = env_int("OUTBOUND_MAX_BYTES", 1_000_000, minimum=1024)
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS", [])
for _net in OUTBOUND_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_NETWORKS must list networks such as 10.0.0.0/8 or 127.0.0.1/32, got {_net!r}"
        ) from None

# --- Flightdeck -----------------------------------------------------------------------
DASHBOARD_GROUP_LIMIT = env_int("DASHBOARD_GROUP_LIMIT", 12, minimum=1, maximum=200)

# --- REST API (rollouts/api/, comms/api/ …; README "REST API") ---------------------------
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "1200/minute")
_count, _, _period = API_THROTTLE_RATE.partition("/")
if not (_count.isdigit() and int(_count) > 0 and _period in {"s", "sec", "second", "m", "min", "minute", "h", "hour"}):
    raise ImproperlyConfigured(f"API_THROTTLE_RATE must look like 1200/minute, got {API_THROTTLE_RATE!r}")
REST_FRAMEWORK = {
    # Personal API tokens (Bearer/Token header) first, so an unauthenticated call answers 401;
    # the browser session serves the pages' own calls (with CSRF on unsafe methods).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rollouts.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rollouts.api.auth.FlightdeckAccess"],
    "DEFAULT_PAGINATION_CLASS": "rollouts.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "rollouts.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rollouts.api.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flightdeck API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Plan and run progressive rollouts from pipelines, scripts and deployment controllers: the same\n"
        "releases, phases, gates, rollback plans and communication plans as the pages, changed by the\n"
        "same transitions and refused by the same rules.\n\n"
        "**Authentication.** Make a personal API token on the *API tokens* page and send it as\n"
        "`Authorization: Bearer fd_…` (or `Token fd_…`). A token has scopes: `read` (GET),\n"
        "`write` (create, edit and delete plans, audiences, subscriptions) and `act` (start, approve,\n"
        "advance, pause, resume, roll back, complete, cancel …). Scopes narrow what the token's user may\n"
        "do and never widen it: the user's role still decides (a support reader cannot advance anything).\n"
        "The pages' own calls use the browser session (with the CSRF token on unsafe methods).\n\n"
        '**Errors** always look like `{"detail": "…", "code": "…", "fields": {"name": ["…"]}}`:\n'
        "400 names the fields, 401 no or a bad token, 403 a role, scope or rule says no, 404 no such\n"
        "object, 409 the state does not allow it (e.g. `already_done` when a retried advance already\n"
        "happened), 422 an `Idempotency-Key` reused for another request, 429 too many requests.\n\n"
        "**Retries.** Send an `Idempotency-Key` header (any unique string, e.g. a UUID) with actions and\n"
        "creates: a retry with the same key and body gets the first answer again (`Idempotent-Replayed:\n"
        "true`) instead of doing it twice. Keys are kept 24 hours.\n\n"
        "**Lists** are paginated (`page`, `page_size` up to 200), filtered by the parameters each lists\n"
        "and ordered with `ordering` (prefix `-` for descending).\n\n"
        "**Deployment controllers**: `GET /api/v1/gates/{id}/argo` (Argo Rollouts web metric),\n"
        "`POST /api/v1/gates/{id}/flagger` and `POST /api/v1/releases/{id}/flagger/rollback` (Flagger\n"
        "webhooks), `GET /api/v1/releases/{id}/status` for any pipeline to poll."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "rollouts.api.schema.path_id_examples",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "GateToken": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "fdg_…",
                "description": "A ci_result gate's own pipeline token, for POST /api/v1/gates/{id}/result only.",
            }
        }
    },
    "ENUM_NAME_OVERRIDES": {
        "ReleaseStatusEnum": "rollouts.models.ReleaseStatus",
        "PhaseStatusEnum": "rollouts.models.PhaseStatus",
        "GateStatusEnum": "rollouts.models.GateStatus",
        "RollbackRunStatusEnum": "rollouts.models.RollbackRun.Status",
        "WebhookDeliveryStatusEnum": "rollouts.models.WebhookDelivery.Status",
        "NoticeStatusEnum": "comms.models.Notice.Status",
        "ApiScopeEnum": "rollouts.models.ApiScope",
        "GateKindEnum": "rollouts.models.GateKind",
        "WritableGateKindEnum": "rollouts.api.serializers.WRITABLE_GATE_KINDS",
        "MessageKindEnum": "comms.models.MessageKind",
        "DocStatusEnum": "docs_portal.models.DocStatus",
        "KnownIssueStatusEnum": "docs_portal.models.KnownIssueStatus",
    },
}

# The embedded defaults keep their data under var/; make sure the folders exist.
for _folder in (
    VAR_DIR,
    STATIC_ROOT,
    VAR_DIR / "mail",
    VAR_DIR / "celery" / "queue",
    VAR_DIR / "celery" / "processed",
    VAR_DIR / "celery" / "control",
):
    _folder.mkdir(parents=True, exist_ok=True)
