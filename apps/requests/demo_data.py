"""Demo data of the requests app (called by `seed_demo`; idempotent): pending requests in
acme's approval inbox, an active vendor lockbox grant, and a break-glass that needs review.
Everything goes through the services, so the demo shows real routing, grants and audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.requests import services
from apps.requests.models import AccessRequest, RequestKind
from apps.tenants.models import Environment, Tenant

TENANT = "acme"
CATALOG = (  # (environment slug, level, risk)
    ("salesforce-crm", "read", "low"),
    ("salesforce-crm", "write", "medium"),
    ("salesforce-crm", "admin", "high"),
    ("customer-data-lake", "read", "medium"),
    ("customer-data-lake", "export", "high"),
    ("engineering-workspace", "read", "low"),
    ("engineering-workspace", "write", "medium"),
)
PENDING = (  # (requester, environment, level, hours, justification)
    (
        "lena.fischer@acme.example",
        "salesforce-crm",
        "write",
        8,
        "Update the renewal pipeline for the Q4 forecast review with the sales leads.",
    ),
    (
        "max.keller@acme.example",
        "engineering-workspace",
        "write",
        24,
        "Fix the broken nightly build configuration in the platform repository.",
    ),
    (
        "sophie.braun@acme.example",
        "customer-data-lake",
        "export",
        4,
        "Export the anonymised churn cohort for the board report due on Friday; ticket FIN-311.",
    ),
)


def _user(email: str) -> User | None:
    return User.objects.filter(email=email).first()


def _entitlement(tenant: Tenant, operator: Any, slug: str, level: str, risk: str) -> Any:
    from apps.access.models import Entitlement
    from apps.access.services import entitlement_create

    environment = Environment.objects.filter(slug=slug).first()
    if environment is None:
        return None
    found = Entitlement.objects.filter(environment=environment, level=level).first()
    if found is not None:
        return found
    return entitlement_create(
        actor=operator, tenant=tenant, environment=environment, level=level, risk=risk
    )


def seed_requests(*, operator: Any) -> int:
    """Returns how many requests it created (0 when the demo has them already)."""
    tenant = Tenant.objects.filter(slug=TENANT).first()
    if tenant is None:
        return 0
    created = 0
    with tenant_context(tenant):
        if AccessRequest.objects.exists():
            return 0
        catalog = {
            (slug, level): _entitlement(tenant, operator, slug, level, risk)
            for slug, level, risk in CATALOG
        }
        services.ticket_secret_rotate(actor=operator, tenant=tenant)
        for email, slug, level, hours, why in PENDING:
            requester, target = _user(email), catalog.get((slug, level))
            if requester is None or target is None:
                continue
            services.access_request_submit(
                actor=requester,
                tenant=tenant,
                entitlement=target,
                duration=timedelta(hours=hours),
                justification=why,
            )
            created += 1

        engineer = _user("priya.nair@custos.example")
        manager = _user("daniel.okafor@custos.example")
        customer_approver = _user("katrin.mueller@acme.example")
        crm_read = catalog.get(("salesforce-crm", "read"))
        if engineer and manager and customer_approver and crm_read:
            req = services.access_request_submit(
                actor=engineer,
                tenant=tenant,
                entitlement=crm_read,
                duration=timedelta(hours=6),
                justification=(
                    "Reproduce the duplicate-contact sync error the customer reported in "
                    "SUP-1042 and check the affected account records."
                ),
                ticket_ref="SUP-1042",
                ticket_bound=True,
                kind=RequestKind.VENDOR,
            )
            req = services.access_request_decide(
                actor=manager, req=req, decision="approve", reason="Ticket confirmed."
            )
            services.access_request_decide(
                actor=customer_approver,
                req=req,
                decision="approve",
                duration=timedelta(hours=4),
                reason="Read-only, four hours are enough.",
            )
            created += 1

        responder = _user("tom.becker@custos.example")
        ws_write = catalog.get(("engineering-workspace", "write"))
        if responder and ws_write:
            services.break_glass_activate(
                actor=responder,
                tenant=tenant,
                entitlement=ws_write,
                duration=timedelta(hours=2),
                justification=(
                    "Production outage INC-77: the deployment pipeline is wedged and blocks "
                    "every customer release; restart the stuck runners now."
                ),
                ticket_ref="INC-77",
                confirmed=True,
            )
            created += 1
    return created
