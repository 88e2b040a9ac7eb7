"""Staff console of incident response (/staff/incidents/...), for security and compliance
staff: the list, opening an incident, the incident page with its timeline, the dry-run preview
and "suspend now", restoration, notifications and policy changes. Views parse, call one
service and redirect; refusals come back as messages or form errors, never as a 500."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.exceptions import DomainError
from apps.incidents import selectors, services
from apps.incidents.forms import (
    IncidentForm,
    IsolationLiftForm,
    NoteForm,
    NotificationForm,
    NotificationSendForm,
    PolicyForm,
    PostmortemForm,
    ReenableForm,
    RestoreForm,
    ReviewForm,
    ScopeForm,
    StatusForm,
    SubjectForm,
    SuspendForm,
    TenantAddForm,
)
from apps.incidents.models import Incident, IncidentStatus
from apps.tenants.models import Tenant

ViewFunc = Callable[..., HttpResponseBase]


def oversight_required(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user: Any = request.user
        if not (getattr(user, "has_oversight", False) or getattr(user, "is_superuser", False)):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _detail(incident: Incident) -> HttpResponse:
    return redirect("staff_incidents:detail", incident_id=incident.pk)


def _fail(request: HttpRequest, form: Any = None, exc: DomainError | None = None) -> None:
    if exc is not None:
        messages.error(request, exc.message)
        return
    errors = [str(e) for field in form.errors.values() for e in field] if form else []
    messages.error(request, " ".join(errors) or _("Check the form and try again."))


def _isolate_ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


@require_GET
@oversight_required
def incident_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "incidents/staff_list.html",
        {"incidents": selectors.incident_list_staff(), "now": timezone.now()},
    )


@require_http_methods(["GET", "POST"])
@oversight_required
def incident_new(request: HttpRequest) -> HttpResponse:
    form = IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.incident_open(
                actor=request.user,
                title=data["title"],
                severity=data["severity"],
                tenants=list(data["tenants"]),
                scope=data["scope"],
                summary=data["summary"],
                customer_summary=data["customer_summary"],
                detected_at=data["detected_at"],
                owners=list(data["owners"]),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Incident %(ref)s opened; the affected grants are in its snapshot.")
                % {"ref": incident.reference},
            )
            return _detail(incident)
    return render(request, "incidents/staff_new.html", {"form": form})


@require_GET
@oversight_required
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    sections = selectors.incident_sections(incident=incident)
    return render(
        request,
        "incidents/staff_detail.html",
        {
            "incident": incident,
            "sections": sections,
            "timeline": selectors.incident_timeline(incident=incident),
            "transitions": [
                IncidentStatus(s)
                for s in services.incidents.TRANSITIONS.get(incident.status, frozenset())
            ],
            "subject_form": SubjectForm(),
            "tenant_form": TenantAddForm(),
            "note_form": NoteForm(),
            "postmortem_form": PostmortemForm(
                initial={"root_cause": incident.root_cause, "remediation": incident.remediation}
            ),
            "notification_form": NotificationForm(),
            "policy_form": PolicyForm(),
            "now": timezone.now(),
        },
    )


def _action(
    request: HttpRequest,
    incident_id: int,
    form_class: Any,
    call: Callable[[Incident, dict[str, Any]], str],
) -> HttpResponse:
    """POST → form → service → message → back to the incident page (PRG)."""
    incident = selectors.incident_get(incident_id=incident_id)
    form = form_class(request.POST)
    if not form.is_valid():
        _fail(request, form)
        return _detail(incident)
    data = dict(form.cleaned_data)
    if "tenant" in data and isinstance(data["tenant"], str):
        data["tenant"] = selectors.incident_tenant_by_slug(incident=incident, slug=data["tenant"])
    try:
        message = call(incident, data)
    except DomainError as exc:
        _fail(request, exc=exc)
    else:
        messages.success(request, message)
    return _detail(incident)


@require_POST
@oversight_required
def subject_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        subject = services.incident_subject_add(
            actor=request.user,
            incident=incident,
            tenant=data["tenant"],
            kind=data["kind"],
            identifier=data["identifier"],
            note=data["note"],
        )
        return _("Added to the scope: %(subject)s") % {"subject": subject}

    return _action(request, incident_id, SubjectForm, call)


@require_POST
@oversight_required
def scope_set(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_scope_set(
            actor=request.user, incident=incident, tenant=data["tenant"], scope=data["scope"]
        )
        return _("Scope changed.")

    return _action(request, incident_id, ScopeForm, call)


@require_POST
@oversight_required
def tenant_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_tenant_add(
            actor=request.user, incident=incident, tenant=data["tenant"], scope=data["scope"]
        )
        return _("%(tenant)s added to the incident.") % {"tenant": data["tenant"].name}

    incident = selectors.incident_get(incident_id=incident_id)
    form = TenantAddForm(request.POST)
    if not form.is_valid():
        _fail(request, form)
        return _detail(incident)
    try:
        messages.success(request, call(incident, form.cleaned_data))
    except DomainError as exc:
        _fail(request, exc=exc)
    return _detail(incident)


@require_POST
@oversight_required
def note_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_note_add(actor=request.user, incident=incident, text=data["text"])
        return _("Note added to the timeline.")

    return _action(request, incident_id, NoteForm, call)


@require_POST
@oversight_required
def status_set(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        incident = services.incident_status_set(
            actor=request.user, incident=incident, status=data["status"]
        )
        return _("Status: %(status)s") % {"status": incident.get_status_display()}

    return _action(request, incident_id, StatusForm, call)


@require_POST
@oversight_required
def postmortem(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_postmortem_record(
            actor=request.user,
            incident=incident,
            root_cause=data["root_cause"],
            remediation=data["remediation"],
        )
        return _("Root cause and remediation recorded; customers can sign off now.")

    return _action(request, incident_id, PostmortemForm, call)


@require_http_methods(["GET", "POST"])
@oversight_required
def suspend(request: HttpRequest, incident_id: int) -> HttpResponse:
    """GET: the dry run (what would be suspended, counts and lists). POST: do exactly that."""
    incident = selectors.incident_get(incident_id=incident_id)
    if request.method == "POST":
        form = SuspendForm(request.POST)
        isolate = _isolate_ids(request.POST.get("isolate", ""))
        if form.is_valid():
            try:
                records = services.suspension_execute(
                    actor=request.user,
                    incident=incident,
                    fingerprint_seen=form.cleaned_data["fingerprint"],
                    confirm_reference=form.cleaned_data["confirm_reference"],
                    reason=form.cleaned_data["reason"],
                    isolate=isolate,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Suspended in %(n)d tenant(s) in %(ms)s ms; see the timeline.")
                    % {
                        "n": len(records),
                        "ms": f"{sum(r.duration_ms for r in records):.0f}",
                    },
                )
                return _detail(incident)
    else:
        isolate = [int(v) for v in request.GET.getlist("isolate") if v.isdigit()]
        form = None
    try:
        preview = services.suspension_preview(
            actor=request.user, incident=incident, isolate=isolate
        )
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    errors: list[str] = []
    if form is not None:  # a refused confirmation: show why, with a fresh preview to confirm
        errors = [str(e) for field in form.errors.values() for e in field]
    reason = form.data.get("reason", "") if form is not None else ""
    form = SuspendForm(
        initial={
            "fingerprint": preview.fingerprint,
            "isolate": ",".join(str(i) for i in isolate),
            "reason": reason,
        }
    )
    return render(
        request,
        "incidents/staff_suspend.html",
        {
            "incident": incident,
            "preview": preview,
            "lists": [selectors.plan_lists(p) for p in preview.plans],
            "isolate": isolate,
            "form": form,
            "errors": errors,
            "limit": selectors.LIST_LIMIT,
        },
        status=409 if request.method == "POST" else 200,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@oversight_required
def suspend_preview_csv(request: HttpRequest, incident_id: int) -> StreamingHttpResponse:
    """The full preview (every account, key, client and grant), not only the first 200."""
    incident = selectors.incident_get(incident_id=incident_id)
    try:
        preview = services.suspension_preview(actor=request.user, incident=incident)
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    writer = csv.writer(_Echo())

    def rows() -> Any:
        yield writer.writerow(["tenant", "action", "id", "label"])
        for plan in preview.plans:
            for kind, pk, label in selectors.plan_rows_all(plan):
                yield writer.writerow([plan.tenant.slug, kind, pk, label])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{incident.reference}-suspension-preview.csv"'
    )
    return response


@require_http_methods(["GET", "POST"])
@oversight_required
def restore(request: HttpRequest, incident_id: int) -> HttpResponse:
    """Pick grants from the snapshot (never everything at once by default) and restore them."""
    incident = selectors.incident_get(incident_id=incident_id)
    sections = selectors.incident_tenants(incident=incident)
    chosen = request.GET.get("tenant") or request.POST.get("tenant") or ""
    tenant: Tenant | None = None
    if chosen:
        tenant = selectors.incident_tenant_by_slug(incident=incident, slug=chosen)
    elif sections:
        tenant = sections[0].tenant
    form = RestoreForm(request.POST or None, initial={"tenant": tenant.slug if tenant else ""})
    reenable_form = ReenableForm(initial={"tenant": tenant.slug if tenant else ""})
    if request.method == "POST" and tenant is not None:
        if request.POST.get("what") == "accounts":
            reenable_form = ReenableForm(request.POST)
            if reenable_form.is_valid():
                try:
                    n = services.accounts_reenable(
                        actor=request.user,
                        incident=incident,
                        tenant=tenant,
                        user_ids=[int(v) for v in request.POST.getlist("user") if v.isdigit()],
                        reason=reenable_form.cleaned_data["reason"],
                    )
                except DomainError as exc:
                    reenable_form.add_error(None, exc.message)
                else:
                    messages.success(request, _("%(n)d accounts re-enabled.") % {"n": n})
                    return redirect(f"{request.path}?tenant={tenant.slug}")
        elif form.is_valid():
            data = form.cleaned_data
            try:
                n = services.grants_restore(
                    actor=request.user,
                    incident=incident,
                    tenant=tenant,
                    snapshot_ids=[int(v) for v in request.POST.getlist("snapshot") if v.isdigit()],
                    mode=data["mode"],
                    reason=data["reason"],
                    expires_at=data["expires_at"],
                    approval_ref=data["approval_ref"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("%(n)d grants restored.") % {"n": n})
                return redirect(f"{request.path}?tenant={tenant.slug}")
    row = next((r for r in sections if tenant and r.tenant_id == tenant.pk), None)
    return render(
        request,
        "incidents/staff_restore.html",
        {
            "incident": incident,
            "sections": sections,
            "tenant": tenant,
            "row": row,
            "restorable": selectors.snapshot_restorable(incident=incident, tenant=tenant)
            if tenant
            else [],
            "restored": selectors.snapshot_restored(incident=incident, tenant=tenant)
            if tenant
            else [],
            "accounts": selectors.disabled_accounts(incident=incident, tenant=tenant)
            if tenant
            else [],
            "form": form,
            "reenable_form": reenable_form,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@oversight_required
def isolation_lift(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        tenant = services.isolation_lift(
            actor=request.user, incident=incident, tenant=data["tenant"], reason=data["reason"]
        )
        return _("Isolation of %(tenant)s lifted.") % {"tenant": tenant.name}

    return _action(request, incident_id, IsolationLiftForm, call)


@require_POST
@oversight_required
def review_create(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        due: datetime = data["due_at"]
        services.review_campaign_create(
            actor=request.user, incident=incident, tenant=data["tenant"], due_at=due
        )
        return _("Post-incident access review created over the grants involved.")

    return _action(request, incident_id, ReviewForm, call)


@require_POST
@oversight_required
def notification_new(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        recipients = [e for e in (data["recipients"] or "").replace(";", ",").split(",") if e]
        services.notification_draft(
            actor=request.user,
            incident=incident,
            tenant=data["tenant"],
            jurisdiction=data["jurisdiction"],
            language=data["language"],
            recipients=recipients,
            deadline_at=data["deadline_at"],
        )
        return _("Notification drafted; review the text and send it before the deadline.")

    return _action(request, incident_id, NotificationForm, call)


@require_POST
@oversight_required
def notification_send(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = selectors.incident_get(incident_id=incident_id)
    form = NotificationSendForm(request.POST)
    if not form.is_valid():
        _fail(request, form)
        return _detail(incident)
    data = form.cleaned_data
    notice = selectors.notification_for_incident(
        incident=incident, notification_id=data["notification"]
    )
    if notice is None:
        _fail(request, exc=DomainError(_("No such notification for this incident.")))
        return _detail(incident)
    try:
        services.notification_send(
            actor=request.user, notification=notice, subject=data["subject"], body=data["body"]
        )
    except DomainError as exc:
        _fail(request, exc=exc)
    else:
        messages.success(request, _("Notification approved; the email is on its way."))
    return _detail(incident)


@require_POST
@oversight_required
def policy_change(request: HttpRequest, incident_id: int) -> HttpResponse:
    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.policy_change_apply(
            actor=request.user,
            incident=incident,
            tenant=data["tenant"],
            kind=data["kind"],
            finding=data["finding"],
            risk_level=data.get("risk_level") or "",
            max_hours=data.get("max_hours"),
        )
        return _("Policy changed and recorded against the incident.")

    return _action(request, incident_id, PolicyForm, call)
