"""What every incident service shares: the error type, who may act, the timeline, the bulk
audit append (with a per-event fallback while the bulk writer is not there), the per-batch
audit events of mass actions, and id lists as one SQL parameter."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Max
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError, NotFound, PermissionDenied
from apps.incidents.models import Incident, IncidentStatus, IncidentTenant, TimelineEntry
from apps.tenants.models import Tenant


class IncidentError(DomainError):
    """A refusal of an incident action (shown to the person as it is)."""

    status_code = 400


class IncidentConflict(IncidentError):
    """The action was done already or the incident moved on (a double click, a stale page)."""

    status_code = 409


def require_oversight(actor: Any) -> None:
    """Incident response is for security and compliance staff (and operators)."""
    if not getattr(actor, "is_active", False):
        raise PermissionDenied(_("Only security and compliance staff handle incidents."))
    if getattr(actor, "has_oversight", False) or getattr(actor, "is_superuser", False):
        return
    raise PermissionDenied(_("Only security and compliance staff handle incidents."))


def require_open(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED:
        raise IncidentConflict(
            _("Incident %(ref)s is closed; nothing can change any more.")
            % {"ref": incident.reference},
            code="incident_closed",
        )


def incident_tenant_get(*, incident: Incident, tenant: Tenant) -> IncidentTenant:
    row = IncidentTenant.objects.for_tenant(tenant).filter(incident=incident).first()
    if row is None:
        raise NotFound(
            _("%(tenant)s is not affected by incident %(ref)s.")
            % {"tenant": tenant.name, "ref": incident.reference},
            code="tenant_not_affected",
        )
    return row


def timeline_add(
    *,
    incident: Incident,
    kind: str,
    text: str,
    actor: Any = None,
    tenant: Tenant | None = None,
    details: dict[str, Any] | None = None,
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        text=text,
        actor=actor if getattr(actor, "pk", None) else None,
        about_tenant=tenant,
        details=details or {},
        at=timezone.now(),
    )


def next_reference() -> str:
    """INC-<year>-<nnnn>, counting within the year."""
    year = timezone.now().year
    prefix = f"INC-{year}-"
    last = Incident.objects.filter(reference__startswith=prefix).aggregate(m=Max("reference"))["m"]
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:04d}"


def _bulk_writer() -> Callable[..., Any] | None:
    from apps.core.audit import services

    return getattr(services, "audit_events_record_bulk", None)


def audit_bulk(*, tenant: Tenant | None, events: list[dict[str, Any]]) -> int:
    """Append many events to one chain in the caller's transaction. Uses the set-based writer
    of apps.core.audit when it exists; otherwise one append per event (same chain, slower)."""
    if not events:
        return 0
    writer = _bulk_writer()
    if writer is not None:
        return int(
            writer(tenant=tenant, events=events, use_current_tenant=tenant is not None)
            or len(events)
        )
    for event in events:
        if tenant is None:
            audit_event_record(use_current_tenant=False, **event)
        else:
            audit_event_record(tenant=tenant, **event)
    return len(events)


# Objects per audit event of a mass action (docs/incidents.md, "Audit and evidence").
AUDIT_BATCH = 1000


def batch_events(
    *, action: str, actor: Any, ids: list[int], noun: str, target_type: str, details: dict[str, Any]
) -> list[dict[str, Any]]:
    """One audit event per `AUDIT_BATCH` objects of one kind: their ids, the count, and which
    batch of how many (each object's prior state is in the incident's records, not here)."""
    batches = -(-len(ids) // AUDIT_BATCH)
    events = []
    for number, start in enumerate(range(0, len(ids), AUDIT_BATCH), start=1):
        chunk = ids[start : start + AUDIT_BATCH]
        events.append(
            {
                "action": action,
                "actor": actor,
                "target": f"{len(chunk)} {noun}",
                "target_type": target_type,
                "details": {
                    **details,
                    "count": len(chunk),
                    "ids": chunk,
                    "batch": number,
                    "batches": batches,
                    "total": len(ids),
                },
            }
        )
    return events


def pk_in(ids: list[int]) -> RawSQL:
    """The right-hand side of `pk__in` for a long id list as ONE parameter (a PostgreSQL array,
    a JSON text on SQLite) instead of one placeholder per id."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(ids),))
