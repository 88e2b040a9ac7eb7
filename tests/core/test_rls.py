"""PostgreSQL row-level security: the database layer of tenant isolation (issue 2).

The ORM layer (tests/core/test_tenancy.py) filters by the current tenant; underneath it,
every tenant-owned table has FORCE ROW LEVEL SECURITY and the `custos_tenant_isolation`
policy (apps/core/rls.py), keyed on the transaction-local setting `app.tenant_id`. These tests
speak raw SQL on purpose: they prove what is left when the ORM is bypassed.

PostgreSQL only (skipped on SQLite, a failure under CUSTOS_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.core.rls import POLICY, tenant_owned_models
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.tenants import services as tenant_services
from apps.tenants.models import Environment, Tenant

pytestmark = pytest.mark.postgres

# Foreign keys to tenants_tenant that are NOT tenant ownership (so need no policy). Anything
# else with a column referencing a tenant must be row-level secured.
NOT_TENANT_OWNERSHIP = {
    ("tenants_tenant", "parent_id"),  # a subsidiary's parent: the tenant table itself
    # the staff-only incident timeline names the tenant an entry is about; customers see their
    # incident through the tenant-owned incidents_incidenttenant rows, never the timeline
    ("incidents_timelineentry", "about_tenant_id"),
}


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def _environments(operator: User, tenant_a: Tenant, tenant_b: Tenant) -> None:
    tenant_services.environment_create(actor=operator, tenant=tenant_a, slug="crm", name="CRM A")
    tenant_services.environment_create(actor=operator, tenant=tenant_a, slug="erp", name="ERP A")
    tenant_services.environment_create(actor=operator, tenant=tenant_b, slug="crm", name="CRM B")


def rls_gaps() -> list[str]:
    """Every table holding a reference to a tenant that is not fully row-level secured."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT cls.relname, att.attname, cls.relrowsecurity, cls.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policies pol
                     WHERE pol.schemaname = 'public' AND pol.tablename = cls.relname
                       AND pol.policyname = %s
                       AND pol.qual LIKE %s AND pol.with_check LIKE %s)
              FROM pg_constraint con
              JOIN pg_class cls ON cls.oid = con.conrelid
              JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = ANY(con.conkey)
             WHERE con.contype = 'f' AND con.confrelid = 'tenants_tenant'::regclass
            UNION
            -- a tenant_id column without a foreign key (db_constraint=False, raw SQL) too
            SELECT cls.relname, att.attname, cls.relrowsecurity, cls.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policies pol
                     WHERE pol.schemaname = 'public' AND pol.tablename = cls.relname
                       AND pol.policyname = %s
                       AND pol.qual LIKE %s AND pol.with_check LIKE %s)
              FROM pg_attribute att
              JOIN pg_class cls ON cls.oid = att.attrelid
              JOIN pg_namespace nsp ON nsp.oid = cls.relnamespace
             WHERE nsp.nspname = 'public' AND cls.relkind IN ('r', 'p')
               AND att.attname = 'tenant_id' AND NOT att.attisdropped
             ORDER BY 1, 2
            """,
            [POLICY, "%app.tenant_id%", "%app.tenant_id%"] * 2,
        )
        rows = cursor.fetchall()
    gaps = []
    for table, column, enabled, forced, policies in rows:
        if (table, column) in NOT_TENANT_OWNERSHIP:
            continue
        missing = [
            label
            for label, ok in (
                ("ENABLE ROW LEVEL SECURITY", enabled),
                ("FORCE ROW LEVEL SECURITY", forced),
                (f"policy {POLICY} keyed on app.tenant_id", policies == 1),
                ("the tenant column named tenant_id", column == "tenant_id"),
            )
            if not ok
        ]
        if missing:
            gaps.append(f"{table}.{column}: missing {', '.join(missing)}")
    return gaps


def test_the_app_role_has_neither_superuser_nor_bypassrls(db: None) -> None:
    app_role = connection.settings_dict["OPTIONS"]["app_role"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, r.rolsuper, r.rolbypassrls FROM pg_roles r "
            "WHERE r.rolname = current_user"
        )
        user, superuser, bypass = cursor.fetchone()
        assert user == app_role
        assert not superuser
        assert not bypass
        # The login role (owner, for migrations) may RESET ROLE; it must not bypass RLS either,
        # and FORCE ROW LEVEL SECURITY holds the policy for the table owner too.
        cursor.execute(
            "SELECT r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = session_user"
        )
        assert cursor.fetchone() == (False, False)


def test_every_tenant_owned_table_is_row_level_secured(db: None) -> None:
    """Read from the catalogue, not from our model list: a new table with a tenant reference
    that escaped apps/core/rls.py (e.g. a field not named `tenant`, or a raw-SQL table) fails
    here."""
    gaps = rls_gaps()
    assert not gaps, (
        "tables with a tenant reference lack row-level security (subclass "
        "apps.core.models.TenantOwnedModel so apps/core/rls.py adds the policy on migrate, or, "
        "if the column is not ownership, list it in NOT_TENANT_OWNERSHIP in this test):\n"
        + "\n".join(gaps)
    )
    tables = {model._meta.db_table for model in tenant_owned_models()}
    secured = {
        row[0]
        for row in _rows(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity "
            "AND relkind = 'r'"
        )
    }
    existing = set(connection.introspection.table_names())
    assert (tables & existing) - secured == set()
    assert {"tenants_environment", "tenants_membership", "core_auditevent"} <= secured


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def test_a_new_tenant_table_without_rls_is_caught(db: None) -> None:
    """The check above is not vacuous: a table created behind the policy machinery's back is
    reported (the test's transaction rolls the table away)."""
    connection.use_owner_role(True)  # type: ignore[attr-defined]
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE rls_probe_forgotten (id bigserial PRIMARY KEY, "
                "tenant_id bigint NOT NULL REFERENCES tenants_tenant(id))"
            )
            cursor.execute(
                "CREATE TABLE rls_probe_owned_by (id bigserial PRIMARY KEY, "
                "owner_tenant_id bigint REFERENCES tenants_tenant(id))"
            )
            cursor.execute(
                "CREATE TABLE rls_probe_no_fk (id bigserial PRIMARY KEY, tenant_id bigint)"
            )
        gaps = rls_gaps()
    finally:
        connection.use_owner_role(False)  # type: ignore[attr-defined]
    assert any(gap.startswith("rls_probe_forgotten.tenant_id: missing ENABLE") for gap in gaps)
    assert any(gap.startswith("rls_probe_owned_by.owner_tenant_id") for gap in gaps)
    assert any(gap.startswith("rls_probe_no_fk.tenant_id: missing ENABLE") for gap in gaps)


def test_raw_sql_without_tenant_context_returns_no_rows(
    operator: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _environments(operator, tenant_a, tenant_b)
    assert _scalar("SELECT count(*) FROM tenants_environment") == 0
    assert _scalar("SELECT count(*) FROM tenants_membership") == 0
    assert _scalar("SELECT count(*) FROM core_auditevent") == 0
    with unscoped(reason="test: the rows exist"):
        assert _scalar("SELECT count(*) FROM tenants_environment") == 3


def test_raw_sql_in_tenant_a_sees_only_tenant_a(
    operator: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _environments(operator, tenant_a, tenant_b)
    with tenant_context(tenant_a):
        rows = _rows("SELECT tenant_id, name FROM tenants_environment ORDER BY name")
        events = _scalar("SELECT count(DISTINCT tenant_id) FROM core_auditevent")
    assert rows == [(tenant_a.pk, "CRM A"), (tenant_a.pk, "ERP A")]
    assert events == 1
    with tenant_context(tenant_b):
        assert _rows("SELECT name FROM tenants_environment") == [("CRM B",)]
        # A's rows cannot be changed or deleted from B's context either: they are invisible.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tenants_environment SET name = 'hijacked' WHERE tenant_id = %s",
                [tenant_a.pk],
            )
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM tenants_environment WHERE tenant_id = %s", [tenant_a.pk])
            assert cursor.rowcount == 0
    with tenant_context(tenant_a):
        assert _scalar("SELECT count(*) FROM tenants_environment WHERE name <> 'hijacked'") == 2


INSERT_ENVIRONMENT = (
    "INSERT INTO tenants_environment (tenant_id, slug, name, kind, sensitivity, region, "
    "on_premises, description, created_at, updated_at) VALUES "
    "(%s, %s, 'Smuggled', 'application', 'internal', 'us', false, '', now(), now())"
)


def _refused(sql: str, params: list[Any]) -> None:
    """The statement fails on the row-level security policy (in a savepoint, so the test's
    transaction goes on)."""
    with (
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_insert_for_another_tenant_is_refused_by_the_policy(
    operator: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        _refused(INSERT_ENVIRONMENT, [tenant_b.pk, "smuggled"])
        # Moving one of A's rows over to B is the same write, and refused the same way.
        own = tenant_services.environment_create(
            actor=operator, tenant=tenant_a, slug="crm", name="CRM A"
        )
        _refused(
            "UPDATE tenants_environment SET tenant_id = %s WHERE id = %s", [tenant_b.pk, own.pk]
        )
    with unscoped(reason="test: nothing reached tenant B"):
        assert not Environment.objects.filter(tenant=tenant_b).exists()


def test_without_context_an_insert_is_refused(tenant_a: Tenant) -> None:
    _refused(INSERT_ENVIRONMENT, [tenant_a.pk, "orphan"])


def _roll_back_in(tenant: Tenant) -> None:
    with tenant_context(tenant), transaction.atomic():
        _scalar("SELECT 1")
        raise RuntimeError("roll back")


def test_the_tenant_setting_ends_with_the_transaction(
    transactional_db: None, tenant_a: Tenant
) -> None:
    """The setting is transaction-local: once A's transaction commits, the same connection
    carries no tenant into the next one."""
    with tenant_context(tenant_a), transaction.atomic():
        assert _scalar("SELECT current_setting('app.tenant_id', true)") == str(tenant_a.pk)
        pid = _scalar("SELECT pg_backend_pid()")
        assert _scalar("SELECT count(*) FROM tenants_membership") == 0  # no members yet
    with transaction.atomic():
        assert _scalar("SELECT pg_backend_pid()") == pid
        assert _scalar("SELECT current_setting('app.tenant_id', true)") in ("", None)
    # Autocommit statements outside any block get no tenant either.
    assert _scalar("SELECT current_setting('app.tenant_id', true)") in ("", None)
    # A rolled-back transaction leaves nothing behind as well.
    with pytest.raises(RuntimeError):
        _roll_back_in(tenant_a)
    assert _scalar("SELECT current_setting('app.tenant_id', true)") in ("", None)


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_never_carries_a_request_tenant_into_the_next(
    operator: User,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_a: User,
    outsider_b: User,
    client_for: Callable[[User], Client],
    settings: Any,
) -> None:
    """Two sequential requests on one persistent connection (CONN_MAX_AGE): after A's request,
    the connection sees no tenant, and B's request sees B's rows only."""
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    _environments(operator, tenant_a, tenant_b)
    connection.ensure_connection()
    pid = _scalar("SELECT pg_backend_pid()")

    response = client_for(admin_a).get("/t/acme/environments/")
    assert response.status_code == 200
    assert b"CRM A" in response.content
    assert b"ERP A" in response.content
    assert b"CRM B" not in response.content

    assert _scalar("SELECT pg_backend_pid()") == pid, "the connection was not reused"
    assert _scalar("SELECT current_setting('app.tenant_id', true)") in ("", None)
    assert _scalar("SELECT count(*) FROM tenants_environment") == 0

    response = client_for(outsider_b).get("/t/globex/environments/")
    assert response.status_code == 200
    assert b"CRM B" in response.content
    assert b"CRM A" not in response.content
    assert b"ERP A" not in response.content
    assert _scalar("SELECT pg_backend_pid()") == pid
    assert _scalar("SELECT current_setting('app.tenant_id', true)") in ("", None)


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE core_auditevent",
        "TRUNCATE core_auditcheckpoint",
        "TRUNCATE core_auditchainhead",
        # Would cascade into the audit log. (Transactional: inside the usual test transaction
        # PostgreSQL refuses for pending deferred FK checks before looking at privileges.)
        pytest.param(
            "TRUNCATE tenants_tenant CASCADE", marks=pytest.mark.django_db(transaction=True)
        ),
    ],
)
def test_the_app_role_cannot_truncate_the_audit_log(
    operator: User, tenant_a: Tenant, statement: str
) -> None:
    """TRUNCATE skips the append-only row triggers, so the application role lacks it."""
    with unscoped(reason="test: the audit log has events"):
        assert _scalar("SELECT count(*) FROM core_auditevent") > 0
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    with unscoped(reason="test: nothing was truncated"):
        assert _scalar("SELECT count(*) FROM core_auditevent") > 0


@pytest.mark.django_db(transaction=True)
def test_flush_still_empties_every_table(operator: User, tenant_a: Tenant) -> None:
    """`manage.py flush` (and every transactional test's teardown) runs as the owner."""
    from django.core.management import call_command

    call_command("flush", "--noinput", verbosity=0)
    with unscoped(reason="test: everything is gone"):
        assert _scalar("SELECT count(*) FROM core_auditevent") == 0
        assert _scalar("SELECT count(*) FROM tenants_tenant") == 0
    assert _scalar("SELECT current_user") == connection.settings_dict["OPTIONS"]["app_role"]
