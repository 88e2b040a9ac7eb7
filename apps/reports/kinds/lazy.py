"""Kinds whose data belongs to apps that may ship after this one: the anomaly summary (the
analytics app's `AnomalyAlert`) and campaign results (certification's `Campaign` and
`ReviewItem`). Each looks its models up when it runs (`find_model`), so the kind simply does
not appear until the model exists, and nothing here imports those apps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.exceptions import DomainError
from apps.reports.kinds.base import (
    BuildContext,
    Column,
    ReportData,
    ReportKind,
    find_model,
    fmt_dt,
    fmt_int,
    has_field,
    iso,
    register,
)

BATCH = 2_000


def _display(obj: Any, name: str) -> str:
    method = getattr(obj, f"get_{name}_display", None)
    if callable(method):
        return str(method())
    return str(getattr(obj, name, "") or "")


def _person(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.email)


def _batched(ctx: BuildContext, model: Any, q: Q, related: tuple[str, ...]) -> Iterator[Any]:
    last = 0
    while True:
        with ctx.reading():
            batch = list(
                model.objects.filter(q, pk__gt=last).select_related(*related).order_by("pk")[:BATCH]
            )
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


# --- anomaly summary ------------------------------------------------------------------------


def _alert_model() -> Any:
    return find_model("AnomalyAlert", "Alert")


def _alert_time_field(model: Any) -> str:
    for name in ("occurred_at", "raised_at", "created_at"):
        if has_field(model, name):
            return name
    return "pk"


def anomalies_build(ctx: BuildContext) -> ReportData:
    Alert = _alert_model()
    period = ctx.period
    assert Alert is not None
    assert period is not None
    when = _alert_time_field(Alert)
    q = Q(tenant_id__in=ctx.tenant_ids, **period.contains_q(when))
    related = ("user",) if has_field(Alert, "user") else ()
    with ctx.reading():
        count = Alert.objects.filter(q).count()
        by_severity = dict(
            Alert.objects.filter(q).values_list("severity").annotate(n=Count("id")).order_by()
        )
        by_status = dict(
            Alert.objects.filter(q).values_list("status").annotate(n=Count("id")).order_by()
        )
    slugs = {t.pk: t.slug for t in ctx.tenants}
    columns = [
        Column("when", gettext_lazy("When"), 20),
        Column("kind", gettext_lazy("Anomaly"), 26),
        Column("severity", gettext_lazy("Severity"), 10),
        Column("status", gettext_lazy("Status"), 14),
        Column("person", gettext_lazy("Person"), 26),
        Column("summary", gettext_lazy("Summary"), 52),
    ]
    if ctx.multi:
        columns.insert(1, Column("tenant", gettext_lazy("Tenant"), 14))

    def summary(alert: Any) -> str:
        value = getattr(alert, "summary", "")
        value = value() if callable(value) else value
        if not value:
            details = getattr(alert, "details", {}) or {}
            value = ", ".join(f"{k}={v}" for k, v in list(details.items())[:4])
        return str(value)

    def pdf_row(a: Any) -> list[str]:
        cells = [
            fmt_dt(getattr(a, when, None)),
            _display(a, "kind"),
            _display(a, "severity"),
            _display(a, "status"),
            _person(getattr(a, "user", None)),
            summary(a),
        ]
        if ctx.multi:
            cells.insert(1, slugs.get(a.tenant_id, ""))
        return cells

    def csv_row(a: Any) -> list[Any]:
        return [
            slugs.get(a.tenant_id, ""),
            a.pk,
            iso(getattr(a, when, None)),
            getattr(a, "kind", ""),
            getattr(a, "severity", ""),
            getattr(a, "status", ""),
            _person(getattr(a, "user", None)),
            summary(a),
        ]

    figures: list[tuple[Any, str]] = [(gettext_lazy("Alerts"), fmt_int(count))]
    for value, n in sorted(by_severity.items()):
        figures.append((_("Severity: %(level)s") % {"level": value}, fmt_int(n)))
    for value, n in sorted(by_status.items()):
        figures.append((_("Status: %(status)s") % {"status": value}, fmt_int(n)))
    return ReportData(
        title=_("Anomaly summary"),
        columns=columns,
        count=count,
        records=lambda: _batched(ctx, Alert, q, related),
        pdf_row=pdf_row,
        csv_header=["tenant", "alert_id", "at", "kind", "severity", "status", "person", "summary"],
        csv_row=csv_row,
        figures=figures,
    )


register(
    ReportKind(
        key="anomalies",
        label=gettext_lazy("Anomaly summary"),
        description=gettext_lazy("Anomaly alerts of the period by severity and triage state."),
        build=anomalies_build,
        needs_period=True,
        available=lambda: _alert_model() is not None,
        order=40,
    )
)


# --- campaign results -----------------------------------------------------------------------


def _campaign_models() -> tuple[Any, Any] | None:
    campaign = find_model("Campaign", "CertificationCampaign")
    item = find_model("ReviewItem")
    if campaign is None or item is None:
        return None
    return campaign, item


def campaign_choices(ctx: BuildContext) -> list[tuple[int, str]]:
    models = _campaign_models()
    if models is None:
        return []
    Campaign, _item = models
    with ctx.reading():
        return [
            (c.pk, str(c))
            for c in Campaign.objects.filter(tenant_id__in=ctx.tenant_ids).order_by("-pk")[:200]
        ]


def campaigns_build(ctx: BuildContext) -> ReportData:
    models = _campaign_models()
    assert models is not None
    Campaign, Item = models
    try:
        campaign_id = int(ctx.parameters.get("campaign_id") or 0)
    except (TypeError, ValueError):
        campaign_id = 0
    with ctx.reading():
        campaign = Campaign.objects.filter(pk=campaign_id, tenant_id__in=ctx.tenant_ids).first()
    if campaign is None:
        raise DomainError(_("No such campaign."), code="not_found")
    q = Q(campaign_id=campaign.pk, tenant_id__in=ctx.tenant_ids)
    related = tuple(n for n in ("reviewer", "customer_reviewer") if has_field(Item, n))
    with ctx.reading():
        count = Item.objects.filter(q).count()
        by_outcome = dict(
            Item.objects.filter(q).values_list("outcome").annotate(n=Count("id")).order_by()
        )
        comments: dict[int, str] = {}
        decision_model: Any = find_model("ReviewDecision")
        if decision_model is not None and has_field(decision_model, "comment"):
            comments = dict(
                decision_model.objects.filter(campaign_id=campaign.pk)
                .exclude(comment="")
                .order_by("pk")
                .values_list("item_id", "comment")
            )
    columns = [
        Column("id", "#", 7, "right"),
        Column("holder", gettext_lazy("Holder"), 24),
        Column("access", gettext_lazy("Access"), 30),
        Column("risk", gettext_lazy("Risk"), 9),
        Column("reviewer", gettext_lazy("Reviewer"), 22),
        Column("decision", gettext_lazy("Decision"), 16),
        Column("outcome", gettext_lazy("Outcome"), 12),
        Column("decided", gettext_lazy("Decided"), 20),
        Column("comment", gettext_lazy("Comment"), 24),
    ]

    def decisions(i: Any) -> str:
        values = [_display(i, "reviewer_decision"), _display(i, "customer_decision")]
        return " / ".join(v for v in values if v)

    def pdf_row(i: Any) -> list[str]:
        return [
            str(i.pk),
            str(getattr(i, "subject_label", "")),
            str(getattr(i, "target_label", "")),
            str(getattr(i, "risk", "")),
            _person(getattr(i, "reviewer", None)),
            decisions(i),
            _display(i, "outcome"),
            fmt_dt(getattr(i, "decided_at", None)),
            comments.get(i.pk, ""),
        ]

    def csv_row(i: Any) -> list[Any]:
        return [
            i.pk,
            getattr(i, "grant_id", ""),
            getattr(i, "subject_label", ""),
            getattr(i, "target_label", ""),
            getattr(i, "risk", ""),
            _person(getattr(i, "reviewer", None)),
            getattr(i, "reviewer_decision", ""),
            _person(getattr(i, "customer_reviewer", None)),
            getattr(i, "customer_decision", ""),
            getattr(i, "outcome", ""),
            iso(getattr(i, "decided_at", None)),
            comments.get(i.pk, ""),
        ]

    figures: list[tuple[Any, str]] = [(gettext_lazy("Review items"), fmt_int(count))]
    for value, n in sorted(by_outcome.items()):
        figures.append((_("Outcome: %(outcome)s") % {"outcome": value}, fmt_int(n)))
    return ReportData(
        title=_("Campaign results"),
        columns=columns,
        count=count,
        records=lambda: _batched(ctx, Item, q, related),
        pdf_row=pdf_row,
        csv_header=[
            "item_id",
            "grant_id",
            "holder",
            "access",
            "risk",
            "reviewer",
            "reviewer_decision",
            "customer_reviewer",
            "customer_decision",
            "outcome",
            "decided_at",
            "comment",
        ],
        csv_row=csv_row,
        facts=[(gettext_lazy("Campaign"), str(campaign))],
        figures=figures,
    )


register(
    ReportKind(
        key="campaign_results",
        label=gettext_lazy("Campaign results"),
        description=gettext_lazy("Every review item of a certification campaign and its decision."),
        build=campaigns_build,
        scopes=frozenset({"tenant", "portfolio"}),
        available=lambda: _campaign_models() is not None,
        order=50,
    )
)
