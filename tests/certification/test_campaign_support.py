"""Shared set-up for the certification campaign tests (no tests here): acme's CRM owned by
approver_a with read/write/admin entitlements, an ERP, people in departments, and grants made
through the access services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.access import services as access_services
from apps.core.tenancy import tenant_context
from apps.tenants import services as tenant_services
from apps.tenants.models import Membership
from tests.conftest import make_user

DAYS = timedelta(days=7)


@dataclass
class World:
    tenant: Any
    operator: Any
    admin: Any
    owner: Any  # approver_a: owns the CRM
    member: Any
    crm: Any
    erp: Any
    ents: dict[str, Any] = field(default_factory=dict)
    grants: dict[str, Any] = field(default_factory=dict)
    people: dict[str, Any] = field(default_factory=dict)

    def grant(self, key: str, user: Any, ent: str, **extra: Any) -> Any:
        extra.setdefault("duration", DAYS)
        grant = access_services.grant_create(
            actor=self.operator,
            tenant=self.tenant,
            user=user,
            entitlement=self.ents[ent],
            source=extra.pop("source", "manual"),
            justification="Quarterly reporting for the finance close",
            **extra,
        )
        self.grants[key] = grant
        return grant

    def person(self, email: str, name: str, department: str = "", role: str = "member") -> Any:
        user = make_user(email, full_name=name)
        tenant_services.membership_add(
            actor=self.operator,
            tenant=self.tenant,
            user=user,
            role=role,
            department=department,
        )
        self.people[email] = user
        return user


def build_world(*, tenant: Any, operator: Any, admin: Any, owner: Any, member: Any) -> World:
    crm = tenant_services.environment_create(
        actor=operator, tenant=tenant, slug="crm", name="CRM", owner=owner
    )
    erp = tenant_services.environment_create(
        actor=operator, tenant=tenant, slug="erp", name="ERP", owner=owner
    )
    world = World(tenant, operator, admin, owner, member, crm, erp)
    for env in (crm, erp):
        for level, risk in (("read", "low"), ("write", "medium"), ("admin", "high")):
            world.ents[f"{env.slug}-{level}"] = access_services.entitlement_create(
                actor=operator, tenant=tenant, environment=env, level=level, risk=risk
            )
    with tenant_context(tenant):
        Membership.objects.filter(user=member).update(department="Finance", manager=admin)
    return world


def due(days: int = 14) -> Any:
    return timezone.now() + timedelta(days=days)
