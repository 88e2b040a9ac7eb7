"""Two statement shapes the onboarding hot path needs and the ORM does not offer, built from the
models' own metadata (field pre-save hooks, column names, value preparation) so they follow the
schema:

* `insert_ignoring_conflict(obj)`: `INSERT … ON CONFLICT DO NOTHING RETURNING id`, i.e. "create
  unless a unique constraint says it exists", in one statement and without an exception (the
  ORM's `bulk_create(ignore_conflicts=True)` does not return the new id).
* `autocommit_statement(...)`: on PostgreSQL in autocommit mode, the tenant-scope setting and one
  statement sent as one message, which PostgreSQL runs as one implicit transaction: one round
  trip instead of BEGIN / set_config / statement / COMMIT (the same technique as the API-key
  look-up in apps.integrations.services.authn). Anywhere else it runs the statement through
  Django's cursor, which sets the scope itself.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql.subqueries import InsertQuery

from apps.core.tenancy import current_scope


def _insert_sql(obj: Model, *, using: str) -> tuple[str, list[Any]]:
    opts = obj._meta
    fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.auto_field]
    query = InsertQuery(type(obj), on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [opts.pk]
    (sql, params), *_rest = compiler.as_sql()
    return sql, list(params)


def insert_ignoring_conflict(obj: Model) -> bool:
    """Insert `obj` (its `save()` logic is the caller's: this runs pre-save hooks such as
    auto_now, nothing else). True, with `obj.pk` set, when the row is new; False when a unique
    constraint matched an existing row (nothing written)."""
    using = router.db_for_write(type(obj), instance=obj)
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise NotImplementedError("ON CONFLICT … RETURNING: PostgreSQL only")
    sql, params = _insert_sql(obj, using=using)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = using
    return True


def autocommit_statement(sql: str, params: list[Any], *, using: str = "default") -> Any:
    """Run one statement in its own transaction and return its first row (or None). On
    PostgreSQL in autocommit mode: one round trip (scope setting + statement in one message)."""
    connection = connections[using]
    if (
        connection.vendor == "postgresql"
        and connection.get_autocommit()
        and not connection.in_atomic_block
    ):
        import psycopg

        from apps.core.db.base import SET_SCOPE_SQL

        connection.ensure_connection()
        raw = connection.connection
        scope = current_scope()
        scope_params = [
            "" if scope.tenant_id is None else str(scope.tenant_id),
            "on" if scope.cross_tenant else "",
        ]
        with raw.cursor() as cursor:
            if isinstance(cursor, psycopg.ClientCursor):
                cursor.execute(f"{SET_SCOPE_SQL}; {sql}", [*scope_params, *params])
                cursor.nextset()
                return cursor.fetchone() if cursor.description else None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def idempotency_claim_sql(obj: Model, *, using: str = "default") -> tuple[str, list[Any]]:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING id` for `obj`, as SQL and parameters."""
    return _insert_sql(obj, using=using)
