"""Forms of the incident pages: input parsing only (the rules are in services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.access.models import RiskLevel
from apps.identity.models import User, UserKind
from apps.incidents.models import PolicyChangeKind, Severity, SubjectKind, TenantScope
from apps.incidents.services.notifications import LANGUAGES, jurisdiction_choices
from apps.incidents.services.restore import RestoreMode
from apps.tenants.models import Tenant


def _staff() -> Any:
    return User.objects.filter(kind=UserKind.STAFF, is_active=True).order_by("email")


class IncidentForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices)
    tenants = forms.ModelMultipleChoiceField(
        label=_("Affected tenants"),
        queryset=Tenant.objects.order_by("name"),
        to_field_name="slug",
    )
    scope = forms.ChoiceField(
        label=_("Scope in these tenants"), choices=TenantScope.choices, initial="selected"
    )
    detected_at = forms.DateTimeField(
        label=_("Became aware at"),
        required=False,
        help_text=_("Empty: now. Disclosure deadlines run from here."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    summary = forms.CharField(label=_("Internal summary"), widget=forms.Textarea, required=False)
    customer_summary = forms.CharField(
        label=_("Summary for customers"), widget=forms.Textarea, required=False
    )
    owners = forms.ModelMultipleChoiceField(
        label=_("Owners"), queryset=User.objects.none(), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owners"].queryset = _staff()  # type: ignore[attr-defined]


class SubjectForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(label=_("Kind"), choices=SubjectKind.choices)
    identifier = forms.CharField(
        label=_("Email, key prefix, client id or environment slug"), max_length=254
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class ScopeForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    scope = forms.ChoiceField(label=_("Scope"), choices=TenantScope.choices)


class TenantAddForm(forms.Form):
    tenant = forms.ModelChoiceField(
        label=_("Tenant"), queryset=Tenant.objects.order_by("name"), to_field_name="slug"
    )
    scope = forms.ChoiceField(label=_("Scope"), choices=TenantScope.choices)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}))


class StatusForm(forms.Form):
    status = forms.CharField(widget=forms.HiddenInput)


class PostmortemForm(forms.Form):
    root_cause = forms.CharField(label=_("Root cause"), widget=forms.Textarea(attrs={"rows": 4}))
    remediation = forms.CharField(label=_("Remediation"), widget=forms.Textarea(attrs={"rows": 4}))


class SuspendForm(forms.Form):
    fingerprint = forms.CharField(widget=forms.HiddenInput)
    isolate = forms.CharField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500)
    confirm_reference = forms.CharField(
        label=_("Type the incident reference to confirm"), max_length=20
    )


class RestoreForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    mode = forms.ChoiceField(
        label=_("How access comes back"),
        choices=[
            (RestoreMode.TIME_BOUND, _("Time-bound: ends at the time below")),
            (RestoreMode.REAPPROVED, _("Re-approved by the customer")),
        ],
    )
    expires_at = forms.DateTimeField(
        label=_("Ends at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    approval_ref = forms.CharField(label=_("Re-approval"), max_length=200, required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500)


class ReenableForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=500)


class ReviewForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    due_at = forms.DateTimeField(
        label=_("Review due"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class IsolationLiftForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=500)


class NotificationForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    jurisdiction = forms.ChoiceField(label=_("Jurisdiction"), choices=jurisdiction_choices)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("en", _("English")), ("de", _("German")), ("fr", _("French"))],
    )
    deadline_at = forms.DateTimeField(
        label=_("Deadline"),
        required=False,
        help_text=_("Empty: from the jurisdiction (e.g. 72 hours after becoming aware)."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    recipients = forms.CharField(
        label=_("Recipients"),
        required=False,
        help_text=_("Comma-separated; empty: the tenant's customer admins."),
    )

    def clean_language(self) -> str:
        value = str(self.cleaned_data["language"])
        if value not in LANGUAGES:
            raise forms.ValidationError(_("Unknown language."))
        return value


class NotificationSendForm(forms.Form):
    notification = forms.IntegerField(widget=forms.HiddenInput)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 12}))


class PolicyForm(forms.Form):
    tenant = forms.CharField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(label=_("Change"), choices=PolicyChangeKind.choices)
    finding = forms.CharField(label=_("Finding"), widget=forms.Textarea(attrs={"rows": 2}))
    risk_level = forms.ChoiceField(
        label=_("Risk level"), choices=[("", "—"), *RiskLevel.choices], required=False
    )
    max_hours = forms.IntegerField(label=_("Maximum duration (hours)"), min_value=1, required=False)


class SignoffForm(forms.Form):
    statement = forms.CharField(
        label=_("Sign-off statement"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("We accept the root cause and remediation, and agree to restoration."),
    )
