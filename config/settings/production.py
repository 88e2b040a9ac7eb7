"""Production settings: secure by default; refuses to start when the environment is unsafe.

Refuses (ImproperlyConfigured) a missing, short, low-entropy or development SECRET_KEY, a missing
ALLOWED_HOSTS, and DEBUG=true. `manage.py check --deploy` then warns about anything else that is
demo-grade (SQLite, filesystem broker, console email, key files inside the checkout, no API
token pepper: apps/core/checks.py). Every variable is described in docs/operations.md.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import INSECURE_DEV_SECRET_KEY, SECRET_KEY, env_bool, env_list


def check_secret_key(value: str) -> None:
    """The rules of Django's security.W009, enforced at start instead of warned about."""
    if (
        not value
        or value == INSECURE_DEV_SECRET_KEY
        or value.startswith("django-insecure")
        or len(value) < 50
        or len(set(value)) < 5
    ):
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or insecure: set a random value of at least 50 characters "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(64))").'
        )


check_secret_key(SECRET_KEY)
# Old keys still accepted for signatures made before a rotation (comma-separated).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
for _fallback in SECRET_KEY_FALLBACKS:
    check_secret_key(_fallback)

if not os.environ.get("ALLOWED_HOSTS", "").strip():
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set: list the host names Custos serves.")
if env_bool("DEBUG", False):
    raise ImproperlyConfigured("DEBUG=true is refused by config.settings.production.")

DEBUG = False
# Federation fetches (SAML metadata, OIDC discovery/JWKS/token) are https-only in production.
FEDERATION_ALLOW_HTTP = False
# Behind a reverse proxy the client address (lockout, audit) comes from X-Forwarded-For; only
# turn this on when the proxy overwrites that header.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
