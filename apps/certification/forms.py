"""Forms of the certification pages: input parsing only; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.certification.models import (
    AutoDecision,
    Decision,
    EffectTiming,
    JointMode,
    Recurrence,
    ReviewerPolicy,
    ScopeKind,
)

CREATABLE_SCOPES = [c for c in ScopeKind.choices if c[0] != ScopeKind.GRANT_SET]


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_full_name()} <{obj.email}>"


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    scope_kind = forms.ChoiceField(label=_("Scope"), choices=CREATABLE_SCOPES)
    scope_environment: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Environment (for the environment scope)"), queryset=None, required=False
    )
    scope_role: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Role (for the role scope)"), queryset=None, required=False
    )
    reviewer_policy = forms.ChoiceField(label=_("Reviewers"), choices=ReviewerPolicy.choices)
    default_reviewer = UserChoiceField(
        label=_("Internal reviewer"),
        queryset=None,
        required=False,
        help_text=_(
            "Reviews every item under the internal-reviewer policy, else the items "
            "without an owner or manager."
        ),
    )
    fallback_reviewer = UserChoiceField(
        label=_("Fallback reviewer"),
        queryset=None,
        required=False,
        help_text=_("Gets late reviewers' open items before the due date."),
    )
    customer_reviewer = UserChoiceField(
        label=_("Customer representative"), queryset=None, required=False
    )
    co_managed_environments: forms.ModelMultipleChoiceField[Any] = forms.ModelMultipleChoiceField(
        label=_("Co-managed environments"),
        queryset=None,
        required=False,
        help_text=_("The customer representative reviews these; none chosen means all."),
    )
    joint_mode = forms.ChoiceField(label=_("Joint decision"), choices=JointMode.choices)
    recurrence = forms.ChoiceField(label=_("Schedule"), choices=Recurrence.choices)
    effect_timing = forms.ChoiceField(
        label=_("Revocations take effect"), choices=EffectTiming.choices
    )
    auto_decision = forms.ChoiceField(
        label=_("Unreviewed items at close"), choices=AutoDecision.choices
    )
    due_at = forms.DateTimeField(
        label=_("Due"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(
        self, *args: Any, environments: Any, roles: Any, members: Any, reviewers: Any, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scope_environment"].queryset = environments  # type: ignore[attr-defined]
        self.fields["co_managed_environments"].queryset = environments  # type: ignore[attr-defined]
        self.fields["scope_role"].queryset = roles  # type: ignore[attr-defined]
        self.fields["default_reviewer"].queryset = reviewers  # type: ignore[attr-defined]
        self.fields["fallback_reviewer"].queryset = reviewers  # type: ignore[attr-defined]
        self.fields["customer_reviewer"].queryset = members  # type: ignore[attr-defined]

    def clean_due_at(self) -> Any:
        value = self.cleaned_data["due_at"]
        if value <= timezone.now():
            raise forms.ValidationError(_("The due date must be in the future."))
        return value


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[c for c in Decision.choices if c[0] != Decision.FLAG])
    comment = forms.CharField(max_length=2000, required=False)
    reduce_to = forms.IntegerField(required=False, min_value=1)
    delegate_to = forms.EmailField(required=False)


class BulkForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            (Decision.CERTIFY, _("Certify")),
            (Decision.REVOKE, _("Revoke")),
            (Decision.DELEGATE, _("Delegate")),
        ],
    )
    comment = forms.CharField(label=_("Comment"), max_length=2000, required=False)
    delegate_to = forms.EmailField(label=_("Delegate to (email)"), required=False)
    ids = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())
    all_matching = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any id is accepted here: the service decides only the actor's own items.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]


class SignOffForm(forms.Form):
    note = forms.CharField(
        label=_("Sign-off note"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
