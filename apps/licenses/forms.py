"""Forms of the licences portal pages (validation only; the services decide)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.licenses.models import SignupDecision
from apps.tenants.models import TenantRole


class OnboardForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    full_name = forms.CharField(label=_("Full name"), max_length=200, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices, initial=TenantRole.MEMBER)
    department = forms.CharField(label=_("Department"), max_length=100, required=False)
    title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    location = forms.CharField(
        label=_("Location"),
        max_length=100,
        required=False,
        help_text=_("Picks the location's licence pool, e.g. Berlin."),
    )
    products = forms.MultipleChoiceField(
        label=_("Licences"), required=False, widget=forms.CheckboxSelectMultiple
    )
    when_full = forms.ChoiceField(
        label=_("When a pool is full"),
        choices=[
            ("reject", _("Do not onboard")),
            ("wait", _("Onboard and put on the waiting list")),
        ],
        initial="reject",
    )

    def __init__(self, *args: Any, products: list[tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["products"].choices = products or []  # type: ignore[attr-defined]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_(
            "Columns: email, full_name, role, department, title, country, language, "
            "location, products (separated by ;)."
        ),
    )


class AllocateForm(forms.Form):
    email = forms.EmailField(label=_("Member's email address"))


class ReserveForm(forms.Form):
    seats = forms.IntegerField(label=_("Seats to draw"), min_value=1, max_value=10_000)


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(label=_("Capacity"), min_value=0, max_value=10_000_000)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (SignupDecision.APPROVED, _("Approve")),
            (SignupDecision.REJECTED, _("Reject")),
            (SignupDecision.MORE_INFO, _("Request more verification")),
        ]
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
