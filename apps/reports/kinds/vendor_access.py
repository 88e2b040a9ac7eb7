"""Vendor-staff access to a tenant over a period: every grant a vendor employee held at any
time in the period (from the grants), with how it was obtained (request, break-glass), the
ticket and approval, and how many actions that person has on the tenant's audit log in the
period (from the audit events)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.reports.kinds.base import (
    BuildContext,
    Column,
    ReportData,
    ReportKind,
    fmt_dt,
    fmt_int,
    iso,
    register,
)

BATCH = 2_000


def _grants_q(ctx: BuildContext) -> Q:
    period = ctx.period
    assert period is not None
    return (
        Q(tenant_id__in=ctx.tenant_ids, user__kind="staff", starts_at__lt=period.end)
        & (Q(revoked_at__isnull=True) | Q(revoked_at__gte=period.start))
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=period.start))
    )


def _actions_by_person(ctx: BuildContext) -> dict[tuple[int, int], int]:
    from apps.core.models import AuditEvent

    period = ctx.period
    assert period is not None
    with ctx.reading():
        staff_ids = set(
            _grant_model().objects.filter(_grants_q(ctx)).values_list("user_id", flat=True)
        )
        if not staff_ids:
            return {}
        counts = (
            AuditEvent.objects.filter(
                tenant_id__in=ctx.tenant_ids,
                actor_id__in=staff_ids,
                **period.contains_q("occurred_at"),
            )
            .values_list("tenant_id", "actor_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        return {(t, a): n for t, a, n in counts}


def _grant_model() -> Any:
    from apps.access.models import Grant

    return Grant


def build(ctx: BuildContext) -> ReportData:
    Grant = _grant_model()
    q = _grants_q(ctx)
    with ctx.reading():
        count = Grant.objects.filter(q).count()
    actions = _actions_by_person(ctx)
    slugs = {t.pk: t.slug for t in ctx.tenants}

    def records() -> Iterator[Any]:
        last = 0
        while True:
            with ctx.reading():
                batch = list(
                    Grant.objects.filter(q, pk__gt=last)
                    .select_related("user", "role", "entitlement__environment")
                    .order_by("pk")[:BATCH]
                )
            if not batch:
                return
            yield from batch
            last = batch[-1].pk

    def access_of(g: Any) -> str:
        if g.role_id and g.role is not None:
            return _("role %(name)s") % {"name": g.role.name}
        if g.entitlement_id:
            return f"{g.entitlement.level} @ {g.entitlement.environment.name}"
        return ""

    def ended_at(g: Any) -> Any:
        return g.revoked_at or g.expires_at

    columns = [
        Column("id", "#", 7, "right"),
        Column("who", gettext_lazy("Vendor staff"), 24),
        Column("role", gettext_lazy("Vendor role"), 18),
        Column("access", gettext_lazy("Access"), 28),
        Column("source", gettext_lazy("Obtained by"), 16),
        Column("from", gettext_lazy("From"), 20),
        Column("until", gettext_lazy("Until"), 20),
        Column("ticket", gettext_lazy("Ticket / approval"), 16),
        Column("actions", gettext_lazy("Actions"), 8, "right"),
    ]
    if ctx.multi:
        columns.insert(1, Column("tenant", gettext_lazy("Tenant"), 14))

    def pdf_row(g: Any) -> list[str]:
        cells = [
            str(g.pk),
            g.user.get_full_name(),
            str(g.user.get_staff_role_display()),
            access_of(g),
            str(g.get_source_display()),
            fmt_dt(g.starts_at),
            fmt_dt(ended_at(g), _("Standing")),
            " · ".join(v for v in (g.ticket_ref, g.approval_ref) if v),
            fmt_int(actions.get((g.tenant_id, g.user_id), 0)),
        ]
        if ctx.multi:
            cells.insert(1, slugs.get(g.tenant_id, ""))
        return cells

    def csv_row(g: Any) -> list[Any]:
        return [
            slugs.get(g.tenant_id, ""),
            g.pk,
            g.user.get_full_name(),
            g.user.staff_role,
            g.role.key if g.role_id and g.role is not None else "",
            g.entitlement.name if g.entitlement_id else "",
            g.source,
            iso(g.starts_at),
            iso(g.expires_at),
            iso(g.revoked_at),
            g.ticket_ref,
            g.approval_ref,
            g.justification,
            actions.get((g.tenant_id, g.user_id), 0),
        ]

    with ctx.reading():
        break_glass = Grant.objects.filter(q, source="break_glass").count()
        persons = Grant.objects.filter(q).values("user_id").distinct().count()
    return ReportData(
        title=_("Vendor-staff access"),
        columns=columns,
        count=count,
        records=records,
        pdf_row=pdf_row,
        csv_header=[
            "tenant",
            "grant_id",
            "person",
            "vendor_role",
            "via_role",
            "entitlement",
            "source",
            "starts_at",
            "expires_at",
            "revoked_at",
            "ticket_ref",
            "approval_ref",
            "justification",
            "actions_in_period",
        ],
        csv_row=csv_row,
        figures=[
            (gettext_lazy("Grants to vendor staff"), fmt_int(count)),
            (gettext_lazy("Vendor employees"), fmt_int(persons)),
            (gettext_lazy("Break-glass grants"), fmt_int(break_glass)),
            (gettext_lazy("Actions recorded"), fmt_int(sum(actions.values()))),
        ],
    )


register(
    ReportKind(
        key="vendor_access",
        label=gettext_lazy("Vendor-staff access"),
        description=gettext_lazy(
            "Every access a vendor employee held in the period, how it was obtained and what "
            "they did."
        ),
        build=build,
        needs_period=True,
        order=20,
    )
)
