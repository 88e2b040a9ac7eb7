from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.certification.analytics.models import AnalyticsSettings
from apps.certification.analytics.services.alerts import TriageAction
from apps.certification.analytics.services.settings import EDITABLE


class TriageForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            (TriageAction.INVESTIGATE, _("Start investigating")),
            (TriageAction.DISMISS, _("Dismiss")),
            (TriageAction.ESCALATE, _("Escalate to incident")),
            (TriageAction.REOPEN, _("Reopen")),
        ],
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AcceptForm(forms.Form):
    key = forms.SlugField(label=_("Role key"), max_length=100)
    name = forms.CharField(label=_("Role name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class SettingsForm(forms.ModelForm):
    class Meta:
        model = AnalyticsSettings
        fields = list(EDITABLE)
        widgets = {
            "business_start": forms.TimeInput(attrs={"type": "time"}),
            "business_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def clean_business_days(self) -> str:
        value = "".join(sorted(set(self.cleaned_data["business_days"])))
        if not value or any(c not in "0123456" for c in value):
            raise forms.ValidationError(_("Use weekday digits 0-6 (Monday = 0)."))
        return value

    def clean(self) -> dict:  # type: ignore[type-arg]
        data = super().clean() or {}
        start, end = data.get("business_start"), data.get("business_end")
        if start and end and start >= end:
            raise forms.ValidationError(_("Business hours must end after they start."))
        return data
