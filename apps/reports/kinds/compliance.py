"""Monthly and quarterly compliance summary: key figures of the period (unique persons with
access, role changes, exceptions, break-glass uses, requests approved and denied, grants
created and revoked) and the notable events behind them, from the grants and the audit log."""

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

ROLE_CHANGES = ("membership.role_changed", "membership.changed_by_idp", "access.role.changed")
EXCEPTIONS = ("access.policy_exception.created", "policy.bypassed", "access.sod.flagged")
BREAK_GLASS = ("break_glass.activated",)
APPROVED = ("access_request.granted", "access_request.approved", "access_request.pre_approved")
DENIED = ("access_request.denied",)
GRANTS = ("access.grant.created", "access.grant.revoked")
NOTABLE = (*ROLE_CHANGES, *EXCEPTIONS, *BREAK_GLASS, "break_glass.reviewed", *DENIED)
BATCH = 2_000


def _figures(ctx: BuildContext) -> list[tuple[Any, str]]:
    from apps.access.models import Grant
    from apps.core.models import AuditEvent

    period = ctx.period
    assert period is not None
    overlapping = (
        Q(tenant_id__in=ctx.tenant_ids, user__isnull=False, starts_at__lt=period.end)
        & (Q(revoked_at__isnull=True) | Q(revoked_at__gte=period.start))
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=period.start))
    )
    with ctx.reading():
        persons = Grant.objects.filter(overlapping).values("user_id").distinct().count()
        vendor = (
            Grant.objects.filter(overlapping, user__kind="staff")
            .values("user_id")
            .distinct()
            .count()
        )
        created = Grant.objects.filter(
            tenant_id__in=ctx.tenant_ids, **period.contains_q("created_at")
        ).count()
        revoked = Grant.objects.filter(
            tenant_id__in=ctx.tenant_ids, **period.contains_q("revoked_at")
        ).count()
        by_action = dict(
            AuditEvent.objects.filter(
                tenant_id__in=ctx.tenant_ids,
                action__in=(*ROLE_CHANGES, *EXCEPTIONS, *BREAK_GLASS, *APPROVED, *DENIED),
                **period.contains_q("occurred_at"),
            )
            .values_list("action")
            .annotate(n=Count("id"))
            .order_by()
        )

    def total(actions: tuple[str, ...]) -> str:
        return fmt_int(sum(by_action.get(a, 0) for a in actions))

    return [
        (gettext_lazy("Unique persons with access"), fmt_int(persons)),
        (gettext_lazy("of whom vendor staff"), fmt_int(vendor)),
        (gettext_lazy("Grants created"), fmt_int(created)),
        (gettext_lazy("Grants revoked"), fmt_int(revoked)),
        (gettext_lazy("Role changes"), total(ROLE_CHANGES)),
        (gettext_lazy("Exceptions (policy exceptions, bypasses, SoD findings)"), total(EXCEPTIONS)),
        (gettext_lazy("Break-glass uses"), total(BREAK_GLASS)),
        (gettext_lazy("Requests approved"), total(APPROVED)),
        (gettext_lazy("Requests denied"), total(DENIED)),
    ]


def build(ctx: BuildContext) -> ReportData:
    from apps.core.audit.labels import ACTION_LABELS
    from apps.core.models import AuditEvent

    period = ctx.period
    assert period is not None
    q = Q(tenant_id__in=ctx.tenant_ids, action__in=NOTABLE, **period.contains_q("occurred_at"))
    with ctx.reading():
        count = AuditEvent.objects.filter(q).count()
    figures = _figures(ctx)
    slugs = {t.pk: t.slug for t in ctx.tenants}

    def records() -> Iterator[Any]:
        last = 0
        while True:
            with ctx.reading():
                batch = list(
                    AuditEvent.objects.filter(q, pk__gt=last)
                    .only(
                        "id",
                        "occurred_at",
                        "tenant_id",
                        "action",
                        "outcome",
                        "personal",
                        "target_type",
                        "target_id",
                    )
                    .order_by("pk")[:BATCH]
                )
            if not batch:
                return
            yield from batch
            last = batch[-1].pk

    def label(action: str) -> str:
        return str(ACTION_LABELS.get(action, action))

    columns = [
        Column("when", gettext_lazy("When"), 20),
        Column("event", gettext_lazy("Event"), 34),
        Column("actor", gettext_lazy("By"), 28),
        Column("target", gettext_lazy("Concerning"), 40),
        Column("outcome", gettext_lazy("Outcome"), 10),
    ]
    if ctx.multi:
        columns.insert(1, Column("tenant", gettext_lazy("Tenant"), 14))

    def pdf_row(e: Any) -> list[str]:
        personal = e.personal or {}
        cells = [
            fmt_dt(e.occurred_at),
            label(e.action),
            str(personal.get("actor", "")),
            str(personal.get("target", "")) or f"{e.target_type} {e.target_id}".strip(),
            e.outcome,
        ]
        if ctx.multi:
            cells.insert(1, slugs.get(e.tenant_id, ""))
        return cells

    def csv_row(e: Any) -> list[Any]:
        personal = e.personal or {}
        return [
            slugs.get(e.tenant_id, ""),
            iso(e.occurred_at),
            e.action,
            personal.get("actor", ""),
            personal.get("target", ""),
            e.target_type,
            e.target_id,
            e.outcome,
        ]

    unit = ctx.parameters.get("period", "month")
    title = _("Quarterly compliance summary") if unit == "quarter" else _("Compliance summary")
    if unit == "month":
        title = _("Monthly compliance summary")
    return ReportData(
        title=title,
        columns=columns,
        count=count,
        records=records,
        pdf_row=pdf_row,
        csv_header=[
            "tenant",
            "occurred_at",
            "action",
            "actor",
            "target",
            "target_type",
            "target_id",
            "outcome",
        ],
        csv_row=csv_row,
        figures=figures,
        note=_(
            "Notable events: role changes, exceptions, break-glass uses and reviews, denied "
            "requests."
        ),
    )


register(
    ReportKind(
        key="compliance_summary",
        label=gettext_lazy("Compliance summary (monthly or quarterly)"),
        description=gettext_lazy(
            "Unique persons with access, role changes, exceptions, break-glass uses, requests "
            "approved and denied."
        ),
        build=build,
        needs_period=True,
        order=30,
    )
)
