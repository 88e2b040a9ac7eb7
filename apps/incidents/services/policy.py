"""Policy updates from an incident's findings, made through apps.access and tied to the
incident: require MFA for access in the tenant, or shorten how long access may last."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.access.models import RiskLevel
from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.incidents.models import Incident, PolicyChange, PolicyChangeKind, TimelineKind
from apps.incidents.services.common import (
    IncidentError,
    incident_tenant_get,
    require_open,
    require_oversight,
    timeline_add,
)
from apps.tenants.models import Tenant


def _fmt_hours(value: timedelta | None) -> str:
    if value is None:
        return _("no limit")
    return _("%(h)s hours") % {"h": f"{value.total_seconds() / 3600:g}"}


@transaction.atomic
def policy_change_apply(
    *,
    actor: Any,
    incident: Incident,
    tenant: Tenant,
    kind: str,
    finding: str,
    risk_level: str = "",
    max_hours: int | None = None,
) -> PolicyChange:
    from apps.access.policy import standing_rule_for
    from apps.access.services import policy_rule_save, standing_policy_set

    require_oversight(actor)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    require_open(incident)
    finding = finding.strip()
    if not finding:
        raise IncidentError(_("Name the finding that calls for the change."), code="finding")
    with tenant_context(tenant):
        incident_tenant_get(incident=incident, tenant=tenant)
        try:
            if kind == PolicyChangeKind.REQUIRE_MFA:
                key = f"incident-{incident.reference.lower()}-mfa"
                rule = policy_rule_save(
                    actor=actor,
                    tenant=tenant,
                    key=key,
                    name=_("MFA required (incident %(ref)s)") % {"ref": incident.reference},
                    description=finding[:1000],
                    conditions={
                        "require": {"attr": "context.mfa_level", "op": "gte", "value": "totp"},
                        "message": _("Since incident %(ref)s, access here needs a second factor.")
                        % {"ref": incident.reference},
                    },
                    effect="deny",
                )
                before: dict[str, Any] = {"rule": None}
                after: dict[str, Any] = {"rule": rule.key, "version": rule.version}
                text = _("MFA is now required for every access decision in %(tenant)s.") % {
                    "tenant": tenant.name
                }
            elif kind == PolicyChangeKind.MAX_DURATION:
                if risk_level not in RiskLevel.values:
                    raise IncidentError(_("Choose a risk level."), code="risk_level")
                if not max_hours or max_hours < 1:
                    raise IncidentError(
                        _("The maximum duration must be at least one hour."), code="max_hours"
                    )
                current = standing_rule_for(tenant=tenant, risk=risk_level)
                new = timedelta(hours=max_hours)
                if current.max_duration is not None and new >= current.max_duration:
                    raise IncidentError(
                        _(
                            "%(risk)s-risk access may already last at most %(current)s; "
                            "%(new)s would not shorten it."
                        )
                        % {
                            "risk": RiskLevel(risk_level).label,
                            "current": _fmt_hours(current.max_duration),
                            "new": _fmt_hours(new),
                        },
                        code="not_shorter",
                    )
                standing_policy_set(
                    actor=actor,
                    tenant=tenant,
                    risk_level=risk_level,
                    time_bound_required=True,
                    max_duration=new,
                )
                before = {
                    "risk_level": risk_level,
                    "max": _fmt_hours(current.max_duration),
                    "time_bound_required": current.time_bound_required,
                }
                after = {
                    "risk_level": risk_level,
                    "max": _fmt_hours(new),
                    "time_bound_required": True,
                }
                text = _(
                    "%(risk)s-risk access in %(tenant)s now lasts at most %(new)s (was %(old)s)."
                ) % {
                    "risk": RiskLevel(risk_level).label,
                    "tenant": tenant.name,
                    "new": _fmt_hours(new),
                    "old": _fmt_hours(current.max_duration),
                }
            else:
                raise IncidentError(_("Unknown kind of policy change."), code="kind")
        except IncidentError:
            raise
        except DomainError as exc:
            raise IncidentError(exc.message, code=exc.code) from exc
        change = PolicyChange.objects.create(
            tenant=tenant,
            incident=incident,
            kind=kind,
            finding=finding,
            before=before,
            after=after,
            applied_by=actor,
        )
        audit_event_record(
            action="incident.policy_changed",
            actor=actor,
            tenant=tenant,
            target=incident,
            before=before,
            after=after,
            details={"kind": kind, "finding": finding[:1000]},
        )
    timeline_add(incident=incident, kind=TimelineKind.POLICY, actor=actor, tenant=tenant, text=text)
    return change
