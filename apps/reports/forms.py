"""Forms of the report pages: they parse input; the services validate and decide."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.reports.kinds import kinds_available
from apps.reports.models import ReportFormat, ReportScope, ScheduleFrequency

PERIOD_CHOICES = [
    ("month", _("A month")),
    ("quarter", _("A quarter")),
    ("custom", _("From … to …")),
]
STATE_CHOICES = [
    ("current", _("Current grants")),
    ("ended", _("Ended grants")),
    ("all", _("All grants")),
]


class ReportRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Report"))
    file_format = forms.ChoiceField(label=_("Format"), choices=ReportFormat.choices)
    scope = forms.ChoiceField(label=_("Covering"), choices=ReportScope.choices[:2])
    state = forms.ChoiceField(
        label=_("Grants (inventory)"), choices=STATE_CHOICES, required=False, initial="current"
    )
    period = forms.ChoiceField(
        label=_("Period"), choices=PERIOD_CHOICES, required=False, initial="month"
    )
    start = forms.DateField(
        label=_("Period starts (the month or quarter containing this day)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = forms.DateField(
        label=_("Period ends (for a date range)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    campaign_id = forms.TypedChoiceField(
        label=_("Campaign (campaign results)"), coerce=int, required=False, empty_value=None
    )

    def __init__(
        self,
        *args: Any,
        scope_choices: list[tuple[str, Any]] | None = None,
        kind_scope: str = "tenant",
        campaigns: list[tuple[int, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = [
            (k.key, k.label) for k in kinds_available(kind_scope)
        ]
        if scope_choices is not None:
            cast(forms.ChoiceField, self.fields["scope"]).choices = scope_choices
        if campaigns:
            cast(forms.ChoiceField, self.fields["campaign_id"]).choices = [(0, "—"), *campaigns]
        else:
            del self.fields["campaign_id"]
        today = timezone.localdate()
        self.fields["start"].initial = today.replace(day=1)

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        params: dict[str, Any] = {"state": data.get("state") or "current"}
        params["period"] = data.get("period") or "month"
        if data.get("start"):
            params["start"] = data["start"].isoformat()
        if data.get("end"):
            params["end"] = data["end"].isoformat()
        if data.get("campaign_id"):
            params["campaign_id"] = data["campaign_id"]
        return params


class StaffReportRequestForm(ReportRequestForm):
    tenant = forms.ChoiceField(label=_("Tenant"), required=False)

    def __init__(self, *args: Any, tenants: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(
            *args,
            kind_scope="platform",
            scope_choices=[("platform", ReportScope.PLATFORM.label)],
            **kwargs,
        )
        cast(forms.ChoiceField, self.fields["tenant"]).choices = [("", _("All tenants")), *tenants]
        del self.fields["scope"]
        self.order_fields(["tenant", "kind"])


class ReportScheduleForm(forms.Form):
    kind = forms.ChoiceField(label=_("Report"))
    frequency = forms.ChoiceField(label=_("Frequency"), choices=ScheduleFrequency.choices)
    file_format = forms.ChoiceField(label=_("Format"), choices=ReportFormat.choices)
    scope = forms.ChoiceField(label=_("Covering"), choices=ReportScope.choices[:2])

    def __init__(
        self, *args: Any, scope_choices: list[tuple[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = [
            (k.key, k.label) for k in kinds_available("tenant") if k.key != "campaign_results"
        ]
        if scope_choices is not None:
            cast(forms.ChoiceField, self.fields["scope"]).choices = scope_choices
