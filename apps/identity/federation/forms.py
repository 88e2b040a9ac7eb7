"""Forms of the federation portal pages (parsing only; services decide)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.identity.federation.models import (
    ConnectionKind,
    ConnectionStatus,
    MappingTarget,
    MfaPolicy,
)


class ConnectionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=ConnectionKind.choices)
    status = forms.ChoiceField(label=_("Status"), choices=ConnectionStatus.choices)
    mfa_policy = forms.ChoiceField(label=_("MFA policy"), choices=MfaPolicy.choices)
    groups_attribute = forms.CharField(
        label=_("Groups attribute / claim"), max_length=200, initial="groups"
    )
    attribute_map = forms.CharField(
        label=_("Attribute mapping (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('e.g. {"email": "mail", "department": "dept", "cost_centre": "costCenter"}'),
    )
    # SAML
    metadata_url = forms.URLField(label=_("IdP metadata URL"), required=False)
    metadata_file = forms.FileField(label=_("IdP metadata file (XML)"), required=False)
    metadata_refresh_hours = forms.IntegerField(
        label=_("Refresh metadata every (hours)"), min_value=1, initial=24
    )
    allow_idp_initiated = forms.BooleanField(label=_("Allow IdP-initiated sign-in"), required=False)
    accept_encrypted = forms.BooleanField(
        label=_("Accept encrypted assertions"),
        required=False,
        initial=True,
        help_text=_("The IdP encrypts with this connection's SP certificate (in the SP metadata)."),
    )
    # OIDC
    issuer = forms.URLField(label=_("Issuer"), required=False)
    client_id = forms.CharField(label=_("Client id"), max_length=255, required=False)
    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current secret."),
    )
    scopes = forms.CharField(label=_("Scopes"), max_length=255, initial="openid email profile")

    def clean_attribute_map(self) -> dict[str, str]:
        raw = (self.cleaned_data.get("attribute_map") or "").strip()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("Enter valid JSON.")) from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise forms.ValidationError(_("Enter a JSON object of field names to attribute names."))
        return data


class DomainForm(forms.Form):
    domain = forms.CharField(label=_("Domain"), max_length=253)


class CertificateForm(forms.Form):
    pem = forms.CharField(label=_("Certificate (PEM)"), widget=forms.Textarea(attrs={"rows": 6}))


class RuleForm(forms.Form):
    attribute = forms.CharField(label=_("IdP attribute"), max_length=200, initial="groups")
    value = forms.CharField(label=_("Value"), max_length=500)
    target_kind = forms.ChoiceField(label=_("Maps to"), choices=MappingTarget.choices)
    target = forms.CharField(label=_("Target"), max_length=200)
    priority = forms.IntegerField(label=_("Priority"), min_value=0, initial=100)


class PreviewForm(forms.Form):
    assertion = forms.CharField(
        label=_("Sample attributes or claims (JSON)"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_('e.g. {"email": "pat@example.com", "groups": ["eng", "audit"]}'),
    )

    def clean_assertion(self) -> dict[str, Any]:
        try:
            data = json.loads(self.cleaned_data["assertion"])
        except ValueError as exc:
            raise forms.ValidationError(_("Enter valid JSON.")) from exc
        if not isinstance(data, dict):
            raise forms.ValidationError(_("Enter a JSON object."))
        return data
