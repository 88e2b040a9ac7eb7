"""Production settings, run for real in a subprocess: they refuse to start with an unsafe
environment, and with a sane one `manage.py check --deploy` reports nothing at all.
(Nothing connects to the database or the broker here: `check` does not need them.)"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def sane_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    keys = tmp_path / "etc-custos"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "custos.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://custos.example.com",
        "DATABASE_URL": "postgres://custos_web:secret@db.internal:5432/custos",
        "DATABASE_OWNER_URL": "postgres://custos_owner:secret@db.internal:5432/custos",
        "DATABASE_APP_ROLE": "custos_app",
        "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
        "CACHE_URL": "redis://redis.internal:6379/1",
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": "587",
        "EMAIL_USE_TLS": "true",
        "DEFAULT_FROM_EMAIL": "Custos <custos@example.com>",
        "API_TOKEN_PEPPER": secrets.token_urlsafe(32),
        "KEK_FILE": str(keys / "kek.json"),
        "AUDIT_SIGNING_KEY_FILE": str(keys / "audit-signing.ed25519"),
        "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "CUSTOS_VAR_DIR": str(tmp_path / "var"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_check_deploy_is_silent_with_a_sane_environment(tmp_path: Path) -> None:
    result = manage(sane_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output


@pytest.mark.parametrize(
    ("secret_key", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("custos-insecure-development-key-do-not-use-in-production", "the development key"),
        ("too-short-" * 3, "short"),
        ("a" * 80, "low entropy"),
        ("django-insecure-" + secrets.token_urlsafe(60), "Django's placeholder prefix"),
    ],
)
def test_production_refuses_an_insecure_secret_key(
    tmp_path: Path, secret_key: str | None, why: str
) -> None:
    result = manage(sane_env(tmp_path, SECRET_KEY=secret_key), "check")
    assert result.returncode != 0, why
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is missing or insecure" in result.stderr


def test_production_refuses_a_weak_fallback_key(tmp_path: Path) -> None:
    result = manage(sane_env(tmp_path, SECRET_KEY_FALLBACKS="short"), "check")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or insecure" in result.stderr


def test_production_needs_allowed_hosts_and_refuses_debug(tmp_path: Path) -> None:
    result = manage(sane_env(tmp_path, ALLOWED_HOSTS=None), "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr
    result = manage(sane_env(tmp_path, DEBUG="true"), "check")
    assert result.returncode != 0
    assert "DEBUG=true is refused" in result.stderr


def test_check_deploy_names_what_is_demo_grade(tmp_path: Path) -> None:
    """Without the production services, the deploy check says what to set."""
    env = sane_env(
        tmp_path,
        DATABASE_URL=None,
        CELERY_BROKER_URL=None,
        EMAIL_HOST=None,
        API_TOKEN_PEPPER=None,
        KEK_FILE=str(BASE_DIR / "var" / "keys" / "kek.json"),
    )
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for check_id in ("custos.W001", "custos.W002", "custos.W003", "custos.W004", "custos.W005"):
        assert check_id in output, output


def test_check_deploy_asks_for_a_login_role_of_the_applications_own(tmp_path: Path) -> None:
    """PostgreSQL with the owner's credentials in DATABASE_URL and no DATABASE_OWNER_URL."""
    env = sane_env(
        tmp_path,
        DATABASE_URL="postgres://custos_owner:secret@db.internal:5432/custos",
        DATABASE_OWNER_URL=None,
    )
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "custos.W006" in output, output
    assert "DATABASE_OWNER_URL" in output
