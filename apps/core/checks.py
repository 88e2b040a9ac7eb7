"""Deployment checks of our own (`manage.py check --deploy`): settings that are fine for the
demo and the tests but wrong in production. Each warning names the environment variable that
fixes it (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


def _inside_checkout(path: Any) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(settings.BASE_DIR).resolve())
    except (TypeError, ValueError):
        return False


@register(Tags.security, deploy=True)
def custos_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine not in ("apps.core.db", "django.db.backends.postgresql"):
        messages.append(
            Warning(
                "The database is not PostgreSQL: row-level tenant isolation is off.",
                hint="Set DATABASE_URL=postgres://... and DATABASE_APP_ROLE.",
                id="custos.W001",
            )
        )
    elif not settings.DATABASES["default"].get("OWNER_CREDENTIALS"):
        messages.append(
            Warning(
                "The application logs in with the database owner's credentials: a statement "
                "that ran RESET ROLE would be outside row-level security.",
                hint="Give the application its own login role (a member of DATABASE_APP_ROLE) "
                "in DATABASE_URL and the owner's URL in DATABASE_OWNER_URL (used by migrate "
                "only); see docs/operator-guide.md.",
                id="custos.W006",
            )
        )
    if str(settings.CELERY_BROKER_URL).startswith(("filesystem", "memory")):
        messages.append(
            Warning(
                "The Celery broker is the demo's filesystem transport.",
                hint="Set CELERY_BROKER_URL=redis://... (or amqp://...).",
                id="custos.W002",
            )
        )
    backend = str(getattr(settings, "EMAIL_BACKEND_PATH", ""))
    if backend.endswith(("console.EmailBackend", "locmem.EmailBackend", "dummy.EmailBackend")):
        messages.append(
            Warning(
                "Email goes nowhere: password resets and notifications would never arrive.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, "
                "EMAIL_USE_TLS, DEFAULT_FROM_EMAIL).",
                id="custos.W003",
            )
        )
    if not getattr(settings, "API_TOKEN_PEPPER", ""):
        messages.append(
            Warning(
                "API_TOKEN_PEPPER is empty: API key hashes derive from SECRET_KEY, so rotating "
                "the secret key would invalidate every issued API key.",
                hint="Set API_TOKEN_PEPPER to a separate random value of 32+ characters.",
                id="custos.W004",
            )
        )
    for name in ("KEK_FILE", "AUDIT_SIGNING_KEY_FILE", "AUDIT_CHECKPOINT_DIR"):
        value = getattr(settings, name, None)
        if value and _inside_checkout(value):
            messages.append(
                Warning(
                    f"{name} is inside the application folder ({value}): key material and "
                    "audit checkpoints belong outside the code and the database.",
                    hint=f"Set {name} to a path outside {settings.BASE_DIR}.",
                    id="custos.W005",
                )
            )
    return messages
