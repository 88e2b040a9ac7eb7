"""Least privilege on PostgreSQL: with DATABASE_OWNER_URL set, the application logs in as its
own role and only `migrate` uses the owner's credentials — so not even `RESET ROLE` (say,
through an injected statement) can leave row-level security. Run as real processes, as an
operator would start them."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection

from apps.core.tenancy import unscoped
from apps.tenants.models import Membership
from tests.core.test_settings import manage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROBE = """
from django.db import connection
with connection.cursor() as c:
    c.execute("SELECT current_user, session_user")
    print("roles", *c.fetchone())
    c.execute("RESET ROLE")
    c.execute("SELECT current_user")
    print("after reset", c.fetchone()[0])
    c.execute("SELECT count(*) FROM tenants_membership")
    print("memberships without a tenant scope", c.fetchone()[0])
    try:
        c.execute('SET ROLE OWNER_ROLE')
        print("owner role: reachable")
    except Exception as exc:
        print("owner role: refused", type(exc).__name__)
"""


def _as_owner(*statements: str) -> None:
    """Role management needs the owner (CREATEROLE), not the application role."""
    connection.use_owner_role(True)  # type: ignore[attr-defined]
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.use_owner_role(False)  # type: ignore[attr-defined]


def _url(user: str) -> str:
    s = connection.settings_dict
    return f"postgres://{user}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def test_the_app_logs_in_as_its_own_role_and_migrate_as_the_owner(tenant_a, admin_a):
    owner = connection.settings_dict["USER"]
    app_role = connection.settings_dict["OPTIONS"]["app_role"]
    login = f"custos_web_{uuid.uuid4().hex[:8]}"
    with unscoped(reason="test: the tenant has members"):
        assert Membership.objects.filter(tenant=tenant_a).exists()
    _as_owner(f'CREATE ROLE "{login}" LOGIN IN ROLE "{app_role}"')
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": _url(login),
            "DATABASE_OWNER_URL": _url(owner),
            "DATABASE_APP_ROLE": app_role,
        }
        migrate = manage(env, "migrate", "--noinput", "-v0")
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        shell = manage(env, "shell", "-c", PROBE.replace("OWNER_ROLE", f'"{owner}"'))
        assert shell.returncode == 0, shell.stderr[-2000:]
        out = shell.stdout
        assert f"roles {app_role} {login}" in out
        assert f"after reset {login}" in out  # not the owner
        assert "memberships without a tenant scope 0" in out  # RLS still applies
        assert "owner role: refused" in out
    finally:
        _as_owner(f'DROP ROLE "{login}"')  # it owns nothing
