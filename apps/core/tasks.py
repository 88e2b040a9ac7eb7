"""Celery tasks of core: thin wrappers around services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from celery import shared_task

from apps.core.tenancy import tenant_context

logger = logging.getLogger("custos.tasks")


def tenant_task(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for task bodies that act in one tenant: the first argument is a tenant id;
    the body runs inside that tenant's scope (ORM filter and PostgreSQL RLS)."""

    @wraps(func)
    def wrapper(tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        from apps.tenants.models import Tenant

        tenant = Tenant.objects.get(pk=tenant_id)
        with tenant_context(tenant):
            return func(tenant, *args, **kwargs)

    return wrapper


@shared_task(name="apps.core.tasks.worker_heartbeat_task")
def worker_heartbeat_task() -> str:
    logger.info("custos worker heartbeat")
    return "ok"


@shared_task(name="apps.core.tasks.audit_checkpoint_task")
def audit_checkpoint_task() -> str | None:
    from apps.core.audit.checkpoints import checkpoint_create

    checkpoint = checkpoint_create()
    return checkpoint.merkle_root if checkpoint else None
