"""Forms of the catalog pages. They parse input only; the services decide (and refuse)."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.access.models import (
    Entitlement,
    GrantSource,
    PermissionLevel,
    RiskLevel,
    Role,
    RoleTemplate,
    RuleEffect,
    SodMode,
)
from apps.tenants.models import Environment, Membership


def _empty(model: Any) -> Any:
    """An empty queryset at import time (the tenant-scoped managers refuse to run then); the
    real, tenant-scoped one is set in __init__."""
    return QuerySet(model).none()


class EntitlementForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=_empty(Environment), label=_("Environment"))
    level = forms.ChoiceField(choices=PermissionLevel.choices, label=_("Permission level"))
    risk = forms.ChoiceField(choices=RiskLevel.choices, label=_("Risk level"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Description")
    )

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.for_tenant(tenant)  # type: ignore[attr-defined]


class RoleFromTemplateForm(forms.Form):
    template = forms.ModelChoiceField(queryset=_empty(RoleTemplate), label=_("Template"))
    environments = forms.ModelMultipleChoiceField(
        queryset=_empty(Environment), label=_("Environments")
    )
    key = forms.SlugField(
        required=False, label=_("Key"), help_text=_("Defaults to the template's.")
    )
    name = forms.CharField(required=False, max_length=200, label=_("Name"))

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = RoleTemplate.objects.all()  # type: ignore[attr-defined]
        self.fields["environments"].queryset = Environment.objects.for_tenant(tenant)  # type: ignore[attr-defined]


class RoleBundleForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Description")
    )
    entitlements = forms.ModelMultipleChoiceField(
        queryset=_empty(Entitlement),
        required=False,
        label=_("Entitlements"),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entitlements"].queryset = (  # type: ignore[attr-defined]
            Entitlement.objects.for_tenant(tenant).select_related("environment")
        )


class PolicyRuleForm(forms.Form):
    key = forms.SlugField(label=_("Key"), help_text=_("Stable name; edits add a new version."))
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Description")
    )
    effect = forms.ChoiceField(choices=RuleEffect.choices, label=_("Effect"))
    conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "class": "code", "spellcheck": "false"}),
        label=_("Conditions (JSON)"),
        help_text=_("An object with “applies” (optional), “require” and “message” (optional)."),
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))

    def clean_conditions(self) -> Any:
        raw = self.cleaned_data["conditions"]
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("Not valid JSON: %(error)s") % {"error": str(exc)}
            ) from None


class SodRuleForm(forms.Form):
    key = forms.SlugField(label=_("Key"))
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Description")
    )
    mode = forms.ChoiceField(choices=SodMode.choices, label=_("Mode"))
    threshold = forms.IntegerField(min_value=2, max_value=20, initial=2, label=_("Threshold"))
    entitlements = forms.ModelMultipleChoiceField(
        queryset=_empty(Entitlement),
        required=False,
        label=_("Entitlements"),
        widget=forms.CheckboxSelectMultiple,
    )
    roles = forms.ModelMultipleChoiceField(
        queryset=_empty(Role),
        required=False,
        label=_("Roles"),
        widget=forms.CheckboxSelectMultiple,
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entitlements"].queryset = (  # type: ignore[attr-defined]
            Entitlement.objects.for_tenant(tenant).select_related("environment")
        )
        self.fields["roles"].queryset = Role.objects.for_tenant(tenant)  # type: ignore[attr-defined]


MANUAL_SOURCES = [
    (GrantSource.MANUAL, GrantSource.MANUAL.label),
    (GrantSource.BREAK_GLASS, GrantSource.BREAK_GLASS.label),
]


class GrantForm(forms.Form):
    user = forms.ModelChoiceField(queryset=_empty(get_user_model()), label=_("User"))
    entitlement = forms.ModelChoiceField(
        queryset=_empty(Entitlement), required=False, label=_("Entitlement")
    )
    role = forms.ModelChoiceField(queryset=_empty(Role), required=False, label=_("Role"))
    duration_hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 366,
        label=_("Duration (hours)"),
        help_text=_("Leave empty for standing access, where the policy allows it."),
    )
    source = forms.ChoiceField(choices=MANUAL_SOURCES, label=_("Source"))
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label=_("Justification")
    )
    ticket_ref = forms.CharField(required=False, max_length=100, label=_("Ticket reference"))

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = Membership.objects.for_tenant(tenant).filter(is_active=True)
        user_model = get_user_model()
        # Customer members of this tenant, and vendor staff (time-bound only, by policy).
        self.fields["user"].queryset = user_model.objects.filter(  # type: ignore[attr-defined]
            Q(pk__in=members.values("user_id")) | Q(kind="staff"), is_active=True
        ).order_by("email")
        self.fields["entitlement"].queryset = (  # type: ignore[attr-defined]
            Entitlement.objects.for_tenant(tenant).select_related("environment")
        )
        self.fields["role"].queryset = Role.objects.for_tenant(tenant)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("entitlement")) == bool(data.get("role")):
            raise forms.ValidationError(_("Choose either an entitlement or a role."))
        hours = data.get("duration_hours")
        data["duration"] = timedelta(hours=hours) if hours else None
        return data


class AttestationForm(forms.Form):
    """Record or renew a compliance attestation. The expiry is a date: the attestation holds
    until the end of that day in the reader's time zone."""

    user = forms.ModelChoiceField(queryset=_empty(get_user_model()), label=_("Person"))
    flag = forms.ChoiceField(choices=(), label=_("Compliance flag"))
    expires_on = forms.DateField(
        required=False,
        label=_("Valid until"),
        help_text=_("Last day the attestation counts. Leave empty when it does not expire."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    evidence = forms.CharField(
        required=False,
        max_length=500,
        label=_("Evidence"),
        help_text=_("Certificate number, training record or ticket reference."),
    )

    def __init__(
        self, *args: Any, users: QuerySet[Any], flags: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users  # type: ignore[attr-defined]
        self.fields["flag"].choices = flags  # type: ignore[attr-defined]

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(
            datetime.combine(day + timedelta(days=1), time.min), timezone.get_current_timezone()
        )


class AttestationRevokeForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
