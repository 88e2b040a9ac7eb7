"""Helpers shared by the request services: audit, refusals, the grant calls into apps.access."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import current_tenant_id, tenant_context
from apps.requests.models import AccessRequest, RequestKind
from apps.tenants.models import Tenant, TenantStatus

logger = logging.getLogger("custos.requests")
T = TypeVar("T")


def audit(
    action: str,
    *,
    actor: Any,
    req: AccessRequest | None = None,
    outcome: str = "success",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    target: Any = None,
) -> None:
    audit_event_record(
        action=action,
        actor=actor,
        target=target if target is not None else req,
        outcome=outcome,
        before=before,
        after=after,
        on_behalf_of=req.on_behalf_of_id if req is not None else None,
        details=details,
    )


@contextmanager
def in_tenant(tenant: Tenant) -> Iterator[Tenant]:
    """Enter `tenant` unless we are in it already (services are called from views inside the
    tenant scope, and from the staff console and sweepers outside any)."""
    if current_tenant_id() == tenant.pk:
        yield tenant
        return
    with tenant_context(tenant):
        yield tenant


def refused[T](
    action: str, *, actor: Any, tenant: Tenant, details: dict[str, Any], run: Callable[[], T]
) -> T:
    """Run `run`; when it refuses with a DomainError, record the refusal (its own transaction:
    the attempt rolled back, the refusal stays) and re-raise."""
    try:
        return run()
    except DomainError as exc:
        try:
            with in_tenant(tenant):
                audit_event_record(
                    action=action,
                    actor=actor,
                    outcome="denied",
                    target_type="requests.accessrequest",
                    target_id=details.get("request", ""),
                    details={**details, "code": exc.code, "message": str(exc.message)},
                )
        except Exception:  # an audit failure must not hide the refusal
            logger.exception("could not audit a refused %s", action)
        raise


def tenant_open_check(tenant: Tenant, *, kind: str) -> None:
    """No new access into a tenant that is isolated (incident), terminated or suspended."""
    if tenant.status == TenantStatus.ACTIVE:
        return
    if tenant.status == TenantStatus.ISOLATED:
        message = _(
            "%(tenant)s is isolated because of an incident: no access can be requested or "
            "granted until it is restored."
        )
    elif tenant.status == TenantStatus.TERMINATED:
        message = _("%(tenant)s is terminated: no access can be requested or granted.")
    else:
        message = _("%(tenant)s is suspended: no access can be requested or granted.")
    raise DomainError(message % {"tenant": tenant.name}, code=f"tenant_{tenant.status}")


def grant_for_request(
    *, actor: Any, req: AccessRequest, starts_at: datetime, expires_at: datetime
) -> Any:
    """Create the grant a request approved (apps.access.services.grant_create). Its own rules
    (standing-access maximum, SoD deny rules, tenant status) apply again here."""
    from apps.access import services as access_services

    source = "break_glass" if req.kind == RequestKind.BREAK_GLASS else "request"
    return access_services.grant_create(
        actor=actor,
        tenant=req.tenant,
        user=req.beneficiary,
        entitlement=req.entitlement if req.entitlement_id else None,
        role=req.role if req.role_id else None,
        source=source,
        starts_at=starts_at,
        expires_at=expires_at,
        justification=req.justification,
        ticket_ref=req.ticket_ref,
        approval_ref=f"request:{req.pk}",
    )


def grant_end(*, actor: Any, req: AccessRequest, reason: str) -> None:
    if req.grant is None:
        return
    from apps.access import services as access_services

    access_services.grant_revoke(actor=actor, grant=req.grant, reason=reason)
