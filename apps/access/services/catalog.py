"""Catalog and policy writes: entitlements, roles (from templates), provisioning templates,
standing-access policy, ABAC rules (versioned) and SoD rules. Audited; each bumps the tenant's
policy version so the engine's next decision sees the change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.access.exceptions import AccessValidationError, PolicyViolation
from apps.access.models import (
    Entitlement,
    PermissionLevel,
    PolicyException,
    PolicyRule,
    ProvisioningTemplate,
    RiskLevel,
    Role,
    RoleEntitlement,
    RoleTemplate,
    ServiceAccount,
    SodMode,
    SodRule,
    StandingAccessPolicy,
)
from apps.access.rules import rule_validate
from apps.access.services.common import policy_version_bump, scope_for
from apps.core.audit.services import audit_event_record
from apps.tenants.models import Environment


def _same_tenant(tenant: Any, *objs: Any) -> None:
    for obj in objs:
        if obj is not None and obj.tenant_id != tenant.pk:
            raise PolicyViolation(
                _("Same-tenant rule: %(obj)s belongs to another tenant.") % {"obj": obj},
                code="cross_tenant",
            )


def entitlement_create(
    *,
    actor: Any,
    tenant: Any,
    environment: Environment,
    level: str,
    risk: str = RiskLevel.MEDIUM,
    name: str = "",
    description: str = "",
) -> Entitlement:
    if level not in PermissionLevel.values:
        raise AccessValidationError(_("Unknown permission level."), code="level")
    if risk not in RiskLevel.values:
        raise AccessValidationError(_("Unknown risk level."), code="risk")
    _same_tenant(tenant, environment)
    name = slugify(name or f"{environment.slug}-{level}")[:100]
    with scope_for(tenant), transaction.atomic():
        if (
            Entitlement.objects.for_tenant(tenant)
            .filter(environment=environment, level=level)
            .exists()
        ):
            raise AccessValidationError(
                _("%(env)s already has a %(level)s entitlement.")
                % {"env": environment.name, "level": level},
                code="duplicate",
            )
        if Entitlement.objects.for_tenant(tenant).filter(name=name).exists():
            raise AccessValidationError(
                _("An entitlement named %(name)s exists already.") % {"name": name},
                code="duplicate",
            )
        ent = Entitlement.objects.create(
            tenant=tenant,
            environment=environment,
            level=level,
            risk=risk,
            name=name,
            description=description,
        )
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.entitlement.created",
            actor=actor,
            tenant=tenant,
            target=ent,
            after={"name": name, "environment": environment.slug, "level": level, "risk": risk},
        )
    return ent


def _check_role_members(tenant: Any, entitlements: Iterable[Entitlement]) -> list[Entitlement]:
    items = list(entitlements)
    _same_tenant(tenant, *items)
    return items


def role_create(
    *,
    actor: Any,
    tenant: Any,
    key: str,
    name: str,
    entitlements: Iterable[Entitlement] = (),
    description: str = "",
    is_vendor_internal: bool = False,
    template: RoleTemplate | None = None,
) -> Role:
    key = slugify(key)[:100]
    if not key:
        raise AccessValidationError(_("A role needs a key."), code="key")
    items = _check_role_members(tenant, entitlements)
    with scope_for(tenant), transaction.atomic():
        if Role.objects.for_tenant(tenant).filter(key=key).exists():
            raise AccessValidationError(
                _("A role with the key %(key)s exists already.") % {"key": key}, code="duplicate"
            )
        role = Role.objects.create(
            tenant=tenant,
            key=key,
            name=name,
            description=description,
            is_vendor_internal=is_vendor_internal,
            template=template,
        )
        RoleEntitlement.objects.bulk_create(
            [RoleEntitlement(tenant=tenant, role=role, entitlement=e) for e in items]
        )
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.role.created",
            actor=actor,
            tenant=tenant,
            target=role,
            after={
                "key": key,
                "name": name,
                "entitlements": sorted(e.name for e in items),
                "template": template.key if template else "",
                "vendor_internal": is_vendor_internal,
            },
        )
    return role


def role_create_from_template(
    *,
    actor: Any,
    tenant: Any,
    template: RoleTemplate,
    environments: Iterable[Environment],
    key: str = "",
    name: str = "",
) -> Role:
    """A tenant role from a global template: for each chosen environment, the template's
    permission levels (entitlements created where missing, at the template's risk)."""
    envs = list(environments)
    _same_tenant(tenant, *envs)
    if not envs:
        raise AccessValidationError(_("Choose at least one environment."), code="environments")
    with scope_for(tenant), transaction.atomic():
        items: list[Entitlement] = []
        for env in envs:
            for level in template.levels or []:
                ent = (
                    Entitlement.objects.for_tenant(tenant)
                    .filter(environment=env, level=level)
                    .first()
                )
                if ent is None:
                    ent = entitlement_create(
                        actor=actor, tenant=tenant, environment=env, level=level, risk=template.risk
                    )
                items.append(ent)
        return role_create(
            actor=actor,
            tenant=tenant,
            key=key or template.key,
            name=name or template.name,
            entitlements=items,
            description=template.description,
            is_vendor_internal=template.is_vendor_internal,
            template=template,
        )


def role_entitlements_set(
    *,
    actor: Any,
    role: Role,
    entitlements: Iterable[Entitlement],
    name: str | None = None,
    description: str | None = None,
) -> Role:
    """Edit a role's bundle. Holders of the role get the new bundle at the next decision
    (audited with before/after so the widening is visible)."""
    tenant = role.tenant
    items = _check_role_members(tenant, entitlements)
    with scope_for(tenant), transaction.atomic():
        before = sorted(e.name for e in role.entitlements.all())
        wanted = {e.pk for e in items}
        current = set(role.role_entitlements.values_list("entitlement_id", flat=True))
        RoleEntitlement.objects.for_tenant(tenant).filter(
            role=role, entitlement_id__in=current - wanted
        ).delete()
        RoleEntitlement.objects.bulk_create(
            [
                RoleEntitlement(tenant=tenant, role=role, entitlement=e)
                for e in items
                if e.pk not in current
            ]
        )
        fields = []
        if name is not None and name != role.name:
            role.name = name
            fields.append("name")
        if description is not None and description != role.description:
            role.description = description
            fields.append("description")
        if fields:
            role.save(update_fields=[*fields, "updated_at"])
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.role.changed",
            actor=actor,
            tenant=tenant,
            target=role,
            before={"entitlements": before},
            after={"entitlements": sorted(e.name for e in items), "name": role.name},
        )
    return role


def provisioning_template_save(
    *,
    actor: Any,
    tenant: Any,
    name: str,
    criteria: dict[str, Any],
    roles: Iterable[Role],
    priority: int = 100,
    active: bool = True,
    template: ProvisioningTemplate | None = None,
) -> ProvisioningTemplate:
    role_list = list(roles)
    _same_tenant(tenant, *role_list)
    if not isinstance(criteria, dict) or not all(
        isinstance(v, str | int | list) for v in criteria.values()
    ):
        raise AccessValidationError(
            _("Criteria must be an object of attribute → value (or list of values)."),
            code="criteria",
        )
    with scope_for(tenant), transaction.atomic():
        before = {}
        if template is None:
            template = ProvisioningTemplate(tenant=tenant)
        else:
            _same_tenant(tenant, template)
            before = {"name": template.name, "criteria": template.criteria}
        template.name = name
        template.criteria = criteria
        template.priority = priority
        template.active = active
        template.save()
        template.roles.set(role_list)
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.provisioning_template.saved",
            actor=actor,
            tenant=tenant,
            target=template,
            before=before,
            after={"name": name, "criteria": criteria, "roles": [r.key for r in role_list]},
        )
    return template


def standing_policy_set(
    *,
    actor: Any,
    tenant: Any,
    risk_level: str,
    time_bound_required: bool,
    max_duration: timedelta | None,
) -> StandingAccessPolicy:
    if risk_level not in RiskLevel.values:
        raise AccessValidationError(_("Unknown risk level."), code="risk")
    if max_duration is not None and max_duration <= timedelta(0):
        raise AccessValidationError(_("The maximum duration must be positive."), code="duration")
    with scope_for(tenant), transaction.atomic():
        policy, _created = StandingAccessPolicy.objects.for_tenant(tenant).get_or_create(
            tenant=tenant, risk_level=risk_level
        )
        before = {
            "time_bound_required": policy.time_bound_required,
            "max": str(policy.max_duration),
        }
        policy.time_bound_required = time_bound_required
        policy.max_duration = max_duration
        policy.save()
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.standing_policy.set",
            actor=actor,
            tenant=tenant,
            target=policy,
            before=before,
            after={"time_bound_required": time_bound_required, "max": str(max_duration)},
        )
    return policy


def policy_rule_save(
    *,
    actor: Any,
    tenant: Any,
    key: str,
    name: str,
    conditions: Any,
    effect: str = "deny",
    description: str = "",
    enabled: bool = True,
) -> PolicyRule:
    """Add a new version of rule `key` (the first version when new). The conditions are
    validated first: a rule that does not parse is refused with where and why."""
    key = slugify(key)[:100]
    if not key:
        raise AccessValidationError(_("A rule needs a key."), code="key")
    if effect not in ("deny", "flag"):
        raise AccessValidationError(_("The effect must be deny or flag."), code="effect")
    parsed = rule_validate(conditions)
    with scope_for(tenant), transaction.atomic():
        current = (
            PolicyRule.objects.for_tenant(tenant)
            .select_for_update()
            .filter(key=key, is_current=True)
            .first()
        )
        version = 1
        before: dict[str, Any] = {}
        if current is not None:
            version = current.version + 1
            before = {
                "version": current.version,
                "conditions": current.conditions,
                "effect": current.effect,
                "enabled": current.enabled,
            }
            PolicyRule.objects.for_tenant(tenant).filter(pk=current.pk).update(is_current=False)
        try:
            with transaction.atomic():
                rule = PolicyRule.objects.create(
                    tenant=tenant,
                    key=key,
                    version=version,
                    is_current=True,
                    name=name,
                    description=description,
                    effect=effect,
                    conditions=parsed,
                    enabled=enabled,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError:
            raise PolicyViolation(
                _("The rule %(key)s was changed at the same time; reload and try again.")
                % {"key": key},
                code="conflict",
            ) from None
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.policy_rule.saved",
            actor=actor,
            tenant=tenant,
            target=rule,
            before=before,
            after={"version": version, "conditions": parsed, "effect": effect, "enabled": enabled},
        )
    return rule


def sod_rule_save(
    *,
    actor: Any,
    tenant: Any,
    key: str,
    name: str,
    entitlements: Iterable[Entitlement] = (),
    roles: Iterable[Role] = (),
    mode: str = SodMode.DENY,
    threshold: int = 2,
    description: str = "",
    enabled: bool = True,
    rule: SodRule | None = None,
) -> SodRule:
    ents, role_list = list(entitlements), list(roles)
    _same_tenant(tenant, *ents, *role_list)
    if mode not in SodMode.values:
        raise AccessValidationError(_("Unknown SoD mode."), code="mode")
    if threshold < 2:
        raise AccessValidationError(_("The threshold must be at least 2."), code="threshold")
    if len(ents) + len(role_list) < threshold:
        raise AccessValidationError(
            _("List at least %(n)d entitlements or roles: the rule could never match otherwise.")
            % {"n": threshold},
            code="threshold",
        )
    key = slugify(key)[:100]
    with scope_for(tenant), transaction.atomic():
        before: dict[str, Any] = {}
        if rule is None:
            if SodRule.objects.for_tenant(tenant).filter(key=key).exists():
                raise AccessValidationError(
                    _("A rule with the key %(key)s exists already.") % {"key": key},
                    code="duplicate",
                )
            rule = SodRule(tenant=tenant, key=key)
        else:
            _same_tenant(tenant, rule)
            before = {
                "mode": rule.mode,
                "threshold": rule.threshold,
                "entitlements": sorted(e.name for e in rule.entitlements.all()),
                "roles": sorted(r.key for r in rule.roles.all()),
            }
        rule.name = name
        rule.description = description
        rule.mode = mode
        rule.threshold = threshold
        rule.enabled = enabled
        rule.save()
        rule.entitlements.set(ents)
        rule.roles.set(role_list)
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.sod_rule.saved",
            actor=actor,
            tenant=tenant,
            target=rule,
            before=before,
            after={
                "mode": mode,
                "threshold": threshold,
                "entitlements": sorted(e.name for e in ents),
                "roles": sorted(r.key for r in role_list),
            },
        )
    return rule


def service_account_create(
    *, actor: Any, tenant: Any, name: str, owner: Any = None, description: str = ""
) -> ServiceAccount:
    with scope_for(tenant), transaction.atomic():
        if ServiceAccount.objects.for_tenant(tenant).filter(name=name).exists():
            raise AccessValidationError(
                _("A service account named %(name)s exists already.") % {"name": name},
                code="duplicate",
            )
        account = ServiceAccount.objects.create(
            tenant=tenant, name=name, owner=owner, description=description
        )
        audit_event_record(
            action="access.service_account.created",
            actor=actor,
            tenant=tenant,
            target=account,
            after={"name": name},
        )
    return account


def policy_exception_create(
    *,
    actor: Any,
    tenant: Any,
    rule_key: str,
    reason: str,
    user: Any = None,
    environment: Environment | None = None,
    expires_at: datetime | None = None,
) -> PolicyException:
    """A customer-approved waiver of one ABAC rule (e.g. residency for a named engineer)."""
    _same_tenant(tenant, environment)
    if not reason.strip():
        raise AccessValidationError(_("An exception needs a reason."), code="reason")
    if expires_at is not None and expires_at <= timezone.now():
        raise AccessValidationError(_("The expiry time is in the past."), code="expires")
    with scope_for(tenant), transaction.atomic():
        exc = PolicyException.objects.create(
            tenant=tenant,
            rule_key=rule_key,
            user=user,
            environment=environment,
            reason=reason,
            approved_by=actor if getattr(actor, "pk", None) else None,
            expires_at=expires_at,
        )
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.policy_exception.created",
            actor=actor,
            tenant=tenant,
            target=exc,
            after={
                "rule": rule_key,
                "user": str(user or "*"),
                "environment": environment.slug if environment else "*",
                "expires_at": expires_at.isoformat() if expires_at else "",
            },
        )
    return exc
