"""Portal forms of the directory page."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. Entra ID or Okta"))
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"),
        min_value=1,
        max_value=3650,
        required=False,
        help_text=_("Leave empty for a token that lives until it is rotated or revoked."),
    )


class TokenRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        label=_("Old token keeps working for (hours)"), min_value=0, max_value=336, initial=24
    )


class TokenRevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class SyncSettingsForm(forms.Form):
    sync_interval_minutes = forms.IntegerField(
        label=_("Sync interval (minutes)"), min_value=1, max_value=10080
    )
    staleness_days = forms.IntegerField(label=_("Staleness (days)"), min_value=1, max_value=3650)


class GroupMappingForm(forms.Form):
    group = forms.TypedChoiceField(label=_("Directory group"), coerce=int)
    role_key = forms.SlugField(label=_("Role key"), max_length=100)

    def __init__(
        self,
        *args: object,
        groups: list[tuple[int, str]] = (),  # type: ignore[assignment]
        roles: list[tuple[str, str]] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["group"].choices = list(groups)  # type: ignore[attr-defined]
        if roles:
            self.fields["role_key"] = forms.ChoiceField(label=_("Role"), choices=roles)
