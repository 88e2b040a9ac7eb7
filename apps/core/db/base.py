"""PostgreSQL backend that carries the tenant context into row-level security.

* After connecting, the session switches to the application role (`OPTIONS["app_role"]`), which
  has neither SUPERUSER nor BYPASSRLS, so RLS policies apply. `migrate` runs as the owner
  (apps.core.management.commands.migrate) because DDL needs it.
* Before each statement the tenant scope (apps.core.tenancy) is written with
  `set_config(..., is_local => true)`: transaction-local, so a pooled connection never carries
  one request's tenant into the next. In autocommit mode the setting and the statement go in
  one message (PostgreSQL runs it as one implicit transaction): one round trip, not four.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base as pg_base
from django.db.backends.postgresql import operations as pg_ops

from apps.core.tenancy import current_scope

SET_SCOPE_SQL = (
    "SELECT set_config('app.tenant_id', %s, true), set_config('app.cross_tenant', %s, true)"
)
EMPTY_SCOPE = ("", "")

# Set by the migrate command: DDL runs as the owner, not the application role.
OWNER_MODE = {"on": False}


def _scope_prefix(scope: tuple[str, str]) -> str:
    """SET_SCOPE_SQL with its values as literals (they are a tenant id and "on"/"", checked
    here), to go in front of a statement whose own parameters follow: no placeholders, and no
    `%` that the statement's parameter substitution could take for one."""
    tenant_id, cross = scope
    if not (tenant_id == "" or tenant_id.isdigit()) or cross not in ("", "on"):
        raise ValueError(f"unexpected tenant scope {scope!r}")
    return (
        f"SELECT set_config('app.tenant_id', '{tenant_id}', true), "
        f"set_config('app.cross_tenant', '{cross}', true); "
    )


def _desired_scope() -> tuple[str, str]:
    scope = current_scope()
    return (
        "" if scope.tenant_id is None else str(scope.tenant_id),
        "on" if scope.cross_tenant else "",
    )


class DatabaseOperations(pg_ops.DatabaseOperations):
    def execute_sql_flush(self, sql_list: Iterable[str]) -> None:
        """`flush` (manage.py flush, a transactional test's teardown) truncates every table,
        the audit tables included, which the application role may not do: run it as the
        owner."""
        connection: Any = self.connection
        if OWNER_MODE["on"] or not connection.app_role:
            super().execute_sql_flush(sql_list)
            return
        connection.use_owner_role(True)
        try:
            super().execute_sql_flush(sql_list)
        finally:
            connection.use_owner_role(False)


class DatabaseWrapper(pg_base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scope_in_txn: tuple[str, str] = EMPTY_SCOPE
        self.execute_wrappers.append(self._with_tenant_scope)

    @property
    def app_role(self) -> str:
        return str(self.settings_dict.get("OPTIONS", {}).get("app_role") or "")

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("app_role", None)
        return params

    def init_connection_state(self) -> None:
        super().init_connection_state()
        self._scope_in_txn = EMPTY_SCOPE
        # The "no database" connection (CREATE/DROP DATABASE for tests) stays the owner.
        if self.app_role and not OWNER_MODE["on"] and self.alias != NO_DB_ALIAS:
            with self.connection.cursor() as cursor:
                cursor.execute(f'SET ROLE "{self.app_role}"')

    def use_owner_role(self, owner: bool) -> None:
        """Switch an open connection between the owner and the application role."""
        OWNER_MODE["on"] = owner
        if self.connection is None or not self.app_role:
            return
        with self.connection.cursor() as cursor:
            cursor.execute("RESET ROLE" if owner else f'SET ROLE "{self.app_role}"')

    # A transaction's local settings vanish when it ends or rolls back to a savepoint. (The
    # public methods are the only callers of Django's private _commit/_rollback/... .)
    def commit(self) -> None:
        self._scope_in_txn = EMPTY_SCOPE
        super().commit()

    def rollback(self) -> None:
        self._scope_in_txn = EMPTY_SCOPE
        super().rollback()

    def savepoint_rollback(self, sid: str) -> None:
        super().savepoint_rollback(sid)
        self._scope_in_txn = ("?", "?")  # unknown: set again before the next statement

    def set_autocommit(
        self, autocommit: bool, force_begin_transaction_with_broken_autocommit: bool = False
    ) -> None:
        self._scope_in_txn = EMPTY_SCOPE
        super().set_autocommit(autocommit, force_begin_transaction_with_broken_autocommit)

    def close(self) -> None:
        self._scope_in_txn = EMPTY_SCOPE
        super().close()

    def _with_tenant_scope(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        desired = _desired_scope()
        raw = self.connection
        if self.in_atomic_block or not self.get_autocommit():
            if self._scope_in_txn != desired:
                with raw.cursor() as cursor:
                    cursor.execute(SET_SCOPE_SQL, desired)
                self._scope_in_txn = desired
            return execute(sql, params, many, context)
        if desired == EMPTY_SCOPE:
            return execute(sql, params, many, context)
        cursor = getattr(context.get("cursor"), "cursor", None)
        if not many and isinstance(sql, str) and isinstance(cursor, psycopg.ClientCursor):
            # One message, one round trip: PostgreSQL runs a multi-statement query as one
            # implicit transaction, so the transaction-local setting holds for the statement
            # and ends with it (instead of BEGIN / set_config / statement / COMMIT).
            result = execute(_scope_prefix(desired) + sql, params, many, context)
            cursor.nextset()  # the caller reads the statement's result, not the setting's
            return result
        with raw.transaction():
            with raw.cursor() as scope_cursor:
                scope_cursor.execute(SET_SCOPE_SQL, desired)
            return execute(sql, params, many, context)
