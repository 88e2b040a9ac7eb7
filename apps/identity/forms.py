"""Sign-in, second-factor, preference and password forms (input parsing only; the rules live in
apps.identity.services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.utils.translation import gettext_lazy as _

from apps.identity import services
from apps.identity.models import User
from apps.tenants.models import TIME_ZONE_CHOICES


class LoginForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(
            attrs={
                "autocomplete": "username",
                "autofocus": True,
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SecondFactorForm(forms.Form):
    """A six-digit code from the authenticator app, or a backup code."""

    code = forms.CharField(
        label=_("Verification code"),
        max_length=32,
        help_text=_("The six-digit code from your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )


class TotpConfirmForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your app"),
        max_length=16,
        help_text=_("Enter the six-digit code your authenticator app shows for Custos."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
            }
        ),
    )


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Same as my browser")), *settings.LANGUAGES],
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=TIME_ZONE_CHOICES,
        widget=forms.Select(attrs={"autocomplete": "off"}),
    )


class ReasonForm(forms.Form):
    """Operators say why they change somebody's account (kept in the audit log)."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PasswordResetRequestForm(auth_forms.PasswordResetForm):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def save(self, *args: Any, **kwargs: Any) -> None:
        email = self.cleaned_data["email"]
        services.password_reset_requested_record(email=email, users=list(self.get_users(email)))
        super().save(*args, **kwargs)


class PasswordResetSetForm(auth_forms.SetPasswordForm):
    """New password from an emailed link: saved through the service (audited, sessions end,
    lockout lifted)."""

    def save(self, commit: bool = True) -> User:
        return services.user_password_set(
            actor=None,
            user=self.user,
            password=self.cleaned_data["new_password1"],
            via="reset",
        )


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    def save(self, commit: bool = True) -> User:
        return services.user_password_set(
            actor=self.user,
            user=self.user,
            password=self.cleaned_data["new_password1"],
            via="change",
        )
