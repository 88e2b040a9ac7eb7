"""Test settings: fast hashing, in-memory email, eager-free Celery (tests call services).

Tests never write into the repository's var/: unless CUSTOS_VAR_DIR is set, this process gets a
throw-away folder (removed at exit) for everything base.py derives from VAR_DIR — keys, audit
checkpoints, the filesystem broker's folders, the beat schedule. tests/conftest.py additionally
points key files and the checkpoint folder at each test's own tmp_path.
"""

import atexit
import os
import shutil
import tempfile

if not os.environ.get("CUSTOS_VAR_DIR"):
    _TEST_VAR_DIR = tempfile.mkdtemp(prefix="custos-test-var-")
    os.environ["CUSTOS_VAR_DIR"] = _TEST_VAR_DIR
    atexit.register(shutil.rmtree, _TEST_VAR_DIR, ignore_errors=True)

from .base import *  # noqa: F403
from .base import CELERY_BROKER_TRANSPORT_OPTIONS, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests see each API call record at once (no buffer flushed by a timer thread mid-test).
API_CALL_LOG_BUFFER_SIZE = 1
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
AUDIT_SIGNING_KEY_FILE = VAR_DIR / "test-keys" / "audit-signing.ed25519"
AUDIT_CHECKPOINT_DIR = VAR_DIR / "test-checkpoints"
LOCKOUT_BASE_SECONDS = 30
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# The filesystem broker (no CELERY_BROKER_URL) needs its folders; they live in the tmp VAR_DIR.
for _folder in {str(v) for k, v in CELERY_BROKER_TRANSPORT_OPTIONS.items() if "folder" in k}:
    os.makedirs(_folder, exist_ok=True)
