"""Custos settings, driven by the environment.

Every knob an operator needs is an environment variable (see README.md, "Configuration").
Defaults are the zero-set-up demo: SQLite, a filesystem Celery broker, console email.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CUSTOS_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # a fresh checkout has none; SQLite needs the folder


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The development key is refused by config.settings.production (see check_secret_key there).
INSECURE_DEV_SECRET_KEY = "custos-insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # Our apps first: apps.core overrides the `migrate` command (owner role for DDL).
    "apps.core",
    "apps.tenants",
    "apps.identity",
    "apps.identity.federation",
    "apps.identity.scim",
    "apps.access",
    "apps.requests",
    "apps.certification",
    "apps.certification.analytics",
    "apps.licenses",
    "apps.incidents",
    "apps.integrations",
    "apps.lifecycle",
    "apps.reports",
    "apps.core.admin_config.CustosAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "ninja",
    "guardian",
    "social_django",  # OIDC (apps.identity.federation.oidc): state/nonce association storage
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.integrations.middleware.ApiCallMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.identity.middleware.UserPreferencesMiddleware",
    "apps.identity.middleware.MfaRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.TenantMiddleware",
    "apps.certification.analytics.hooks.AccessEventMiddleware",
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
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.tenants.context_processors.portal",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL picks the database. On PostgreSQL the connection switches to DATABASE_APP_ROLE
# (no superuser, no BYPASSRLS) so row-level security applies; migrations run as the owner.
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'custos.sqlite3'}")
DATABASES: dict[str, dict[str, Any]] = {
    "default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "apps.core.db"
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["app_role"] = os.environ.get(
        "DATABASE_APP_ROLE", "custos_app"
    )
    # Least privilege (docs/operator-guide.md): with DATABASE_OWNER_URL set, DATABASE_URL is
    # the application's own login (a member of the application role, not the owner) and only
    # `migrate` connects with the owner's credentials. A `RESET ROLE` then cannot leave RLS.
    if os.environ.get("DATABASE_OWNER_URL"):
        _owner = dj_database_url.parse(os.environ["DATABASE_OWNER_URL"])
        DATABASES["default"]["OWNER_CREDENTIALS"] = {
            key: _owner[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")
        }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, sessions, MFA ----------------------------------------------------------------------
AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # has_perm("access.<level>_environment", environment) from grants; before guardian, which
    # refuses permissions whose app label differs from the object's.
    "apps.access.backends.GrantPermissionBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "identity:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "identity:login"
SESSION_ENGINE = "apps.core.sessions"  # Django's database sessions, fewer round trips per sign-in
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the <body hx-headers>, not the cookie
OTP_TOTP_ISSUER = "Custos"
OTP_TOTP_THROTTLE_FACTOR = 0  # lockout is ours (apps.identity.lockout), keyed on account and IP

# Lockout: after LOCKOUT_THRESHOLD failures for an (account, IP) pair or
# LOCKOUT_ACCOUNT_THRESHOLD for an account from anywhere, the wait doubles from
# LOCKOUT_BASE_SECONDS up to LOCKOUT_MAX_SECONDS; counters cool off after LOCKOUT_COOLOFF.
LOCKOUT_THRESHOLD = int(os.environ.get("LOCKOUT_THRESHOLD", 5))
LOCKOUT_ACCOUNT_THRESHOLD = int(os.environ.get("LOCKOUT_ACCOUNT_THRESHOLD", 20))
LOCKOUT_BASE_SECONDS = int(os.environ.get("LOCKOUT_BASE_SECONDS", 30))
LOCKOUT_MAX_SECONDS = int(os.environ.get("LOCKOUT_MAX_SECONDS", 15 * 60))
LOCKOUT_COOLOFF = timedelta(hours=int(os.environ.get("LOCKOUT_COOLOFF_HOURS", 24)))

# --- Security headers -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Email ----------------------------------------------------------------------------------
# EMAIL_URL-style knobs map onto Django 6.1's MAILERS: console by default, SMTP when EMAIL_HOST
# is set.
EMAIL_BACKEND_PATH = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
_smtp_options: dict[str, object] = {}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    _smtp_options = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", 25)),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": 10,
    }
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH, "OPTIONS": _smtp_options}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Custos <custos@localhost>")

# --- Cache ----------------------------------------------------------------------------------
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith("redis"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
# Default broker: kombu's filesystem transport (no server process). Production: Redis/RabbitMQ.
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Sweepers: due-time columns claimed by beat-driven tasks (STYLE.md, "Timers are data").
SWEEP_INTERVAL_SECONDS = int(os.environ.get("SWEEP_INTERVAL_SECONDS", 60))
AUDIT_CHECKPOINT_INTERVAL_SECONDS = int(os.environ.get("AUDIT_CHECKPOINT_INTERVAL_SECONDS", 300))
# Grant expiry sweeper (apps.access): decisions check expires_at anyway; this records the end.
# Every 10 s: with nothing due a run is one indexed query; with a mass expiry each run works for
# 80 % of the interval, so the last of 100,000 grants is recorded well within a minute.
ACCESS_SWEEP_INTERVAL = int(os.environ.get("ACCESS_SWEEP_INTERVAL", 10))
# Policy engine: other processes' changes are picked up once per HTTP request, and outside
# requests at most this many seconds later (changes made in this process: at once).
ACCESS_POLICY_RECHECK_SECONDS = float(os.environ.get("ACCESS_POLICY_RECHECK_SECONDS", 1.0))
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "access-expire-grants": {
        "task": "access.expire_grants",
        "schedule": ACCESS_SWEEP_INTERVAL,
    },
    "audit-checkpoint": {
        "task": "apps.core.tasks.audit_checkpoint_task",
        "schedule": AUDIT_CHECKPOINT_INTERVAL_SECONDS,
    },
    "celery-heartbeat": {
        "task": "apps.core.tasks.worker_heartbeat_task",
        "schedule": 30,
    },
    "identity-login-throttle-purge": {
        "task": "apps.identity.tasks.login_throttle_purge_task",
        "schedule": 3600,
    },
}

# --- Audit ----------------------------------------------------------------------------------
# The checkpoint signing key lives outside the database (a file by default).
AUDIT_SIGNING_KEY_FILE = Path(
    os.environ.get("AUDIT_SIGNING_KEY_FILE", VAR_DIR / "keys" / "audit-signing.ed25519")
)
AUDIT_CHECKPOINT_DIR = Path(os.environ.get("AUDIT_CHECKPOINT_DIR", VAR_DIR / "checkpoints"))
AUDIT_CHECKPOINT_STORE = os.environ.get(
    "AUDIT_CHECKPOINT_STORE", "apps.core.audit.checkpoints.FileCheckpointStore"
)

# --- Secrets at rest (envelope encryption, docs/keys.md) --------------------------------------
# The key-encryption key comes from a pluggable provider; the default keeps it in a 0600 file
# outside the database. A KMS/HSM adapter implements apps.core.crypto.providers.KeyProvider.
KEY_PROVIDER = os.environ.get("KEY_PROVIDER", "apps.core.crypto.providers.LocalFileKeyProvider")
KEK_FILE = Path(os.environ.get("KEK_FILE", VAR_DIR / "keys" / "kek.json"))

# --- REST API and integrations (docs/api.md) ----------------------------------------------------
# Public base URL of this server: the OAuth2 token endpoint's audience is
# API_ISSUER_BASE + "/api/v1/oauth/token" (empty: derived from the request).
API_ISSUER_BASE = os.environ.get("API_ISSUER_BASE", "").rstrip("/")
# Pepper for API key and access token hashes (HMAC-SHA256); empty: derived from SECRET_KEY.
# Changing it invalidates every issued key.
API_TOKEN_PEPPER = os.environ.get("API_TOKEN_PEPPER", "")
# Webhooks and JWKS fetches never reach private, loopback or link-local addresses unless allowed.
OUTBOUND_ALLOW_PRIVATE_NETWORKS = env_bool("OUTBOUND_ALLOW_PRIVATE_NETWORKS", False)
# API call log (usage statistics, not the audit trail): one bulk INSERT per this many records per
# process, or at most API_CALL_LOG_MAX_AGE_SECONDS after the first; a process killed outright
# loses at most that buffer, a graceful exit writes it. 1: one INSERT per call (docs/api.md).
API_CALL_LOG_BUFFER_SIZE = int(os.environ.get("API_CALL_LOG_BUFFER_SIZE", 50))
API_CALL_LOG_MAX_AGE_SECONDS = float(os.environ.get("API_CALL_LOG_MAX_AGE_SECONDS", 2))
# Endpoints deprecated by configuration: {"GET api/v1/...route...": {"sunset": "2027-06-30",
# "deprecated_since": "2026-12-01", "link": "https://..."}} (see docs/api.md).
API_DEPRECATIONS: dict[str, dict[str, str]] = {}
WEBHOOK_SWEEP_INTERVAL_SECONDS = int(os.environ.get("WEBHOOK_SWEEP_INTERVAL_SECONDS", 10))
CELERY_BEAT_SCHEDULE.update(
    {
        "integrations-webhooks-deliver": {
            "task": "apps.integrations.tasks.webhook_deliveries_sweep_task",
            "schedule": WEBHOOK_SWEEP_INTERVAL_SECONDS,
        },
        "integrations-api-keys": {
            "task": "apps.integrations.tasks.api_keys_sweep_task",
            "schedule": SWEEP_INTERVAL_SECONDS,
        },
        "integrations-notices": {
            "task": "apps.integrations.tasks.integration_notices_sweep_task",
            "schedule": SWEEP_INTERVAL_SECONDS,
        },
        "integrations-housekeeping": {
            "task": "apps.integrations.tasks.integrations_housekeeping_task",
            "schedule": 3600,
        },
    }
)

# --- Licences and onboarding (docs/licenses.md; defaults in apps/licenses/conf.py) ------------
# Provisioning throttles (token buckets per second): per tenant and for all tenants together.
LICENSES_TENANT_RATE = int(os.environ.get("LICENSES_TENANT_RATE", 50))
LICENSES_TENANT_BURST = int(os.environ.get("LICENSES_TENANT_BURST", 50))
LICENSES_GLOBAL_RATE = int(os.environ.get("LICENSES_GLOBAL_RATE", 250))
LICENSES_GLOBAL_BURST = int(os.environ.get("LICENSES_GLOBAL_BURST", 250))
LICENSES_NOTIFY = os.environ.get("LICENSES_NOTIFY", "mail")  # "off": no welcome/alert mails
# Welcome mails: one Celery message per this many people (per process, at most this old).
LICENSES_WELCOME_BUFFER_SIZE = int(os.environ.get("LICENSES_WELCOME_BUFFER_SIZE", 1))
LICENSES_WELCOME_MAX_AGE_SECONDS = float(os.environ.get("LICENSES_WELCOME_MAX_AGE_SECONDS", 2))
LICENSES_DISPOSABLE_URL = os.environ.get("LICENSES_DISPOSABLE_URL", "")
CELERY_BEAT_SCHEDULE.update(
    {
        "licenses-provisioning-drain": {
            "task": "apps.licenses.tasks.provisioning_drain_task",
            "schedule": float(os.environ.get("LICENSES_DRAIN_INTERVAL_SECONDS", 2)),
        },
        "licenses-imports": {"task": "apps.licenses.tasks.imports_sweep_task", "schedule": 30},
        "licenses-pools": {
            "task": "apps.licenses.tasks.pools_sweep_task",
            "schedule": SWEEP_INTERVAL_SECONDS,
        },
        "licenses-disposable-list": {
            "task": "apps.licenses.tasks.disposable_refresh_task",
            "schedule": 86400,
        },
    }
)
# Leaver sweeper: tenants past their contract end are terminated, their members deprovisioned.
CELERY_BEAT_SCHEDULE["lifecycle-contract-end"] = {
    "task": "apps.lifecycle.tasks.tenants_deprovision_ended_task",
    "schedule": int(os.environ.get("LIFECYCLE_SWEEP_INTERVAL_SECONDS", 300)),
}

# --- Access requests (docs/requests.md) ------------------------------------------------------
REQUESTS_VENDOR_MAX_HOURS = int(os.environ.get("REQUESTS_VENDOR_MAX_HOURS", 8))
REQUESTS_VENDOR_UNANSWERED_HOURS = int(os.environ.get("REQUESTS_VENDOR_UNANSWERED_HOURS", 12))
REQUESTS_BREAK_GLASS_MAX_HOURS = int(os.environ.get("REQUESTS_BREAK_GLASS_MAX_HOURS", 4))
REQUESTS_APPROVAL_REUSE_HOURS = int(os.environ.get("REQUESTS_APPROVAL_REUSE_HOURS", 24))
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://localhost:8000")
# --- Reports (docs/reports.md) -----------------------------------------------------------------
# Worker processes laying out one large PDF in parallel (0: one per core, at most 4).
REPORTS_PDF_WORKERS = int(os.environ.get("REPORTS_PDF_WORKERS", 0))
# Generated files (personal data of whole tenants) are deleted this many days after they were
# made, by the reports sweeper; 0 keeps them. The job row and its audit events stay.
REPORTS_RETENTION_DAYS = int(os.environ.get("REPORTS_RETENTION_DAYS", 30))
CELERY_BEAT_SCHEDULE["reports-sweep"] = {
    "task": "apps.reports.tasks.reports_sweep_task",
    "schedule": SWEEP_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["requests-sweep"] = {
    "task": "apps.requests.tasks.requests_sweep_task",
    "schedule": SWEEP_INTERVAL_SECONDS,
}

# --- Certification campaigns (docs/certification.md) --------------------------------------------
# Reminders go out this many hours before a campaign's due date; late reviewers' open items
# move to their fallback this many hours before it.
CERTIFICATION_REMIND_HOURS_BEFORE = int(os.environ.get("CERTIFICATION_REMIND_HOURS_BEFORE", 72))
CERTIFICATION_ESCALATE_HOURS_BEFORE = int(os.environ.get("CERTIFICATION_ESCALATE_HOURS_BEFORE", 24))
CELERY_BEAT_SCHEDULE["certification-sweep"] = {
    "task": "apps.certification.tasks.certification_sweep_task",
    "schedule": SWEEP_INTERVAL_SECONDS,
}
# Incident response (docs/incidents.md): approved customer notifications are emailed, and the
# owners are reminded as a disclosure deadline (e.g. GDPR 72 h) nears.
CELERY_BEAT_SCHEDULE["incidents-notifications"] = {
    "task": "apps.incidents.tasks.incident_notifications_task",
    "schedule": SWEEP_INTERVAL_SECONDS,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
CSRF_FAILURE_VIEW = "apps.core.errors.csrf_failure"

# --- Identity federation (apps.identity.federation, docs/federation.md) ------------------------
# Public base URL of SP entity ids / ACS / OIDC redirect URIs (empty: taken from the request).
FEDERATION_BASE_URL = os.environ.get("FEDERATION_BASE_URL", "")
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_OIDC_ID_TOKEN_MAX_AGE = 600
CELERY_BEAT_SCHEDULE.update(
    {
        "federation-metadata-refresh": {
            "task": "federation.metadata_refresh_due",
            "schedule": 900,
        },
        "federation-certificate-warnings": {
            "task": "federation.certificate_warnings",
            "schedule": 3600,
        },
        "federation-used-assertions-purge": {
            "task": "federation.used_assertions_purge",
            "schedule": 3600,
        },
    }
)

# --- Access analytics (apps.certification.analytics, docs/analytics.md) -----------------------
# Anomaly detection runs in batches: after recording (a debounced kick) and on this beat.
ANALYTICS_DETECT_INTERVAL_SECONDS = float(os.environ.get("ANALYTICS_DETECT_INTERVAL_SECONDS", 5))
ANALYTICS_GEO_PROVIDER = os.environ.get(
    "ANALYTICS_GEO_PROVIDER", "apps.licenses.geo.OfflineGeoProvider"
)
# Portal/API access events: written in bulk once this many are buffered per process, or at most
# this many seconds after the first (1: one INSERT per request, apps.certification.analytics.hooks).
ANALYTICS_EVENT_BUFFER_SIZE = int(os.environ.get("ANALYTICS_EVENT_BUFFER_SIZE", 1))
ANALYTICS_EVENT_MAX_AGE_SECONDS = float(os.environ.get("ANALYTICS_EVENT_MAX_AGE_SECONDS", 2))
CELERY_BEAT_SCHEDULE.update(
    {
        "analytics-detect": {
            "task": "analytics.detect",
            "schedule": ANALYTICS_DETECT_INTERVAL_SECONDS,
        },
        "analytics-notify": {"task": "analytics.notify", "schedule": 30},
        "analytics-findings": {"task": "analytics.findings", "schedule": 3600},
    }
)
