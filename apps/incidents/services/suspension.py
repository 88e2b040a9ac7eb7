"""Emergency suspension: one action, one transaction, set-based.

The dry run (`suspension_preview`) and the real thing (`suspension_execute`) compute the same
plan (services/scope.py); the confirmation carries the preview's fingerprint, so what is
switched off is exactly what the person saw, or nothing (the plan moved: preview again).

Per tenant, a constant number of statements whatever its size: accounts disabled and their
sessions ended (one UPDATE bumping the session generation), vendor staff's sessions ended,
API keys and OAuth clients revoked with their live tokens (one UPDATE each), the missing
snapshot rows (one INSERT ... SELECT), grants suspended through apps.access
(`grants_suspend_bulk`), one audit event per batch of up to 1,000 objects of a kind, and, when
asked, the tenant isolated. Each UPDATE names the plan's ids (one array parameter) and must
change exactly as many rows as the plan says, or the whole suspension is undone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User
from apps.incidents.models import (
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
    batch_events,
    pk_in,
    require_open,
    require_oversight,
    timeline_add,
)
from apps.incidents.services.incidents import snapshot_take
from apps.incidents.services.scope import TenantPlan, fingerprint, tenant_plan
from apps.integrations.models import ApiKey, CredentialState, OAuthAccessToken, OAuthClient
from apps.tenants.models import Tenant, TenantStatus


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


def _grants_suspend(*, actor: Any, incident: Incident, plan: TenantPlan, reason: str) -> list[int]:
    """The plan's grants, suspended through apps.access with one audit event per batch (the
    snapshot keeps each grant's prior state row by row); the ids actually suspended."""
    from apps.access import services as access

    return list(
        access.grants_suspend_bulk(
            actor=actor,
            tenant=plan.tenant,
            grant_ids=plan.grant_ids,
            reason=f"incident {incident.reference}: {reason}",
            audit="per_batch",
            audit_details={"incident": incident.reference},
        )
    )


_STALE = gettext_lazy(
    "What would be suspended changed since the preview (new grants, keys or people). Review "
    "the preview again and confirm it."
)


def _same(planned: list[int] | int, done: list[int] | int) -> None:
    """What a statement changed must be what the plan said (same transaction, moments after
    the fingerprint check; a concurrent change in between undoes the whole suspension)."""
    if done != planned:
        raise IncidentConflict(str(_STALE), code="stale_preview")


def _suspend_tenant(*, actor: Any, incident: Incident, plan: TenantPlan, reason: str) -> Suspension:
    clock = time.perf_counter()
    now = timezone.now()
    tenant = plan.tenant
    actor_obj = actor if getattr(actor, "pk", None) else None
    details = {"incident": incident.reference, "reason": reason}
    revoke_reason = f"incident {incident.reference}"[:200]
    with tenant_context(tenant):
        # Every UPDATE names the plan's ids (one array parameter each, whatever the size) and
        # must change exactly that many rows.
        if plan.user_ids:
            # Accounts: disabled, every session ended (sessions carry the generation's hash).
            _same(
                len(plan.user_ids),
                User.objects.filter(pk__in=pk_in(plan.user_ids), is_active=True).update(
                    is_active=False,
                    disabled_at=now,
                    session_generation=F("session_generation") + 1,
                ),
            )
        if plan.staff_session_ids:
            # Vendor staff who held access here: their sessions end; their accounts stay.
            User.objects.filter(pk__in=pk_in(plan.staff_session_ids)).update(
                session_generation=F("session_generation") + 1
            )
        if plan.api_key_ids:
            _same(
                len(plan.api_key_ids),
                ApiKey.objects.filter(
                    pk__in=pk_in(plan.api_key_ids), state=CredentialState.ACTIVE
                ).update(
                    state=CredentialState.REVOKED,
                    revoked_at=now,
                    revoked_by=actor_obj,
                    revoke_reason=revoke_reason,
                    ended_at=now,
                    notify_at=None,
                ),
            )
        tokens = 0
        if plan.oauth_client_ids:
            _same(
                len(plan.oauth_client_ids),
                OAuthClient.objects.filter(
                    pk__in=plan.oauth_client_ids, state=CredentialState.ACTIVE
                ).update(
                    state=CredentialState.REVOKED,
                    revoked_at=now,
                    revoked_by=actor_obj,
                    revoke_reason=revoke_reason,
                ),
            )
            tokens = OAuthAccessToken.objects.filter(
                client_id__in=plan.oauth_client_ids, revoked_at__isnull=True
            ).update(revoked_at=now)
        # Grants: every one is in the snapshot, flagged as suspended by the incident, before it
        # is switched off (one statement adds the missing rows and flags them all).
        suspended: list[int] = []
        if plan.grant_ids:
            _same(
                len(plan.grant_ids),
                snapshot_take(
                    incident=incident, row=plan.row, grant_ids=plan.grant_ids, mark_suspended=True
                ),
            )
            suspended = _grants_suspend(actor=actor, incident=incident, plan=plan, reason=reason)
            _same(plan.grant_ids, suspended)
        # One audit event per batch of up to AUDIT_BATCH objects of a kind (the grants' come
        # from apps.access above); the ids are in `Suspension` and the snapshot as well.
        events = batch_events(
            action="accounts.disabled",
            actor=actor,
            ids=plan.user_ids,
            noun="accounts",
            target_type=User._meta.label_lower,
            details=details,
        )
        events += batch_events(
            action="staff_sessions.ended",
            actor=actor,
            ids=plan.staff_session_ids,
            noun="vendor staff",
            target_type=User._meta.label_lower,
            details=details,
        )
        events += batch_events(
            action="api_keys.revoked",
            actor=actor,
            ids=plan.api_key_ids,
            noun="API keys",
            target_type=ApiKey._meta.label_lower,
            details=details,
        )
        events += batch_events(
            action="oauth_clients.revoked",
            actor=actor,
            ids=plan.oauth_client_ids,
            noun="OAuth clients",
            target_type=OAuthClient._meta.label_lower,
            details={**details, "tokens_revoked": tokens},
        )
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
