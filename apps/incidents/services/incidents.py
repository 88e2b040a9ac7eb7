"""Opening an incident, its scope (tenants, named subjects), owners, notes, status, the
grant snapshot, and the root cause / remediation write-up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    F,
    Value,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.models import Grant
from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.incidents.models import (
    GrantSnapshot,
    Incident,
    IncidentStatus,
    IncidentSubject,
    IncidentTenant,
    Severity,
    SubjectKind,
    TenantScope,
    TimelineKind,
)
from apps.incidents.services.common import (
    IncidentConflict,
    IncidentError,
    audit_bulk,
    next_reference,
    pk_in,
    require_open,
    require_oversight,
    timeline_add,
)
from apps.incidents.services.scope import grants_in_scope
from apps.integrations.models import ApiKey, OAuthClient
from apps.tenants.models import Environment, Membership, Tenant

# Allowed manual status changes (containment happens through the suspension as well).
TRANSITIONS: dict[str, frozenset[str]] = {
    IncidentStatus.OPEN: frozenset({IncidentStatus.CONTAINED, IncidentStatus.RESOLVED}),
    IncidentStatus.CONTAINED: frozenset({IncidentStatus.RECOVERING, IncidentStatus.RESOLVED}),
    IncidentStatus.RECOVERING: frozenset({IncidentStatus.RESOLVED}),
    IncidentStatus.RESOLVED: frozenset({IncidentStatus.CLOSED, IncidentStatus.RECOVERING}),
    IncidentStatus.CLOSED: frozenset(),
}


def _locked(incident: Incident) -> Incident:
    """Re-read the incident under a row lock: concurrent actions on one incident queue."""
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _audit_platform(**kwargs: Any) -> None:
    audit_event_record(use_current_tenant=False, **kwargs)


def snapshot_take(
    *,
    incident: Incident,
    row: IncidentTenant,
    grant_ids: list[int] | None = None,
    mark_suspended: bool = False,
) -> int:
    """Record every grant now in scope (or among `grant_ids`, the plan's) that the snapshot
    does not hold yet (a grant is snapshotted once per incident, as it was when first in
    scope). One INSERT ... SELECT: the rows never travel through Python, whatever their
    number; the unique (incident, grant) index skips the ones held already. Returns how many
    rows were added.

    `mark_suspended` (the suspension, right before it switches these grants off): the rows
    are flagged `suspended_by_incident`, held ones included, in the same statement; returns
    how many rows were added or flagged."""
    with tenant_context(row.tenant):
        now = timezone.now()
        # Snapshot column -> its value (the SELECT list in this order).
        columns: dict[str, Any] = {
            "tenant": Value(row.tenant_id, output_field=BigIntegerField()),
            "incident": Value(incident.pk, output_field=BigIntegerField()),
            "grant": F("pk"),
            "user": F("user_id"),
            "entitlement_id_at": F("entitlement_id"),
            "role_id_at": F("role_id"),
            "source": F("source"),
            "starts_at": F("starts_at"),
            "expires_at": F("expires_at"),
            "was_suspended": Value(False, output_field=BooleanField()),
            "taken_at": Value(now, output_field=DateTimeField()),
            "suspended_by_incident": Value(mark_suspended, output_field=BooleanField()),
            "restore_mode": Value("", output_field=CharField()),
            "restore_approval": Value("", output_field=CharField()),
        }
        grants = grants_in_scope(row)
        if grant_ids is not None:
            grants = grants.filter(pk__in=pk_in(grant_ids))
        source = grants.order_by().values(
            **{f"snap_{name}": value for name, value in columns.items()}
        )
        select, params = source.query.sql_with_params()
        meta = GrantSnapshot._meta
        quote = connection.ops.quote_name
        db_columns = {f.name: str(f.column) for f in meta.concrete_fields}

        def column(name: str) -> str:
            return quote(db_columns[name])

        names = ", ".join(column(n) for n in columns)
        flag = column("suspended_by_incident")
        on_conflict = f"DO UPDATE SET {flag} = excluded.{flag}" if mark_suspended else "DO NOTHING"
        # (The SELECT always has a WHERE clause, which SQLite needs before ON CONFLICT.)
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({names}) {select} "
            f"ON CONFLICT ({column('incident')}, {column('grant')}) {on_conflict}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            taken = max(cursor.rowcount, 0)
        if row.snapshot_at is None:
            IncidentTenant.objects.filter(pk=row.pk).update(snapshot_at=now)
            row.snapshot_at = now
    return taken


def _tenant_attach(*, actor: Any, incident: Incident, tenant: Tenant, scope: str) -> IncidentTenant:
    if scope not in TenantScope.values:
        raise IncidentError(_("Unknown scope."), code="scope")
    with tenant_context(tenant):
        if IncidentTenant.objects.filter(incident=incident).exists():
            raise IncidentConflict(
                _("%(tenant)s is already affected by this incident.") % {"tenant": tenant.name},
                code="tenant_already_affected",
            )
        row = IncidentTenant.objects.create(tenant=tenant, incident=incident, scope=scope)
        audit_event_record(
            action="incident.tenant_affected",
            actor=actor,
            tenant=tenant,
            target=incident,
            after={"reference": incident.reference, "scope": scope, "title": incident.title},
        )
    taken = snapshot_take(incident=incident, row=row)
    timeline_add(
        incident=incident,
        kind=TimelineKind.SCOPE,
        actor=actor,
        tenant=tenant,
        text=_("%(tenant)s added (%(scope)s); %(n)d grants in the snapshot.")
        % {"tenant": tenant.name, "scope": row.get_scope_display(), "n": taken},
        details={"scope": scope, "snapshot": taken},
    )
    return row


@transaction.atomic
def incident_open(
    *,
    actor: Any,
    title: str,
    severity: str,
    tenants: Iterable[Tenant],
    scope: str = TenantScope.SELECTED,
    summary: str = "",
    customer_summary: str = "",
    detected_at: datetime | None = None,
    owners: Iterable[User] = (),
) -> Incident:
    """Open an incident over one or more tenants and snapshot the grants in scope."""
    require_oversight(actor)
    title = title.strip()
    if not title:
        raise IncidentError(_("An incident needs a title."), code="title")
    if severity not in Severity.values:
        raise IncidentError(_("Unknown severity."), code="severity")
    tenants = list(dict.fromkeys(tenants))
    if not tenants:
        raise IncidentError(_("Name at least one affected tenant."), code="tenants")
    now = timezone.now()
    if detected_at is not None and detected_at > now:
        raise IncidentError(_("The detection time cannot be in the future."), code="detected_at")
    incident = Incident.objects.create(
        reference=next_reference(),
        title=title[:200],
        severity=severity,
        summary=summary,
        customer_summary=customer_summary,
        detected_at=detected_at or now,
        opened_at=now,
        opened_by=actor,
    )
    owner_list = [u for u in owners if u.is_vendor_staff] or [actor]
    incident.owners.set(owner_list)
    _audit_platform(
        action="incident.opened",
        actor=actor,
        target=incident,
        after={
            "reference": incident.reference,
            "title": incident.title,
            "severity": severity,
            "tenants": [t.slug for t in tenants],
            "owners": [u.email for u in owner_list],
        },
    )
    timeline_add(
        incident=incident,
        kind=TimelineKind.OPENED,
        actor=actor,
        text=_("Incident opened (severity %(severity)s).")
        % {"severity": incident.get_severity_display()},
    )
    for tenant in tenants:
        _tenant_attach(actor=actor, incident=incident, tenant=tenant, scope=scope)
    return incident


@transaction.atomic
def incident_tenant_add(
    *, actor: Any, incident: Incident, tenant: Tenant, scope: str = TenantScope.SELECTED
) -> IncidentTenant:
    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    return _tenant_attach(actor=actor, incident=incident, tenant=tenant, scope=scope)


@transaction.atomic
def incident_scope_set(
    *, actor: Any, incident: Incident, tenant: Tenant, scope: str
) -> IncidentTenant:
    """Widen or narrow a tenant's scope; widening snapshots the newly covered grants."""
    from apps.incidents.services.common import incident_tenant_get

    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    if scope not in TenantScope.values:
        raise IncidentError(_("Unknown scope."), code="scope")
    with tenant_context(tenant):
        row = incident_tenant_get(incident=incident, tenant=tenant)
        before = row.scope
        if before == scope:
            return row
        IncidentTenant.objects.filter(pk=row.pk).update(scope=scope)
        row.scope = scope
        audit_event_record(
            action="incident.scope_changed",
            actor=actor,
            tenant=tenant,
            target=incident,
            before={"scope": before},
            after={"scope": scope},
        )
    taken = snapshot_take(incident=incident, row=row)
    timeline_add(
        incident=incident,
        kind=TimelineKind.SCOPE,
        actor=actor,
        tenant=tenant,
        text=_("Scope in %(tenant)s is now: %(scope)s; %(n)d more grants in the snapshot.")
        % {"tenant": tenant.name, "scope": row.get_scope_display(), "n": taken},
    )
    return row


def _resolve_subject(*, tenant: Tenant, kind: str, identifier: str) -> dict[str, Any]:
    """The object a staff member named (an email, a key prefix, a client id, an environment
    slug), looked up inside the tenant; a clear refusal when it is not there."""
    value = identifier.strip()
    if not value:
        raise IncidentError(_("Say which one (an email, key prefix, client id or slug)."))
    if kind == SubjectKind.USER:
        user = User.objects.filter(email__iexact=value).first()
        if user is None:
            raise IncidentError(_("No account with this email address."), code="subject")
        related = Membership.objects.filter(user=user).exists() or (
            user.is_vendor_staff and Grant.objects.filter(user=user).exists()
        )
        if not related and not user.is_vendor_staff:
            raise IncidentError(
                _("%(email)s has no membership in %(tenant)s.")
                % {"email": user.email, "tenant": tenant.name},
                code="subject",
            )
        return {"user": user}
    if kind == SubjectKind.API_KEY:
        prefix = value.removeprefix("cus_").split("_", 1)[0]
        key = ApiKey.objects.filter(prefix=prefix).first()
        if key is None:
            raise IncidentError(
                _("No API key with this prefix in %(tenant)s.") % {"tenant": tenant.name},
                code="subject",
            )
        return {"api_key": key}
    if kind == SubjectKind.OAUTH_CLIENT:
        client = OAuthClient.objects.filter(client_id=value).first()
        if client is None:
            raise IncidentError(
                _("No OAuth client with this id in %(tenant)s.") % {"tenant": tenant.name},
                code="subject",
            )
        return {"oauth_client": client}
    if kind == SubjectKind.ENVIRONMENT:
        environment = Environment.objects.filter(slug=value).first()
        if environment is None:
            raise IncidentError(
                _("No environment with this slug in %(tenant)s.") % {"tenant": tenant.name},
                code="subject",
            )
        return {"environment": environment}
    raise IncidentError(_("Unknown kind of subject."), code="subject")


@transaction.atomic
def incident_subject_add(
    *,
    actor: Any,
    incident: Incident,
    tenant: Tenant,
    kind: str,
    identifier: str,
    note: str = "",
) -> IncidentSubject:
    from apps.incidents.services.common import incident_tenant_get

    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    with tenant_context(tenant):
        row = incident_tenant_get(incident=incident, tenant=tenant)
        found = _resolve_subject(tenant=tenant, kind=kind, identifier=identifier)
        if getattr(found.get("user"), "pk", None) == getattr(actor, "pk", None):
            raise IncidentError(
                _("You cannot name your own account; ask another responder."), code="self"
            )
        if IncidentSubject.objects.filter(incident=incident, kind=kind, **found).exists():
            raise IncidentConflict(_("This one is named already."), code="subject_duplicate")
        subject = IncidentSubject.objects.create(
            tenant=tenant, incident=incident, kind=kind, note=note[:300], added_by=actor, **found
        )
        audit_event_record(
            action="incident.subject_added",
            actor=actor,
            tenant=tenant,
            target=incident,
            after={"kind": kind, "subject": subject.label, "note": note[:300]},
        )
    taken = snapshot_take(incident=incident, row=row)
    timeline_add(
        incident=incident,
        kind=TimelineKind.SCOPE,
        actor=actor,
        tenant=tenant,
        text=_("Named in %(tenant)s: %(subject)s; %(n)d more grants in the snapshot.")
        % {"tenant": tenant.name, "subject": str(subject), "n": taken},
    )
    return subject


@transaction.atomic
def incident_owners_set(*, actor: Any, incident: Incident, owners: Iterable[User]) -> Incident:
    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    owner_list = list(dict.fromkeys(owners))
    if not owner_list or any(not u.is_vendor_staff for u in owner_list):
        raise IncidentError(_("Owners must be vendor staff; name at least one."), code="owners")
    before = sorted(incident.owners.values_list("email", flat=True))
    incident.owners.set(owner_list)
    after = sorted(u.email for u in owner_list)
    _audit_platform(
        action="incident.owners_changed",
        actor=actor,
        target=incident,
        before={"owners": before},
        after={"owners": after},
    )
    timeline_add(
        incident=incident,
        kind=TimelineKind.NOTE,
        actor=actor,
        text=_("Owners: %(owners)s") % {"owners": ", ".join(after)},
    )
    return incident


@transaction.atomic
def incident_note_add(*, actor: Any, incident: Incident, text: str) -> None:
    require_oversight(actor)
    text = text.strip()
    if not text:
        raise IncidentError(_("The note is empty."), code="note")
    incident = _locked(incident)
    timeline_add(incident=incident, kind=TimelineKind.NOTE, actor=actor, text=text[:5000])
    _audit_platform(
        action="incident.note_added", actor=actor, target=incident, details={"text": text[:500]}
    )


@transaction.atomic
def incident_status_set(*, actor: Any, incident: Incident, status: str) -> Incident:
    require_oversight(actor)
    incident = _locked(incident)
    before = incident.status
    if status == before:
        return incident
    if status not in TRANSITIONS.get(before, frozenset()):
        raise IncidentConflict(
            _("An incident that is %(before)s cannot become %(after)s.")
            % {
                "before": incident.get_status_display().lower(),
                "after": IncidentStatus(status).label.lower()
                if status in IncidentStatus.values
                else status,
            },
            code="status",
        )
    if status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED) and not incident.postmortem_done:
        raise IncidentError(
            _("Document the root cause and the remediation first."), code="postmortem_missing"
        )
    now = timezone.now()
    fields: dict[str, Any] = {"status": status}
    if status == IncidentStatus.CONTAINED:
        fields["contained_at"] = incident.contained_at or now
    if status == IncidentStatus.RESOLVED:
        fields["resolved_at"] = now
    if status == IncidentStatus.CLOSED:
        fields["closed_at"] = now
    Incident.objects.filter(pk=incident.pk, status=before).update(**fields)
    incident.refresh_from_db()
    _audit_platform(
        action="incident.status_changed",
        actor=actor,
        target=incident,
        before={"status": before},
        after={"status": status},
    )
    _tenant_events(
        incident=incident,
        action="incident.status_changed",
        actor=actor,
        before={"status": before},
        after={"status": status},
    )
    timeline_add(
        incident=incident,
        kind=TimelineKind.STATUS,
        actor=actor,
        text=_("Status: %(status)s") % {"status": incident.get_status_display()},
    )
    return incident


def _tenant_events(*, incident: Incident, action: str, actor: Any, **fields: Any) -> None:
    """The same event in every affected tenant's chain (customers see their incident's story)."""
    from apps.core.tenancy import unscoped

    with unscoped(reason="incident: which tenants does the incident affect"):
        tenants = list(
            Tenant.objects.filter(
                pk__in=IncidentTenant.objects.filter(incident=incident).values("tenant_id")
            )
        )
    for tenant in tenants:
        with tenant_context(tenant):
            audit_bulk(
                tenant=tenant,
                events=[{"action": action, "actor": actor, "target": incident, **fields}],
            )


@transaction.atomic
def incident_postmortem_record(
    *, actor: Any, incident: Incident, root_cause: str, remediation: str
) -> Incident:
    """Root cause and remediation, in words the customer's stakeholders can sign off."""
    require_oversight(actor)
    incident = _locked(incident)
    require_open(incident)
    root_cause, remediation = root_cause.strip(), remediation.strip()
    if not root_cause or not remediation:
        raise IncidentError(
            _("Both the root cause and the remediation are needed."), code="postmortem"
        )
    from apps.core.tenancy import unscoped

    with unscoped(reason="incident write-up: has any affected customer signed it off"):
        signed = IncidentTenant.objects.filter(
            incident=incident, signed_off_at__isnull=False
        ).exists()
    if signed:
        raise IncidentConflict(
            _("A customer has signed off this root cause and remediation; it cannot change."),
            code="postmortem_signed",
        )
    before = {"root_cause": incident.root_cause, "remediation": incident.remediation}
    Incident.objects.filter(pk=incident.pk).update(
        root_cause=root_cause,
        remediation=remediation,
        postmortem_at=timezone.now(),
        postmortem_by=actor,
    )
    incident.refresh_from_db()
    after = {"root_cause": root_cause, "remediation": remediation}
    _audit_platform(
        action="incident.postmortem_recorded",
        actor=actor,
        target=incident,
        before=before,
        after=after,
    )
    _tenant_events(
        incident=incident,
        action="incident.postmortem_recorded",
        actor=actor,
        before=before,
        after=after,
    )
    timeline_add(
        incident=incident,
        kind=TimelineKind.POSTMORTEM,
        actor=actor,
        text=_("Root cause and remediation documented."),
        details=after,
    )
    return incident
