"""Flightdeck settings, read from the environment (see .env.example).

With no environment set, Flightdeck runs embedded: SQLite, a filesystem Celery broker
and email written to files, all under var/. Production points DATABASE_URL at PostgreSQL
and CELERY_BROKER_URL at Redis.
"""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_float, env_int, env_list, env_str, env_url
from config.logs import FORMATS as LOG_FORMATS
from config.logs import build_logging

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / env_str("FLIGHTDECK_VAR_DIR", "var")  # relative paths are under the project

# production turns on the strict defaults of the Security section below and refuses to
# start without a real SECRET_KEY or with DEBUG on.
DJANGO_ENV = env_choice("DJANGO_ENV", "development", choices={"development", "production"})
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production: its error pages show settings and code")
_DEVELOPMENT_SECRET_KEY = "flightdeck-insecure-development-key-change-me"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", "")
if PRODUCTION and SECRET_KEY.strip() in {"", _DEVELOPMENT_SECRET_KEY}:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when DJANGO_ENV=production "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
if not SECRET_KEY:
    if not DEBUG and env_bool("FLIGHTDECK_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when FLIGHTDECK_REQUIRE_SECRET_KEY is on")
    # Development-only key; production sets SECRET_KEY (see .env.example).
    SECRET_KEY = _DEVELOPMENT_SECRET_KEY

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
    "csp",
    "axes",
    "rollouts",
    "comms",
    "docs_portal",
    "flags",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout found while signing in into its page
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
# Axes first: it refuses a locked-out sign-in before any password is checked (Security below).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "rollouts.auth.CachedModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Security (README "Production") ------------------------------------------------------
# DJANGO_ENV=production turns these on so that `manage.py check --deploy` has nothing to
# say; each stays a variable for a deployment that must differ (check --deploy then warns).
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Pages send the CSRF token from the template (hx-headers, forms); no script reads the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
# Behind a proxy that ends TLS, the header it sets to say the request came over HTTPS
# (e.g. X-Forwarded-Proto). Only name it when the proxy always sets or overwrites it:
# otherwise a client could claim HTTPS itself.
SECURE_PROXY_SSL_HEADER_NAME = env_str("SECURE_PROXY_SSL_HEADER", "").strip()
if SECURE_PROXY_SSL_HEADER_NAME:
    if not re.fullmatch(r"[A-Za-z0-9-]+", SECURE_PROXY_SSL_HEADER_NAME):
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, "
            f"got {SECURE_PROXY_SSL_HEADER_NAME!r}"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + SECURE_PROXY_SSL_HEADER_NAME.upper().replace("-", "_"), "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# The client address for the sign-in lockout: the connection's, or, behind a proxy, the
# one it puts in CLIENT_IP_HEADER (config/security.py). Name the header only when the
# proxy sets or overwrites it, or anyone could pick the address they are locked out under.
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER", "").strip()
if CLIENT_IP_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"CLIENT_IP_HEADER must be a header name such as X-Forwarded-For or X-Real-IP, got {CLIENT_IP_HEADER!r}"
    )
# For a list header (X-Forwarded-For: client, proxy1, …): how many proxies of yours append to it.
CLIENT_IP_PROXY_COUNT = env_int("CLIENT_IP_PROXY_COUNT", 1, minimum=1)

# Content-Security-Policy on every response, in every environment (the browser tests run
# under it). Scripts only from this site: no inline script, no eval (htmx runs with
# allowEval off; templates carry no handlers, tests/config/test_templates.py). Style
# sheets only from this site too; style *attributes* are allowed because progress bars and
# the email preview carry computed widths and inline email styles. An attribute cannot
# run script or load anything img-src does not allow, and inline <style> elements stay
# blocked. The API docs pages (config/api_urls.py) add what Swagger UI and Redoc need.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused for AXES_COOLOFF_MINUTES. The same
# person from another address still signs in, and a lockout never lasts for ever.
# An admin lifts it early: manage.py axes_reset_username <name>.
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked out do not push the end of the lockout further away, so the page
# can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"
AXES_LOCKOUT_CALLABLE = "config.security.lockout_response"
AXES_VERBOSE = False

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
# json: one JSON object per line for log shippers; plain: text for people (config/logs.py).
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "plain", choices=LOG_FORMATS)
LOGGING = build_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)

# --- Operations (ops/: /healthz, /readyz, /metrics, /ops/status/) -----------------------
# /readyz fails its beat check when the engine's last tick is older than this many seconds;
# 0 leaves beat out of readiness (the status page and /metrics still show the tick's age).
READY_MAX_TICK_AGE = env_int("READY_MAX_TICK_AGE", 30, minimum=0)
if 0 < READY_MAX_TICK_AGE < 2 * ENGINE_TICK_SECONDS:
    raise ImproperlyConfigured(
        f"READY_MAX_TICK_AGE must be 0 (off) or at least twice ENGINE_TICK_SECONDS ({2 * ENGINE_TICK_SECONDS:g}), "
        f"got {READY_MAX_TICK_AGE}"
    )
# When set, /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"; empty leaves it open.
METRICS_TOKEN = env_str("METRICS_TOKEN", "").strip()
# Orchestrator and load balancer probes often speak plain HTTP to the process: answer them
# rather than redirect to HTTPS (SECURE_SSL_REDIRECT). They carry no secret either way.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

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
# After a webhook secret is rotated, deliveries are signed with the old secret too for this
# many hours, so receivers switch without missing one; 0 drops the old secret at once.
WEBHOOK_SECRET_GRACE_HOURS = env_int("WEBHOOK_SECRET_GRACE_HOURS", 24, minimum=0, maximum=24 * 30)

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
