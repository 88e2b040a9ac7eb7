"""Emergency suspension: one action, one transaction, set-based.

The dry run (`suspension_preview`) and the real thing (`suspension_execute`) compute the same
plan (services/scope.py); the confirmation carries the preview's fingerprint, so what is
switched off is exactly what the person saw, or nothing (the plan moved: preview again).

Per tenant, a constant number of statements whatever its size: accounts disabled and their
sessions ended (one UPDATE bumping the session generation), vendor staff's sessions ended,
API keys and OAuth clients revoked with their live tokens (one UPDATE each), grants suspended
through apps.access (`grants_suspend_bulk`), the missing snapshot rows, the audit events in
bulk, and, when asked, the tenant isolated.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.access.models import Grant
from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.incidents.models import (
    GrantSnapshot,
    Incident,
    IncidentStatus,
    IncidentTenant,
    Suspension,
    TimelineKind,
)
from apps.incidents.services.common import (
    IncidentConflict,
    IncidentError,
    audit_bulk,
    require_open,
    require_oversight,
    timeline_add,
)
from apps.incidents.services.incidents import snapshot_take
from apps.incidents.services.scope import (
    TenantPlan,
    accounts_to_disable,
    api_keys_to_revoke,
    fingerprint,
    grants_in_scope,
    tenant_plan,
)
from apps.integrations.models import CredentialState, OAuthAccessToken, OAuthClient
from apps.tenants.models import Tenant, TenantStatus

ID_BATCH = 10_000


@dataclass
class SuspensionPreview:
    incident: Incident
    plans: list[TenantPlan]
    fingerprint: str

    @property
    def empty(self) -> bool:
        return all(p.empty for p in self.plans)

    @property
    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for plan in self.plans:
            for key, value in plan.counts.items():
                totals[key] = totals.get(key, 0) + value
        return totals


def _rows(incident: Incident) -> list[IncidentTenant]:
    with unscoped(reason="incident suspension: the incident's affected tenants"):
        return list(
            IncidentTenant.objects.filter(incident=incident)
            .select_related("tenant")
            .order_by("tenant__name", "pk")
        )


def _plans(incident: Incident, isolate: Iterable[int]) -> list[TenantPlan]:
    isolate_ids = set(isolate)
    plans = []
    for row in _rows(incident):
        if row.tenant_id in isolate_ids and row.tenant.status != TenantStatus.ACTIVE:
            isolate_ids.discard(row.tenant_id)  # isolated (or closed) already: nothing to do
        with tenant_context(row.tenant):
            plans.append(tenant_plan(row, isolate=row.tenant_id in isolate_ids))
    return plans


def suspension_preview(
    *, actor: Any, incident: Incident, isolate: Iterable[int] = ()
) -> SuspensionPreview:
    """The dry run: exactly what `suspension_execute` would do now. Changes nothing."""
    require_oversight(actor)
    plans = _plans(incident, isolate)
    return SuspensionPreview(incident=incident, plans=plans, fingerprint=fingerprint(plans))


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), ID_BATCH):
        yield ids[start : start + ID_BATCH]


def _grants_suspend(
    *, actor: Any, tenant: Tenant, grant_ids: list[int] | QuerySet[Grant], reason: str
) -> list[int]:
    """apps.access's set-based suspension; the per-grant service while that is not there."""
    from apps.access import services as access

    bulk = getattr(access, "grants_suspend_bulk", None)
    if bulk is not None:
        return list(bulk(actor=actor, tenant=tenant, grant_ids=grant_ids, reason=reason))
    done = []
    for grant in Grant.objects.for_tenant(tenant).filter(pk__in=grant_ids):
        before = grant.suspended_at
        grant = access.grant_suspend(actor=actor, grant=grant, reason=reason)
        if before is None and grant.suspended_at is not None:
            done.append(grant.pk)
    return done


def _label_rows(model: Any, ids: list[int], *fields: str) -> list[Any]:
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows.extend(model.objects.filter(pk__in=chunk).only("pk", *fields))
    return rows


_STALE = gettext_lazy(
    "What would be suspended changed since the preview (new grants, keys or people). Review "
    "the preview again and confirm it."
)


def _same(planned: list[int], rows: list[Any]) -> None:
    if [r.pk for r in rows] != planned:
        raise IncidentConflict(str(_STALE), code="stale_preview")


def _suspend_tenant(*, actor: Any, incident: Incident, plan: TenantPlan, reason: str) -> Suspension:
    clock = time.perf_counter()
    now = timezone.now()
    tenant = plan.tenant
    actor_obj = actor if getattr(actor, "pk", None) else None
    details = {"incident": incident.reference, "reason": reason}
    with tenant_context(tenant):
        # Sets are selected by subqueries (the plan's definition), not by lists of ids sent
        # as parameters: one statement each whatever the size. They must still be the
        # preview's sets (same transaction, moments after the fingerprint check).
        people = list(accounts_to_disable(plan.row).only("pk", "email", "full_name").order_by("pk"))
        keys = list(api_keys_to_revoke(plan.row).only("pk", "name", "prefix").order_by("pk"))
        _same(plan.user_ids, people)
        _same(plan.api_key_ids, keys)
        # Accounts: disabled, every session ended (sessions carry the generation's hash).
        accounts_to_disable(plan.row).update(
            is_active=False,
            disabled_at=now,
            session_generation=F("session_generation") + 1,
        )
        # Vendor staff who held access here: their sessions end; their accounts stay.
        staff = list(
            User.objects.filter(pk__in=plan.staff_session_ids)
            .only("pk", "email", "full_name")
            .order_by("pk")
        )
        User.objects.filter(pk__in=plan.staff_session_ids).update(
            session_generation=F("session_generation") + 1
        )
        api_keys_to_revoke(plan.row).update(
            state=CredentialState.REVOKED,
            revoked_at=now,
            revoked_by=actor_obj,
            revoke_reason=f"incident {incident.reference}"[:200],
            ended_at=now,
            notify_at=None,
        )
        tokens = 0
        if plan.oauth_client_ids:
            OAuthClient.objects.filter(
                pk__in=plan.oauth_client_ids, state=CredentialState.ACTIVE
            ).update(
                state=CredentialState.REVOKED,
                revoked_at=now,
                revoked_by=actor_obj,
                revoke_reason=f"incident {incident.reference}"[:200],
            )
            tokens = OAuthAccessToken.objects.filter(
                client_id__in=plan.oauth_client_ids, revoked_at__isnull=True
            ).update(revoked_at=now)
        # Grants: every one is in the snapshot before it is switched off.
        snapshot_take(incident=incident, row=plan.row, grant_ids=plan.grant_ids)
        suspended = (
            _grants_suspend(
                actor=actor, tenant=tenant, grant_ids=grants_in_scope(plan.row), reason=reason
            )
            if plan.grant_ids
            else []
        )
        if sorted(suspended) != plan.grant_ids:
            raise IncidentConflict(str(_STALE), code="stale_preview")
        for chunk in _chunks(suspended):
            GrantSnapshot.objects.filter(incident=incident, grant_id__in=chunk).update(
                suspended_by_incident=True
            )
        events: list[dict[str, Any]] = [
            {
                "action": "user.disabled",
                "actor": actor,
                "target": user,
                "before": {"is_active": True},
                "after": {"is_active": False},
                "details": details,
            }
            for user in people
        ]
        events += [
            {"action": "sessions.revoked", "actor": actor, "target": user, "details": details}
            for user in staff
        ]
        events += [
            {
                "action": "api_key.revoked",
                "actor": actor,
                "target": key,
                "details": {**details, "prefix": key.prefix},
            }
            for key in keys
        ]
        events += [
            {"action": "oauth_client.revoked", "actor": actor, "target": client, "details": details}
            for client in _label_rows(OAuthClient, plan.oauth_client_ids, "name", "client_id")
        ]
        audit_bulk(tenant=tenant, events=events)
        if plan.isolate:
            _isolate(actor=actor, incident=incident, row=plan.row, reason=reason)
        duration = round((time.perf_counter() - clock) * 1000.0, 3)
        record = Suspension.objects.create(
            tenant=tenant,
            incident=incident,
            executed_at=now,
            executed_by=actor_obj,
            fingerprint=fingerprint([plan]),
            isolated=plan.isolate,
            user_ids=plan.user_ids,
            session_user_ids=plan.staff_session_ids,
            api_key_ids=plan.api_key_ids,
            oauth_client_ids=plan.oauth_client_ids,
            grants_suspended=len(suspended),
            tokens_revoked=tokens,
            duration_ms=duration,
        )
        IncidentTenant.objects.filter(pk=plan.row.pk, suspended_at__isnull=True).update(
            suspended_at=now
        )
        counts = {**plan.counts, "grants_suspended": len(suspended), "oauth_tokens_revoked": tokens}
        audit_event_record(
            action="incident.suspension_executed",
            actor=actor,
            tenant=tenant,
            target=incident,
            after={**counts, "isolated": plan.isolate},
            details={**details, "duration_ms": duration},
        )
    timeline_add(
        incident=incident,
        kind=TimelineKind.SUSPENSION,
        actor=actor,
        tenant=tenant,
        text=_(
            "Suspended in %(tenant)s: %(users)d accounts disabled, %(sessions)d vendor-staff "
            "sessions ended, %(keys)d API keys and %(clients)d OAuth clients revoked "
            "(%(tokens)d tokens), %(grants)d grants suspended."
        )
        % {
            "tenant": tenant.name,
            "users": len(plan.user_ids),
            "sessions": len(plan.staff_session_ids),
            "keys": len(plan.api_key_ids),
            "clients": len(plan.oauth_client_ids),
            "tokens": tokens,
            "grants": len(suspended),
        },
        details={**counts, "duration_ms": duration},
    )
    return record


def _isolate(*, actor: Any, incident: Incident, row: IncidentTenant, reason: str) -> None:
    from apps.tenants.services import tenant_set_status

    tenant = Tenant.objects.select_for_update().get(pk=row.tenant_id)
    if tenant.status != TenantStatus.ACTIVE:
        return
    tenant_set_status(
        actor=actor,
        tenant=tenant,
        status=TenantStatus.ISOLATED,
        reason=f"incident {incident.reference}: {reason}"[:300],
    )
    IncidentTenant.objects.filter(pk=row.pk).update(
        isolated_at=timezone.now(),
        status_before_isolation=TenantStatus.ACTIVE,
        isolation_lifted_at=None,
    )
    timeline_add(
        incident=incident,
        kind=TimelineKind.ISOLATION,
        actor=actor,
        tenant=tenant,
        text=_("%(tenant)s isolated: vendor staff and every cross-tenant path are shut out.")
        % {"tenant": tenant.name},
    )


@transaction.atomic
def suspension_execute(
    *,
    actor: Any,
    incident: Incident,
    fingerprint_seen: str,
    confirm_reference: str,
    reason: str,
    isolate: Iterable[int] = (),
) -> list[Suspension]:
    """Do what the preview showed, in every affected tenant, or nothing at all."""
    require_oversight(actor)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    require_open(incident)
    if confirm_reference.strip().upper() != incident.reference:
        raise IncidentError(
            _("Type the incident reference %(ref)s to confirm.") % {"ref": incident.reference},
            code="confirm",
        )
    reason = reason.strip()
    if not reason:
        raise IncidentError(_("Say why (it is recorded with every change)."), code="reason")
    plans = _plans(incident, isolate)
    if all(p.empty for p in plans):
        raise IncidentConflict(
            _("Nothing is left to suspend: everything in scope is suspended already."),
            code="already_suspended",
        )
    if fingerprint(plans) != fingerprint_seen:
        raise IncidentConflict(str(_STALE), code="stale_preview")
    if any(getattr(actor, "pk", None) in p.user_ids for p in plans):
        raise IncidentError(
            _("The suspension would disable your own account; ask another responder."),
            code="self",
        )
    records = [
        _suspend_tenant(actor=actor, incident=incident, plan=plan, reason=reason)
        for plan in plans
        if not plan.empty
    ]
    if incident.status == IncidentStatus.OPEN:
        Incident.objects.filter(pk=incident.pk).update(
            status=IncidentStatus.CONTAINED, contained_at=timezone.now()
        )
        timeline_add(
            incident=incident,
            kind=TimelineKind.STATUS,
            actor=actor,
            text=_("Status: %(status)s") % {"status": IncidentStatus.CONTAINED.label},
        )
    audit_event_record(
        use_current_tenant=False,
        action="incident.suspension_executed",
        actor=actor,
        target=incident,
        after={"tenants": [r.tenant_id for r in records]},
        details={"reason": reason, "fingerprint": fingerprint_seen},
    )
    return records
