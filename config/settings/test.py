"""Test settings: fast hashing, in-memory email, eager-free Celery (tests call services)."""

from .base import *  # noqa: F403
from .base import VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
AUDIT_SIGNING_KEY_FILE = VAR_DIR / "test-keys" / "audit-signing.ed25519"
AUDIT_CHECKPOINT_DIR = VAR_DIR / "test-checkpoints"
LOCKOUT_BASE_SECONDS = 30
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
