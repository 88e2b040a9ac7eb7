"""Helpers shared by the access services: the tenant scope, the policy version bump, snapshots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.access.models import Grant, PolicyVersion
from apps.core.tenancy import TenantContextMissing, current_scope, tenant_context


@contextmanager
def scope_for(tenant: Any) -> Iterator[None]:
    """Run inside `tenant`'s scope: no-op when already there (or crossing on purpose); enters
    it when no tenant is set (tasks, shell); refuses from inside ANOTHER tenant's scope."""
    scope = current_scope()
    tenant_id = getattr(tenant, "pk", tenant)
    if scope.cross_tenant or scope.tenant_id == tenant_id:
        yield
        return
    if scope.tenant_id is None:
        from apps.tenants.models import Tenant

        obj = tenant if isinstance(tenant, Tenant) else Tenant.objects.get(pk=tenant_id)
        with tenant_context(obj):
            yield
        return
    raise TenantContextMissing(
        f"access service for tenant {tenant_id} called inside tenant {scope.tenant_id}"
    )


def policy_version_bump(*, tenant: Any) -> int:
    """Advance the tenant's policy version in the caller's transaction (any change to grants,
    catalog or rules); the engine drops its compiled state for the tenant on the next check.
    In this process the drop is immediate once the transaction commits."""
    tenant_id = getattr(tenant, "pk", tenant)
    stamp = uuid.uuid4().hex
    with scope_for(tenant):
        updated = PolicyVersion.objects.for_tenant(tenant_id).update(
            counter=F("counter") + 1, stamp=stamp, changed_at=timezone.now()
        )
        if not updated:
            PolicyVersion.objects.bulk_create(
                [PolicyVersion(tenant_id=tenant_id, counter=1, stamp=stamp)],
                ignore_conflicts=True,
            )
            PolicyVersion.objects.for_tenant(tenant_id).update(stamp=stamp)
    from apps.access import engine

    # At once (this transaction's own next decision) and again after commit (a decision made
    # in between compiled the uncommitted state; its stamp no longer matches after rollback).
    engine.cache_invalidate(tenant_id)
    transaction.on_commit(lambda: engine.cache_invalidate(tenant_id))
    return tenant_id


def grant_snapshot(grant: Grant) -> dict[str, Any]:
    return {
        "subject": grant.subject_label,
        "subject_kind": grant.subject_kind,
        "target": grant.target_label,
        "target_kind": "entitlement" if grant.entitlement_id else "role",
        "source": grant.source,
        "starts_at": grant.starts_at.isoformat() if grant.starts_at else "",
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else "",
        "justification": grant.justification,
        "ticket_ref": grant.ticket_ref,
        "approval_ref": grant.approval_ref,
        "mapping_key": grant.mapping_key,
    }
