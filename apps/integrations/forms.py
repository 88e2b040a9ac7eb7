"""Portal forms of the integrations pages (validation only; the services decide)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from apps.integrations.scopes import SCOPE_CHOICES
from apps.integrations.services.webhooks import EVENT_TYPES


class _ContactFields(forms.Form):
    technical_contact_email = forms.EmailField(
        label=_("Technical contact (email)"),
        help_text=_("Told before the credential expires and about deprecated calls."),
    )
    contact_language = forms.ChoiceField(
        label=_("Contact language"), choices=settings.LANGUAGES, initial="en"
    )


class ApiKeyForm(_ContactFields):
    field_order = ("name", "scopes", "expires_in_days", "allowed_cidrs")
    name = forms.CharField(label=_("Name"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires in (days)"), min_value=1, max_value=397, initial=90
    )
    allowed_cidrs = forms.CharField(
        label=_("Allowed networks"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("IP addresses or CIDR ranges, one per line; empty allows any address."),
    )
    rate_limit_per_minute = forms.IntegerField(
        label=_("Requests per minute"), min_value=1, max_value=100_000, initial=600
    )
    rate_limit_burst = forms.IntegerField(
        label=_("Burst"), min_value=1, max_value=10_000, initial=100
    )


class RotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        label=_("Old key keeps working for (hours)"), min_value=0, max_value=336, initial=24
    )


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class OAuthClientForm(_ContactFields):
    field_order = ("name", "scopes", "public_key_pem", "jwks_url", "token_lifetime_seconds")
    name = forms.CharField(label=_("Name"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("Allowed scopes"), choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    public_key_pem = forms.CharField(
        label=_("Public key (PEM)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=_("RSA (2048 bits or more), EC P-256 or Ed25519. Or give a JWKS URL."),
    )
    jwks_url = forms.URLField(
        label=_("JWKS URL"),
        required=False,
        assume_scheme="https",
        help_text=_("https:// URL serving your public keys; new keys are picked up by kid."),
    )
    token_lifetime_seconds = forms.IntegerField(
        label=_("Access token lifetime (seconds)"), min_value=60, max_value=3600, initial=600
    )
    allowed_cidrs = forms.CharField(
        label=_("Allowed networks"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if bool(data.get("public_key_pem", "").strip()) == bool(data.get("jwks_url")):
            raise forms.ValidationError(_("Give either a public key or a JWKS URL."))
        return data


class WebhookForm(forms.Form):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[
            (name, format_lazy("{} — {}", name, label)) for name, label in EVENT_TYPES.items()
        ],
        widget=forms.CheckboxSelectMultiple,
    )


class OffboardForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("Recorded in the audit log, e.g. the HR ticket of the departure."),
    )
    confirm = forms.BooleanField(
        label=_("I understand this disables the account and revokes everything it holds."),
    )
