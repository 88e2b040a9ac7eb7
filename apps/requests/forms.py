"""Forms of the request pages. They parse input only; the services decide."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.requests.models import DecisionKind, ReviewOutcome


class RequestForm(forms.Form):
    entitlement = forms.IntegerField(required=False, widget=forms.HiddenInput)
    role = forms.IntegerField(required=False, widget=forms.HiddenInput)
    extends = forms.IntegerField(required=False, widget=forms.HiddenInput)
    duration_hours = forms.IntegerField(
        label=_("Duration (hours)"), min_value=1, max_value=24 * 366, initial=8
    )
    justification = forms.CharField(
        label=_("Business justification"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        help_text=_("What you will do, on what, and why now. High-risk items need detail."),
    )
    ticket_ref = forms.CharField(label=_("Ticket reference"), max_length=100, required=False)
    ticket_bound = forms.BooleanField(
        label=_("End the access when the ticket closes"), required=False
    )
    start_after = forms.DateTimeField(
        label=_("Start no earlier than"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Optional: a maintenance window. The duration counts from here."),
    )
    start_before = forms.DateTimeField(
        label=_("Start no later than"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    on_behalf_of = forms.TypedChoiceField(
        label=_("For"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, team: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if team:
            field = self.fields["on_behalf_of"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", _("Myself")), *((u.pk, str(u)) for u in team)]
        else:
            del self.fields["on_behalf_of"]

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=self.cleaned_data["duration_hours"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("entitlement") and not data.get("role"):
            raise forms.ValidationError(_("Choose an item from the catalog."))
        if data.get("ticket_bound") and not data.get("ticket_ref"):
            self.add_error("ticket_ref", _("A ticket reference is needed to bind the access."))
        return data


class VendorRequestForm(forms.Form):
    tenant = forms.SlugField(label=_("Customer tenant"), max_length=50)
    entitlement = forms.IntegerField(label=_("Entitlement"))
    duration_hours = forms.IntegerField(
        label=_("Duration (hours)"), min_value=1, max_value=8, initial=2
    )
    ticket_ref = forms.CharField(label=_("Support ticket"), max_length=100)
    ticket_bound = forms.BooleanField(
        label=_("End the access when the ticket closes"), required=False, initial=True
    )
    justification = forms.CharField(
        label=_("Business justification"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )


class BreakGlassForm(forms.Form):
    tenant = forms.SlugField(label=_("Customer tenant"), max_length=50)
    entitlement = forms.IntegerField(label=_("Entitlement"))
    duration_hours = forms.IntegerField(
        label=_("Duration (hours)"), min_value=1, max_value=4, initial=1
    )
    ticket_ref = forms.CharField(label=_("Incident or ticket"), max_length=100, required=False)
    justification = forms.CharField(
        label=_("Why approval cannot wait"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
    )
    confirm = forms.BooleanField(
        label=_(
            "I bypass approval. Every skipped approver and the customer are told now, and this "
            "access will be reviewed within 24 hours."
        ),
        required=True,
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=DecisionKind.choices, widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=2000, required=False)
    duration_hours = forms.IntegerField(label=_("Shorten to (hours)"), min_value=1, required=False)
    entitlement = forms.IntegerField(label=_("Narrow to"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == DecisionKind.DENY and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Say why you deny the request."))
        return data


class BulkApproveForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int)
    reason = forms.CharField(max_length=2000, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        values = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        field = self.fields["ids"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(v, v) for v in values if str(v).isdigit()][:200]


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (ReviewOutcome.JUSTIFIED, _("Justified")),
            (ReviewOutcome.NOT_JUSTIFIED, _("Not justified")),
        ],
    )
    note = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class DelegateForm(forms.Form):
    delegate = forms.TypedChoiceField(label=_("Delegate"), coerce=int)
    starts_at = forms.DateTimeField(
        label=_("From"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=_("Until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, people: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["delegate"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(u.pk, f"{u} <{u.email}>") for u in people]
