"""PostgreSQL row-level security for every tenant-owned table, kept in step by `migrate`.

Runs after every migrate (post_migrate, as the owner), so a model added by any app gets its
policy without anyone remembering to write one; `tests/core/test_rls.py` checks that every
table with a tenant column has FORCE ROW LEVEL SECURITY and the policy.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connections
from django.db.models import Model

POLICY = "custos_tenant_isolation"
AUDIT_TABLES = ("core_auditevent", "core_auditcheckpoint", "core_auditchainhead")
SCOPE_PREDICATE = (
    "(current_setting('app.cross_tenant', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint)"
)


def tenant_owned_models() -> list[type[Model]]:
    result = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        field = next((f for f in model._meta.concrete_fields if f.name == "tenant"), None)
        if (
            field is not None
            and field.related_model is not None
            and (field.related_model._meta.label == "tenants.Tenant")
        ):
            result.append(model)
    return result


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def apply_rls(using: str = "default") -> list[str]:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    app_role = str(connection.settings_dict.get("OPTIONS", {}).get("app_role") or "")
    tables = []
    with connection.cursor() as cursor:
        if app_role:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {_quote(app_role)} NOLOGIN NOSUPERUSER NOBYPASSRLS")
                cursor.execute(f"GRANT {_quote(app_role)} TO CURRENT_USER")
        # A table may not exist yet (migrating to an earlier state, or an app whose migration
        # is still to be written): it gets its policy on the migrate that creates it.
        existing = set(connection.introspection.table_names(cursor))
        for model in tenant_owned_models():
            if model._meta.db_table not in existing:
                continue
            table = _quote(model._meta.db_table)
            cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
            cursor.execute(
                f"CREATE POLICY {POLICY} ON {table} "
                f"USING {SCOPE_PREDICATE} WITH CHECK {SCOPE_PREDICATE}"
            )
            tables.append(model._meta.db_table)
        if app_role:
            role = _quote(app_role)
            cursor.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public "
                f"TO {role}"
            )
            cursor.execute(
                f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}"
            )
            # The audit log is append-only for the application (a trigger enforces it too).
            cursor.execute(f"REVOKE DELETE ON core_auditevent FROM {role}")
            cursor.execute(f"REVOKE DELETE ON core_auditcheckpoint FROM {role}")
            # TRUNCATE skips row triggers, so the application role must not have it on the
            # audit tables at all (also not through TRUNCATE ... CASCADE from a referenced
            # table). `flush` runs as the owner (apps.core.db.base.DatabaseOperations).
            cursor.execute(f"REVOKE TRUNCATE ON {', '.join(AUDIT_TABLES)} FROM {role}")
    return tables


def apply_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if getattr(sender, "name", "") != "apps.core":
        return
    # `flush` (e.g. a transactional test's teardown) sends post_migrate too, on a connection
    # running as the application role: the DDL needs the owner for the duration.
    connection = connections[using]
    switch = getattr(connection, "use_owner_role", None)
    if switch is None:
        apply_rls(using)
        return
    from apps.core.db.base import OWNER_MODE

    if OWNER_MODE["on"]:
        apply_rls(using)
        return
    switch(True)
    try:
        apply_rls(using)
    finally:
        switch(False)
