"""Demo data of the access app (called by `seed_demo` before the requests demo; idempotent):
acme's catalog (entitlements on every environment, roles from global templates, vendor-internal
support roles), its standing-access policy, ABAC rules (EU residency with an exception, MFA for
exports, office hours for finance writes, a HIPAA-style attestation rule), SoD rules, a
provisioning template, standing customer grants and time-bound vendor-staff grants. Everything
goes through the services, so the demo shows real policy checks and audit events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.access import services
from apps.access.models import Entitlement, PolicyRule, Role, RoleTemplate
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.tenants.models import Environment, Tenant

TENANT = "acme"
# (environment slug, level, risk)
CATALOG = (
    ("salesforce-crm", "read", "low"),
    ("salesforce-crm", "write", "medium"),
    ("salesforce-crm", "admin", "high"),
    ("salesforce-crm", "export", "high"),
    ("customer-data-lake", "read", "medium"),
    ("customer-data-lake", "export", "high"),
    ("sap-finance", "read", "medium"),
    ("sap-finance", "write", "high"),
    ("sap-finance", "admin", "critical"),
    ("workday-hr", "read", "medium"),
    ("workday-hr", "admin", "critical"),
    ("engineering-workspace", "read", "low"),
    ("engineering-workspace", "write", "medium"),
    ("engineering-workspace", "operate", "high"),
    ("marketing-analytics", "read", "low"),
    ("status-page", "read", "low"),
    ("status-page", "write", "medium"),
)
TEMPLATES = (  # key, name, levels, risk, vendor-internal, description
    ("viewer", "Viewer", ["read"], "low", False, "Read-only access to the chosen environments."),
    (
        "editor",
        "Editor",
        ["read", "write"],
        "medium",
        False,
        "Day-to-day work in the environments.",
    ),
    (
        "support-readonly",
        "Vendor support (read-only)",
        ["read"],
        "medium",
        True,
        "What a support engineer needs to reproduce a customer's problem.",
    ),
    (
        "support-operator",
        "Vendor support (operate)",
        ["read", "operate"],
        "high",
        True,
        "Restart jobs and runners; no data export.",
    ),
)
ROLES = (  # template key, tenant role key, name, environment slugs
    ("viewer", "sales-viewer", "Sales viewer", ("salesforce-crm", "marketing-analytics")),
    ("editor", "sales-editor", "Sales editor", ("salesforce-crm",)),
    ("editor", "engineering", "Engineering", ("engineering-workspace", "status-page")),
    ("viewer", "finance-viewer", "Finance viewer", ("sap-finance",)),
    (
        "support-readonly",
        "vendor-support",
        "Vendor support",
        ("salesforce-crm", "engineering-workspace"),
    ),
    ("support-operator", "vendor-operations", "Vendor operations", ("engineering-workspace",)),
)
RULES = (
    (
        "eu-residency",
        "EU data only from EU-located vendor staff",
        "deny",
        {
            "applies": {
                "all": [
                    {"attr": "environment.region", "op": "eq", "value": "eu"},
                    {"attr": "subject.is_vendor_staff", "op": "eq", "value": True},
                    # checked when the data is reached, not when access is requested
                    {"attr": "context.purpose", "op": "ne", "value": "request"},
                ]
            },
            "require": {
                "attr": "context.location_region",
                "op": "eq",
                "attr2": "environment.region",
            },
            "message": "ACME's data stays in the EU: vendor staff must work from the EU "
            "(or hold an exception approved by ACME).",
        },
    ),
    (
        "export-needs-totp",
        "Exports need a second factor",
        "deny",
        {
            "applies": {"attr": "action", "op": "eq", "value": "export"},
            "require": {"attr": "context.mfa_level", "op": "gte", "value": "totp"},
        },
    ),
    (
        "finance-office-hours",
        "Finance changes in Frankfurt office hours",
        "deny",
        {
            "applies": {
                "all": [
                    {"attr": "environment.slug", "op": "eq", "value": "sap-finance"},
                    {"attr": "action", "op": "in", "value": ["write", "admin"]},
                ]
            },
            "require": {"attr": "context.local_hour", "op": "between", "value": [7, 20]},
        },
    ),
    (
        "hr-needs-gdpr-training",
        "HR data needs GDPR training",
        "deny",
        {
            "applies": {"attr": "environment.slug", "op": "eq", "value": "workday-hr"},
            "require": {"attr": "context.attested", "op": "contains", "value": "gdpr"},
        },
    ),
    (
        "high-risk-session",
        "Flag sessions with a high risk score",
        "flag",
        {"require": {"attr": "context.risk_score", "op": "lt", "value": 70}},
    ),
)


def _user(email: str) -> User | None:
    return User.objects.filter(email=email).first()


def _entitlement(tenant: Tenant, operator: Any, slug: str, level: str, risk: str) -> Any:
    environment = Environment.objects.filter(slug=slug).first()
    if environment is None:
        return None
    found = Entitlement.objects.filter(environment=environment, level=level).first()
    if found is not None:
        return found
    return services.entitlement_create(
        actor=operator, tenant=tenant, environment=environment, level=level, risk=risk
    )


def _grant(**kwargs: Any) -> int:
    try:
        services.grant_create(**kwargs)
    except DomainError:
        return 0
    return 1


def seed_access(*, operator: Any) -> int:
    """Returns how many grants it created (0 when the demo has its catalog already)."""
    for key, name, levels, risk, internal, description in TEMPLATES:
        RoleTemplate.objects.get_or_create(
            key=key,
            defaults={
                "name": name,
                "levels": levels,
                "risk": risk,
                "is_vendor_internal": internal,
                "description": description,
            },
        )
    tenant = Tenant.objects.filter(slug=TENANT).first()
    if tenant is None:
        return 0
    created = 0
    with tenant_context(tenant):
        if Role.objects.exists():
            return 0
        catalog = {
            (slug, level): _entitlement(tenant, operator, slug, level, risk)
            for slug, level, risk in CATALOG
        }
        roles: dict[str, Role] = {}
        for template_key, key, name, slugs in ROLES:
            envs = list(Environment.objects.filter(slug__in=slugs))
            if envs:
                roles[key] = services.role_create_from_template(
                    actor=operator,
                    tenant=tenant,
                    template=RoleTemplate.objects.get(key=template_key),
                    environments=envs,
                    key=key,
                    name=name,
                )
        services.standing_policy_set(
            actor=operator,
            tenant=tenant,
            risk_level="high",
            time_bound_required=True,
            max_duration=timedelta(days=7),
        )
        for key, name, effect, conditions in RULES:
            if not PolicyRule.objects.filter(key=key).exists():
                services.policy_rule_save(
                    actor=operator,
                    tenant=tenant,
                    key=key,
                    name=name,
                    effect=effect,
                    conditions=conditions,
                )
        crm_write, crm_export = (
            catalog.get(("salesforce-crm", "write")),
            catalog.get(("salesforce-crm", "export")),
        )
        if crm_write and crm_export:
            services.sod_rule_save(
                actor=operator,
                tenant=tenant,
                key="crm-edit-and-export",
                name="Edit and bulk-export customer records",
                description="Changing records and exporting them together hides tampering.",
                entitlements=[crm_write, crm_export],
            )
        fin_write, fin_admin = (
            catalog.get(("sap-finance", "write")),
            catalog.get(("sap-finance", "admin")),
        )
        if "vendor-operations" in roles and "engineering" in roles:
            services.sod_rule_save(
                actor=operator,
                tenant=tenant,
                key="vendor-ops-and-engineering",
                name="Vendor operations plus customer engineering",
                description="A vendor role and a customer role that together can change and "
                "deploy customer code: flagged for review.",
                roles=[roles["vendor-operations"], roles["engineering"]],
                mode="flag",
            )
        if fin_write and fin_admin:
            services.sod_rule_save(
                actor=operator,
                tenant=tenant,
                key="finance-post-and-administer",
                name="Post and administer the ledger",
                entitlements=[fin_write, fin_admin],
            )
        if "engineering" in roles:
            services.provisioning_template_save(
                actor=operator,
                tenant=tenant,
                name="Engineering joiners",
                criteria={"department": "Engineering"},
                roles=[roles["engineering"]],
            )
        if "sales-viewer" in roles:
            services.provisioning_template_save(
                actor=operator,
                tenant=tenant,
                name="Sales joiners",
                criteria={"department": ["Sales", "Marketing"]},
                roles=[roles["sales-viewer"]],
            )
        # Standing customer access (IdP mapping / templates) ...
        for email, role_key, source in (
            ("sophie.braun@acme.example", "sales-editor", "idp_mapping"),
            ("max.keller@acme.example", "engineering", "template"),
            ("tobias.richter@acme.example", "engineering", "template"),
            ("lena.fischer@acme.example", "finance-viewer", "idp_mapping"),
            ("ahmed.yilmaz@acme.example", "sales-viewer", "idp_mapping"),
        ):
            user, role = _user(email), roles.get(role_key)
            if user and role:
                created += _grant(
                    actor=operator,
                    tenant=tenant,
                    user=user,
                    role=role,
                    source=source,
                    mapping_key=f"{source}:{role_key}",
                    justification="Directory group / onboarding template",
                )
        # ... a time-bound high-risk grant for a customer user ...
        analyst = _user("ahmed.yilmaz@acme.example")
        lake_export = catalog.get(("customer-data-lake", "export"))
        if analyst and lake_export:
            created += _grant(
                actor=operator,
                tenant=tenant,
                user=analyst,
                entitlement=lake_export,
                source="manual",
                duration=timedelta(days=3),
                justification="Quarterly churn analysis for the board pack.",
                ticket_ref="DATA-208",
            )
        # ... and time-bound vendor-staff grants (an EU engineer, an operations grant) and a
        # customer-approved residency exception for an engineer outside the EU.
        now = timezone.now()
        tom, priya, kenji = (
            _user("tom.becker@custos.example"),
            _user("priya.nair@custos.example"),
            _user("kenji.tanaka@custos.example"),
        )
        if tom and "vendor-support" in roles:
            created += _grant(
                actor=operator,
                tenant=tenant,
                user=tom,
                role=roles["vendor-support"],
                source="request",
                duration=timedelta(hours=8),
                justification="Customer-reported sync errors between CRM and the workspace.",
                ticket_ref="SUP-1040",
            )
        if priya:
            # Priya works from India: EU residency denies her, unless ACME approves an exception.
            services.policy_exception_create(
                actor=_user("anna.schmidt@acme.example") or operator,
                tenant=tenant,
                rule_key="eu-residency",
                user=priya,
                reason="Follow-the-sun support for SUP-1042 approved by ACME IT security.",
                expires_at=now + timedelta(days=14),
            )
        if kenji and "vendor-operations" in roles:
            created += _grant(
                actor=operator,
                tenant=tenant,
                user=kenji,
                role=roles["vendor-operations"],
                source="request",
                duration=timedelta(hours=4),
                justification="Restart the stuck deployment runners (INC-77 follow-up).",
                ticket_ref="OPS-311",
            )
    return created
