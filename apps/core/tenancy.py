"""The one tenant-scoping mechanism.

A context variable holds the current tenant. It is set by `TenantMiddleware` (from the URL,
after checking membership), by `tenant_task` for Celery tasks and by management commands.
Tenant-owned managers read it and refuse to run without it (fail-closed). Crossing tenants is
explicit: `unscoped(reason=...)`, which also lifts PostgreSQL row-level security for the block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.tenants.models import Tenant

logger = logging.getLogger("custos.tenancy")


class TenantContextMissing(RuntimeError):
    """A tenant-owned table was queried without a tenant context (a bug, never user input)."""


@dataclass(frozen=True, slots=True)
class TenantScope:
    tenant_id: int | None
    cross_tenant: bool = False
    reason: str = ""


_NO_SCOPE = TenantScope(None)
_scope: ContextVar[TenantScope] = ContextVar(
    "custos_tenant_scope",
    default=_NO_SCOPE,
)
_tenant_obj: ContextVar[Tenant | None] = ContextVar("custos_tenant_obj", default=None)


def current_scope() -> TenantScope:
    return _scope.get()


def current_tenant_id() -> int | None:
    return _scope.get().tenant_id


def current_tenant() -> Tenant | None:
    return _tenant_obj.get()


def is_cross_tenant() -> bool:
    return _scope.get().cross_tenant


@contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Run the block inside one tenant's scope (and nothing else)."""
    scope_token = _scope.set(TenantScope(tenant.pk))
    obj_token = _tenant_obj.set(tenant)
    try:
        yield tenant
    finally:
        _scope.reset(scope_token)
        _tenant_obj.reset(obj_token)


@contextmanager
def unscoped(*, reason: str) -> Iterator[None]:
    """Cross tenants on purpose. `reason` is mandatory and logged; callers that act for a
    person (not a sweeper) also write an audit event."""
    if not reason:
        raise ValueError("unscoped() needs a reason")
    logger.debug("cross-tenant block: %s", reason)
    outer = _scope.get()
    token = _scope.set(TenantScope(outer.tenant_id, cross_tenant=True, reason=reason))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def no_tenant() -> Iterator[None]:
    """Leave every tenant scope (e.g. a platform-level page inside a tenant request)."""
    scope_token = _scope.set(TenantScope(None))
    obj_token = _tenant_obj.set(None)
    try:
        yield
    finally:
        _scope.reset(scope_token)
        _tenant_obj.reset(obj_token)
