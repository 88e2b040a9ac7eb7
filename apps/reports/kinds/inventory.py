"""Tenant access inventory: every grant, expanded, as on the access explain pages (rows come
from apps.access.selectors_explain.inventory_rows, the CSV lines from apps.access.reports)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.reports.kinds.base import BuildContext, Column, ReportData, ReportKind, fmt_dt, register

STATES = ("current", "ended", "all")


def _records(ctx: BuildContext, state: str) -> Iterator[tuple[Any, Any]]:
    from apps.access import selectors_explain as sel

    for tenant in ctx.tenants:
        for row in sel.inventory_rows(tenant=tenant, state=state):
            yield tenant, row


def _count(ctx: BuildContext, state: str) -> int:
    from django.utils import timezone

    from apps.access import selectors_explain as sel
    from apps.access.models import Grant

    q = sel._state_q(state, timezone.now())
    with ctx.reading():
        return Grant.objects.filter(q, tenant_id__in=ctx.tenant_ids).count()


def build(ctx: BuildContext) -> ReportData:
    from apps.access import reports as access_reports
    from apps.access.models import Grant

    state = ctx.parameters.get("state", "current")
    state = state if state in STATES else "current"
    columns = [
        Column("id", "#", 7, "right"),
        Column("who", gettext_lazy("Who"), 24),
        Column("access", gettext_lazy("Access"), 28),
        Column("path", gettext_lazy("Path"), 20),
        Column("source", gettext_lazy("Source"), 14),
        Column("since", gettext_lazy("Since"), 20),
        Column("until", gettext_lazy("Until"), 20),
        Column("ticket", gettext_lazy("Ticket / approval"), 14),
        Column("state", gettext_lazy("State"), 12),
    ]
    if ctx.multi:
        columns.insert(1, Column("tenant", gettext_lazy("Tenant"), 14))

    # Labels translated once (build runs in the reader's language), not per row: a row's
    # get_source_display() alone re-translated every choice of the field (a quarter of the
    # job process's time on 10,000 rows).
    sources = {value: str(label) for value, label in Grant._meta.get_field("source").flatchoices}
    vendor_suffix = f" ({_('vendor')})"
    role_label = _("role %(name)s")
    standing = _("Standing")

    def pdf_row(record: tuple[Any, Any]) -> list[str]:
        tenant, row = record
        g = row.grant
        who = row.subject_label + (vendor_suffix if row.vendor else "")
        access = ", ".join(row.levels) + (" @ " + ", ".join(row.environments))
        path = (
            role_label % {"name": g.role.name}
            if g.role_id and g.role is not None
            else (g.entitlement.name if g.entitlement_id else "")
        )
        cells = [
            str(g.pk),
            who,
            access,
            path,
            sources.get(g.source, g.source),
            fmt_dt(g.starts_at),
            fmt_dt(g.expires_at, standing),
            g.ticket_ref or g.approval_ref,
            str(row.state_label),
        ]
        if ctx.multi:
            cells.insert(1, tenant.slug)
        return cells

    def csv_lines() -> Iterator[list[Any]]:
        for tenant in ctx.tenants:
            for line in access_reports.inventory_csv_rows(tenant=tenant, state=state):
                yield [tenant.slug, *line] if ctx.multi else line

    header = list(access_reports.CSV_HEADER)
    state_label = {"current": _("Current grants"), "ended": _("Ended grants"), "all": _("All")}
    return ReportData(
        title=_("Access inventory"),
        columns=columns,
        count=_count(ctx, state),
        records=lambda: _records(ctx, state),
        pdf_row=pdf_row,
        csv_header=["tenant", *header] if ctx.multi else header,
        csv_row=lambda record: [],
        csv_lines=csv_lines,
        facts=[(gettext_lazy("Grants"), str(state_label[state]))],
    )


register(
    ReportKind(
        key="inventory",
        label=gettext_lazy("Access inventory"),
        description=gettext_lazy(
            "Every grant: who holds what, through which role, since and until when."
        ),
        build=build,
        order=10,
    )
)
