"""Settings for the Partner Support Portal, read from the environment.

With no variables set the portal runs on SQLite under ``var/`` with DEBUG on and a Celery broker
that needs no server. ``DJANGO_ENV=production`` turns DEBUG off and requires ``SECRET_KEY``,
``ALLOWED_HOSTS`` and ``FIELD_ENCRYPTION_KEYS``. Every variable is listed in ``.env.example``.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from partnerportal.env import Env

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("VAR_DIR", str(BASE_DIR / "var")))

DJANGO_ENV = env.choice("DJANGO_ENV", ("development", "production"), "development")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG=true is not allowed with DJANGO_ENV=production.")

SECRET_KEY = env.secret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required in production.")
    SECRET_KEY = "development-only-secret-key-never-used-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production (comma-separated).")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin with the portal's site: sign-in, MFA and audit of the portal (accounts.admin_site).
    "accounts.admin_apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "csp",
    "core",
    "accounts",
    "microsoft",
    "sso",
    "customers",
    "servicehealth",
    "incidents",
    "messagecenter",
    "servicerequests",
    "integrations",
    # The top of the layers: pages across apps, and the demo data and simulators of `make run`.
    "dashboard",
    "demo",
]

MIDDLEWARE = [
    # First: everything below reads the client's address from REMOTE_ADDR (TRUSTED_PROXY_COUNT).
    "core.middleware.ClientAddressMiddleware",
    "core.middleware.RequestIdMiddleware",
    # Before anything looks a header or path up in the database: a NUL there is a 400.
    "core.middleware.RefuseNulMiddleware",
    # Its process_exception turns an unreachable Redis into a clean 503, never a 500.
    "core.middleware.ServiceUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session timeouts; before allauth's, so an expired session is not tracked.
    "accounts.middleware.SessionTimeoutMiddleware",
    # The signed-in user's permissions from the cache, revoked as tokens' grants are.
    "accounts.permission_cache.CachedPermissionsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "core.middleware.NoStoreForAuthenticatedMiddleware",
    # MFA_REQUIRED: a person without a second factor reaches only enrolment. After allauth's,
    # and below NoStore so its redirects and refusals are marked no-store too.
    "accounts.middleware.MfaEnrolmentMiddleware",
    # API ETags and 304s; below NoStore, so the 304s it makes are marked no-store as well.
    "core.middleware.ApiConditionalGetMiddleware",
]

ROOT_URLCONF = "partnerportal.urls"
WSGI_APPLICATION = "partnerportal.wsgi.application"

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
                "django.template.context_processors.i18n",
                "dashboard.context_processors.navigation",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        env.str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share one SQLite file: wait for locks instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # Seconds: while PostgreSQL is unreachable a request gives up (503, core.middleware) after
    # this at most. libpq's minimum is 2.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 2
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when REDIS_URL is set, process memory otherwise. API throttling has its own
# alias that fails open, so the API keeps answering while Redis is down.
REDIS_URL = env.str("REDIS_URL")
if REDIS_URL:
    _redis_options = {"socket_connect_timeout": 2, "socket_timeout": 2}
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
            "OPTIONS": _redis_options,
        },
        "throttle": {
            "BACKEND": "core.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "throttle",
            "OPTIONS": _redis_options,
        },
        # What each API token may do, for API_TOKEN_CACHE_SECONDS (accounts.token_cache), and
        # each signed-in person's permissions (accounts.permission_cache).
        "api_tokens": {
            "BACKEND": "core.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "api_tokens",
            "OPTIONS": _redis_options,
        },
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "throttle": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "throttle",
        },
        # Not cached: a revocation in one process could not reach another's memory.
        "api_tokens": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:index"
# Django's own admin at /django-admin/: not served at all (404) unless this is on. When on, it
# has no sign-in of its own (the portal's, above), admits only Global admins signed in with their
# second factor and writes every change to the audit log (accounts.admin_site).
DJANGO_ADMIN_ENABLED = env.bool("DJANGO_ADMIN_ENABLED", default=False)

# django-allauth: email login, no public sign-up (staff are invited), TOTP MFA.
# sso's adapter: accounts' staff adapter, with password sign-in closed when a Global admin turns
# it off for sign-in with Microsoft.
ACCOUNT_ADAPTER = "sso.adapters.PortalAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {
    # Per IP and per account: 5 failed logins in 5 minutes lock the account for the window.
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "login": env.str("LOGIN_RATE_LIMIT", "30/m/ip"),
    "reset_password": "20/m/ip,5/m/key",
}
# 0: allauth reads REMOTE_ADDR, where core.middleware has already put the client's address.
ALLAUTH_TRUSTED_PROXY_COUNT = 0
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", "Partner Support Portal")
MFA_ADAPTER = "accounts.adapters.StaffMFAAdapter"  # encrypts TOTP secrets at rest
# Every person must have an authenticator app: until they set one up, a signed-in person reaches
# only the enrolment page (accounts.middleware), and API tokens are created only by a session
# signed in with its second factor. Off in the development demo, so its users sign in at once.
MFA_REQUIRED = env.bool("MFA_REQUIRED", default=PRODUCTION)
# Re-authentication (password, or a TOTP code) within the last 5 minutes before changing MFA or
# anything else allauth guards. Staff cannot change their email: that page is not served.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
MFA_REAUTHENTICATION_REQUIRED = True
# allauth's own tracking writes to the database on every request; accounts.middleware refreshes
# each session's last-seen time and address at most once a minute instead.
USERSESSIONS_TRACK_ACTIVITY = False
USERSESSIONS_ADAPTER = "accounts.adapters.StaffUserSessionsAdapter"  # audits ended sessions
# Staff sign in with the partner tenant's Entra ID (sso): the app comes from the sso settings
# row (secret encrypted), never from allauth's SocialApp table; sso.oidc checks every id_token.
SOCIALACCOUNT_ADAPTER = "sso.adapters.SsoSocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"provider_class": "sso.oidc.EntraProvider"}}
# "Sign in with Microsoft" is a link: the CSP lets forms post only to the portal.
SOCIALACCOUNT_LOGIN_ON_GET = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False

# A session ends SESSION_COOKIE_AGE seconds after sign-in however active it is, and after
# SESSION_IDLE_TIMEOUT_MINUTES without a request (accounts.middleware enforces both).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 60 * 60 * 12, minimum=60)
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", 60, minimum=1)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Internationalisation: English and Turkish are complete.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("tr", _("Turkish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
if not PRODUCTION:
    # WhiteNoise warns on every start while collectstatic has not run; development serves
    # static files from the apps' folders instead.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Email: the console in development (invitations appear in the `make run` output).
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Partner Support Portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Secrets at rest are encrypted with MultiFernet keys, newest first, never derived from
# SECRET_KEY. Development generates a key file under var/ on first use.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
if PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is required in production "
        "(comma-separated Fernet keys, newest first)."
    )

# Hosts the portal may connect to even though they are internal (loopback, private ranges):
# the bundled simulators in development. Production allows none unless listed here.
OUTBOUND_URL_ALLOWLIST = env.list(
    "OUTBOUND_URL_ALLOWLIST", [] if PRODUCTION else ["127.0.0.1", "localhost", "::1"]
)
# The proxy outbound connections go through (http and https), e.g. http://proxy.internal:3128.
# Empty: they connect directly, and HTTP_PROXY and the like in the environment are ignored.
OUTBOUND_PROXY = env.secret("OUTBOUND_PROXY")

# Microsoft Graph for the partner's own tenant: delegated-admin (GDAP) relationships are read
# from there. Unset: the sync reports "not configured". `make run` points it at the simulator.
PARTNER_TENANT_ID = env.str("PARTNER_TENANT_ID")
GRAPH_CLIENT_ID = env.str("GRAPH_CLIENT_ID")
GRAPH_CLIENT_SECRET = env.secret("GRAPH_CLIENT_SECRET")
GRAPH_BASE_URL = env.str("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0")
GRAPH_TOKEN_URL = env.str(
    "GRAPH_TOKEN_URL", "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
)
# How often beat refreshes GDAP relationships, in minutes.
GDAP_SYNC_INTERVAL_MINUTES = env.int("GDAP_SYNC_INTERVAL_MINUTES", 60, minimum=1)
# A relationship granting access that ends within this many days gets a gdap.expiring event.
GDAP_EXPIRY_WARNING_DAYS = env.int("GDAP_EXPIRY_WARNING_DAYS", 30, minimum=1)
# Seconds a worker holds a service-request delivery before another may take it over.
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", 120, minimum=1)
# How often open requests' status is read from Partner Center, in minutes.
CHANNEL_STATUS_POLL_MINUTES = env.int("CHANNEL_STATUS_POLL_MINUTES", 5, minimum=1)
# Deprecated, for this release only: webhook channels also send the old X-Portal-Signature
# header beside the Standard Webhooks ones, and callbacks signed with it are still accepted.
CHANNEL_LEGACY_SIGNATURE = env.bool("CHANNEL_LEGACY_SIGNATURE", default=True)
# A webhook subscription whose deliveries have all failed for this long (and at least this many
# times in a row) is disabled and Global admins are emailed. 410 Gone disables at once.
WEBHOOK_DISABLE_AFTER_HOURS = env.int("WEBHOOK_DISABLE_AFTER_HOURS", 24, minimum=1)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", 10, minimum=1)
# After a signing-secret rotation, deliveries carry both signatures for this long.
WEBHOOK_SECRET_ROTATION_GRACE_HOURS = env.int("WEBHOOK_SECRET_ROTATION_GRACE_HOURS", 24, minimum=0)
# Retention, applied daily (integrations.retention): delivered or failed webhook deliveries (with
# their attempts) this many days after their last change; events this old once fanned out and no
# delivery refers to them; the uploaded CSV of finished customer imports (the row stays).
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30, minimum=1)
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", 90, minimum=1)
CUSTOMER_IMPORT_RETENTION_DAYS = env.int("CUSTOMER_IMPORT_RETENTION_DAYS", 30, minimum=1)
# The portal's public address: webhooks and events link to objects with absolute URLs built on it.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", "http://localhost:8000").rstrip("/")
# The bundled simulators (Graph, Partner Center, a webhook receiver) are never served in production.
SIMULATORS_ENABLED = not PRODUCTION and env.bool("SIMULATORS_ENABLED", default=True)

# Security headers. Production defaults are strict; development serves plain HTTP.
# Reverse proxies in front of the portal, each appending to X-Forwarded-For: the client's address
# (audit log, throttles, sign-in rate limits, sessions) is the n-th entry from the right, or the
# socket's address with 0 (core.middleware.client_address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, minimum=0)
if env.is_set("NUM_PROXIES"):
    raise ImproperlyConfigured("NUM_PROXIES was renamed TRUSTED_PROXY_COUNT: set that instead.")
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = []

# Content-Security-Policy: no inline script anywhere, every asset from the portal itself.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
    }
}

# REST API: deny by default; every view declares the capabilities it needs.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiClientTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasCapability"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PortalCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["core.filters.PortalFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.PortalAutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.ClientRateThrottle",
        "core.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "client": env.str("API_THROTTLE_RATE", "600/min"),
        "anonymous": env.str("API_ANON_THROTTLE_RATE", "60/min"),
        # Opening a service request escalates to Microsoft: its own, tighter bucket per caller.
        "service_request_create": env.str("API_SERVICE_REQUEST_CREATE_RATE", "30/min"),
    },
    # 0: throttles key on REMOTE_ADDR, which core.middleware has set from TRUSTED_PROXY_COUNT.
    "NUM_PROXIES": 0,
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.FastJSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}
# How long what an API token may do (accounts.token_cache), and a signed-in person's permissions
# (accounts.permission_cache), are cached; revocations, rotations and role changes take effect at
# once regardless. 0: every request reads the database.
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", 60, minimum=0)
# How long a rotated-out API token keeps working next to the new one, so a PSA can switch
# without downtime; 0 stops it at once.
API_TOKEN_ROTATION_GRACE_HOURS = env.int("API_TOKEN_ROTATION_GRACE_HOURS", 24, minimum=0)
# Incremental reads (?modified_since=) serve only changes at least this old, so a write that
# commits late cannot land behind a poller that moved on (core.incremental).
# Microsoft throttles Graph per tenant; the portal stays under this across all its workers.
GRAPH_REQUESTS_PER_MINUTE = env.int("GRAPH_REQUESTS_PER_MINUTE", 240, minimum=1)
# ...and per hour: Graph's service communications allow 800 an hour per app and tenant.
GRAPH_REQUESTS_PER_HOUR = env.int("GRAPH_REQUESTS_PER_HOUR", 800, minimum=1)
API_SYNC_SETTLE_SECONDS = env.int("API_SYNC_SETTLE_SECONDS", 5, minimum=0)
# ...but a transaction open longer than this (a forgotten psql session) is not waited for.
API_SYNC_MAX_WRITE_SECONDS = env.int("API_SYNC_MAX_WRITE_SECONDS", 1800, minimum=0)
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    # An unreachable database or Redis is a 503 (core.middleware), not the handler's 500.
    "EXCEPTION_HANDLER_CLASS": "core.api.ExceptionHandler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Partner Support Portal API",
    "DESCRIPTION": (
        "Customers, service health, incidents and service requests of a Microsoft CSP partner's "
        "support desk. Authenticate with `Authorization: Bearer <token>` (API clients are created "
        "by Global admins) or a browser session.\n\n"
        "A token needs the scope of each resource it uses (`customers:read`, `incidents:write`, "
        "…; write includes read; see `GET /me/`), within what its role allows; a missing scope "
        "is a 403. Every GET and HEAD answer carries an `ETag`: send it back in `If-None-Match` "
        "and an unchanged answer is a 304 with no body. Collections are ordered by "
        "(`modified_at`, id) with cursor pagination and take `modified_since` (exclusive) for "
        "incremental sync. Each client has its own rate limit; over it the answer is a 429 "
        "with `Retry-After` in seconds."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Deep links put a link inside each operation's toggle button (nested interactive controls,
    # which screen readers cannot operate); without them each operation is one button.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SubscriptionStatusEnum": "customers.choices.SubscriptionStatusChoices.choices",
        "CustomerRelationshipEnum": "customers.choices.CustomerRelationshipChoices.choices",
        "ServiceFamilyEnum": "customers.choices.ServiceFamilyChoices.choices",
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
        "TimelineEntryKindEnum": "servicerequests.choices.TimelineKindChoices.choices",
        "ChannelKindEnum": "servicerequests.api.schema.CHANNEL_KIND_CHOICES",
    },
    # Clients send JSON: nested fields (contacts, primary_contact) have no form encoding.
    "PARSER_WHITELIST": ["core.parsers.JSONParser"],
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "core.openapi.postprocess",
    ],
}

# Celery: Redis when REDIS_URL (or CELERY_BROKER_URL) is set, else kombu's filesystem transport,
# so `make run` has a real worker and beat without any server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_VISIBILITY_TIMEOUT = 15 * 60
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport does not create its folders.
    for _folder in ("queue", "processed"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Exchange bindings; kombu's default is "control" in the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # The default of one second would hand each worker one message a second.
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request retries briefly: the committed row is the record and the sweep
# re-queues anything whose message was lost.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "feeds"
# Webhook deliveries have their own queue: a burst of events, or a slow PSA, never delays an
# escalation to Microsoft.
CELERY_TASK_QUEUES_NAMES = ("feeds", "escalations", "webhooks")
CELERY_TASK_ROUTES = {
    "servicehealth.tasks.*": {"queue": "feeds"},
    "messagecenter.tasks.*": {"queue": "feeds"},
    "customers.tasks.*": {"queue": "feeds"},
    "microsoft.tasks.*": {"queue": "feeds"},
    "servicerequests.tasks.*": {"queue": "escalations"},
    "integrations.tasks.*": {"queue": "webhooks"},
}
# Tasks are idempotent (they claim database rows), so a message is acknowledged only when the
# task has finished and is re-delivered if the worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker process keeps its database connection from task to task, closed by Django's own
# rules (partnerportal.celery); Celery's default, closing it around every task, made each task
# open a new PostgreSQL session. Celery now closes it only after this many tasks.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 180, minimum=1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "heartbeat-feeds": {
        "task": "core.tasks.heartbeat",
        "schedule": timedelta(seconds=15),
        "args": ("feeds",),
        "options": {"queue": "feeds", "expires": 15},
    },
    "heartbeat-escalations": {
        "task": "core.tasks.heartbeat",
        "schedule": timedelta(seconds=15),
        "args": ("escalations",),
        "options": {"queue": "escalations", "expires": 15},
    },
    "heartbeat-webhooks": {
        "task": "core.tasks.heartbeat",
        "schedule": timedelta(seconds=15),
        "args": ("webhooks",),
        "options": {"queue": "webhooks", "expires": 15},
    },
    "poll-due-feed-sources": {
        "task": "servicehealth.tasks.poll_due_sources",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 30},
    },
    "poll-due-message-feeds": {
        "task": "messagecenter.tasks.poll_due_message_feeds",
        # Each tenant's messages are read hourly; this only finds the due ones (and the first
        # read of a new customer's within a minute).
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    "sync-gdap": {
        "task": "customers.tasks.sync_gdap",
        "schedule": timedelta(minutes=GDAP_SYNC_INTERVAL_MINUTES),
        "options": {"expires": 300},
    },
    # Customers from Partner Center and Graph (GDAP); "Sync now" on the customer list as well.
    "sync-customers": {
        "task": "customers.tasks.sync_customers",
        "schedule": timedelta(hours=1),
        "options": {"expires": 600},
    },
    "warn-expiring-gdap": {
        "task": "customers.tasks.warn_expiring_gdap",
        "schedule": timedelta(hours=1),
        "options": {"expires": 600},
    },
    "sweep-deliveries": {
        "task": "servicerequests.tasks.sweep_deliveries",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 15},
    },
    "sweep-webhook-deliveries": {
        "task": "integrations.tasks.sweep_webhook_deliveries",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 15},
    },
    "purge-old-history": {
        "task": "integrations.tasks.purge_old_history",
        # Daily, at a quiet hour (CELERY_TIMEZONE); a run missed by more than 6 h waits a day.
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 6 * 60 * 60},
    },
    "poll-channel-statuses": {
        "task": "servicerequests.tasks.poll_channel_statuses",
        "schedule": timedelta(minutes=CHANNEL_STATUS_POLL_MINUTES),
        "options": {"expires": 120},
    },
    # Daily: Partner Center's support topics replace the stored ones (ids kept).
    "sync-support-topics": {
        "task": "servicerequests.tasks.sync_support_topics",
        "schedule": crontab(hour=4, minute=23),
        "options": {"expires": 6 * 60 * 60},
    },
    # Daily: staff disabled or removed in Entra ID lose the portal (sso.leavers).
    "sso-leavers": {
        "task": "sso.tasks.sweep_leavers",
        "schedule": crontab(hour=4, minute=41),
        "options": {"expires": 6 * 60 * 60},
    },
    # Weekly, so the refresh token's 90 days (from its last redemption) never run out.
    "redeem-microsoft-refresh-token": {
        "task": "microsoft.tasks.redeem_refresh_token",
        "schedule": timedelta(days=7),
        "options": {"expires": 24 * 60 * 60},
    },
    "resume-customer-imports": {
        "task": "customers.tasks.resume_customer_imports",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 60},
    },
}
# A worker whose heartbeat is older than this is reported as stale by /healthz.
WORKER_HEARTBEAT_STALE_SECONDS = 90

LOG_LEVEL = env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
