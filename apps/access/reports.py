"""The access inventory of a tenant as a streaming CSV (one line per grant and entitlement it
gives, constant memory) and as a PDF report (WeasyPrint, via apps.reports)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from apps.access import selectors_explain as sel
from apps.reports.csvstream import csv_lines, csv_response
from apps.reports.pdf import pdf_render, pdf_response

PDF_MAX_ROWS = 2_000  # larger inventories: the CSV (a PDF of 10,000 pages helps nobody)

CSV_HEADER = (
    "grant_id",
    "state",
    "subject_type",
    "subject",
    "subject_email",
    "vendor_staff",
    "vendor_role",
    "via_role",
    "entitlement",
    "environment",
    "level",
    "risk",
    "source",
    "starts_at",
    "expires_at",
    "revoked_at",
    "revoke_reason",
    "suspended_at",
    "last_used_at",
    "justification",
    "ticket_ref",
    "approval_ref",
)


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def _subject_columns(grant: Any) -> tuple[str, str, str, str, str]:
    """(type, name, email, vendor staff yes/no, vendor role label) — never the vendor's teams."""
    if grant.user_id:
        user = grant.user
        staff = getattr(user, "kind", "") == "staff"
        role = user.get_staff_role_display() if staff and user.staff_role else ""
        if staff:  # the customer sees name and vendor role only
            return "user", user.get_full_name(), "", "yes", str(role)
        return "user", user.get_full_name(), user.email, "no", ""
    if grant.service_account_id:
        return "service_account", str(grant.service_account), "", "no", ""
    return "api_key", str(grant.api_key), "", "no", ""


def inventory_csv_rows(*, tenant: Any, state: str = "all") -> Iterator[list[Any]]:
    for row in sel.inventory_rows(tenant=tenant, state=state):
        g = row.grant
        subject = _subject_columns(g)
        common_head = [g.pk, row.state, *subject]
        common_tail = [
            g.source,
            _iso(g.starts_at),
            _iso(g.expires_at),
            _iso(g.revoked_at),
            g.revoke_reason,
            _iso(g.suspended_at),
            _iso(g.last_used_at),
            g.justification,
            g.ticket_ref,
            g.approval_ref,
        ]
        role = g.role.key if g.role_id and g.role is not None else ""
        ents = row.entitlements or [None]
        for ent in ents:
            yield [
                *common_head,
                role,
                ent.name if ent else "",
                ent.environment.slug if ent else "",
                ent.level if ent else "",
                ent.risk if ent else "",
                *common_tail,
            ]


def inventory_csv_response(*, tenant: Any, state: str = "all") -> StreamingHttpResponse:
    lines = csv_lines(CSV_HEADER, inventory_csv_rows(tenant=tenant, state=state))
    return csv_response(lines, basename=f"custos-access-inventory-{tenant.slug}")


def inventory_pdf_bytes(*, request: HttpRequest | None, tenant: Any, state: str) -> bytes:
    rows: list[sel.AccessRow] = []
    truncated = False
    for row in sel.inventory_rows(tenant=tenant, state=state):
        if len(rows) >= PDF_MAX_ROWS:
            truncated = True
            break
        rows.append(row)
    context = {
        "tenant": tenant,
        "rows": rows,
        "state": state,
        "truncated": truncated,
        "max_rows": PDF_MAX_ROWS,
        "generated_at": timezone.localtime(),
        "generated_by": getattr(request, "user", None),
    }
    return pdf_render(template="access/inventory_pdf.html", context=context, request=request)


def inventory_pdf_response(*, request: HttpRequest, tenant: Any, state: str) -> HttpResponse:
    data = inventory_pdf_bytes(request=request, tenant=tenant, state=state)
    return pdf_response(data, basename=f"custos-access-inventory-{tenant.slug}")
