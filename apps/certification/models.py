"""Certification campaigns: a campaign reviews a set of grants; each grant becomes a review item
with the context a reviewer needs captured when the campaign is generated (a snapshot: what the
reviewer saw is what the report shows); each decision is a row of its own.

Timers are columns (STYLE.md): `remind_at`, `escalate_at` and `close_at` of a campaign are
claimed by the beat sweeper (apps.certification.services.campaigns_sweep).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantOwnedModel


class ScopeKind(models.TextChoices):
    TENANT = "tenant", _("Every grant of the tenant")
    ENVIRONMENT = "environment", _("One environment")
    ROLE = "role", _("One role")
    HIGH_RISK = "high_risk", _("All high-risk grants")
    VENDOR_STAFF = "vendor_staff", _("All vendor-staff access")
    GRANT_SET = "grant_set", _("An explicit set of grants (incident)")


class ReviewerPolicy(models.TextChoices):
    RESOURCE_OWNER = "resource_owner", _("Resource owner")
    MANAGER = "manager", _("The holder's manager")
    INTERNAL = "internal", _("Internal reviewer")


class JointMode(models.TextChoices):
    BOTH = "both", _("Both must certify")
    EITHER = "either", _("Either may decide")


class Recurrence(models.TextChoices):
    ONCE = "once", _("One-off")
    QUARTERLY = "quarterly", _("Quarterly")
    YEARLY = "yearly", _("Yearly")


class EffectTiming(models.TextChoices):
    ON_DECISION = "on_decision", _("When the item is decided")
    AT_CLOSE = "at_close", _("When the campaign closes")


class AutoDecision(models.TextChoices):
    REVOKE = "revoke", _("Revoke unreviewed access")
    KEEP_FLAG = "keep_flag", _("Keep unreviewed access and flag it")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class Campaign(TenantOwnedModel):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus, default=CampaignStatus.DRAFT
    )
    origin = models.CharField(
        _("origin"),
        max_length=200,
        blank=True,
        help_text=_("Where the campaign came from (e.g. an incident reference)."),
    )
    scope_kind = models.CharField(_("scope"), max_length=20, choices=ScopeKind)
    scope_environment = models.ForeignKey(
        "tenants.Environment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("environment"),
    )
    scope_role = models.ForeignKey(
        "access.Role",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("role"),
    )
    scope_grant_ids = models.JSONField(_("grants"), default=list, blank=True)
    reviewer_policy = models.CharField(
        _("reviewers"),
        max_length=20,
        choices=ReviewerPolicy,
        default=ReviewerPolicy.RESOURCE_OWNER,
    )
    default_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("internal reviewer"),
        help_text=_(
            "Reviews every item under the internal-reviewer policy, and the items without an "
            "owner or manager under the other policies."
        ),
    )
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("fallback reviewer"),
        help_text=_("Gets the open items of late reviewers before the due date (escalation)."),
    )
    customer_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("customer representative"),
        help_text=_("Reviews the items of co-managed environments together with the reviewer."),
    )
    co_managed_environment_ids = models.JSONField(
        _("co-managed environments"),
        default=list,
        blank=True,
        help_text=_("Empty: every environment of the scope is co-managed."),
    )
    joint_mode = models.CharField(
        _("joint decision"), max_length=8, choices=JointMode, default=JointMode.BOTH
    )
    recurrence = models.CharField(
        _("schedule"), max_length=16, choices=Recurrence, default=Recurrence.ONCE
    )
    effect_timing = models.CharField(
        _("revocations take effect"),
        max_length=16,
        choices=EffectTiming,
        default=EffectTiming.ON_DECISION,
    )
    auto_decision = models.CharField(
        _("unreviewed items at close"),
        max_length=16,
        choices=AutoDecision,
        default=AutoDecision.KEEP_FLAG,
    )
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    due_at = models.DateTimeField(_("due"))
    launched_at = models.DateTimeField(_("launched"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("closed by"),
    )
    signed_off_at = models.DateTimeField(_("signed off"), null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("signed off by"),
    )
    sign_off_note = models.TextField(_("sign-off note"), blank=True)
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("previous campaign"),
    )
    items_total = models.PositiveIntegerField(_("items"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    # The sweeper's due columns (NULL once handled).
    launch_at = models.DateTimeField(null=True, blank=True, editable=False)
    remind_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalate_at = models.DateTimeField(null=True, blank=True, editable=False)
    close_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("certification campaign")
        verbose_name_plural = _("certification campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(scope_kind="environment") | Q(scope_environment__isnull=False),
                name="campaign_env_scope_has_env",
            ),
            models.CheckConstraint(
                condition=~Q(scope_kind="role") | Q(scope_role__isnull=False),
                name="campaign_role_scope_has_role",
            ),
        ]
        indexes = [
            models.Index(
                fields=["launch_at"],
                name="campaign_launch_due",
                condition=Q(launch_at__isnull=False),
            ),
            models.Index(
                fields=["remind_at"],
                name="campaign_remind_due",
                condition=Q(remind_at__isnull=False),
            ),
            models.Index(
                fields=["escalate_at"],
                name="campaign_escalate_due",
                condition=Q(escalate_at__isnull=False),
            ),
            models.Index(
                fields=["close_at"], name="campaign_close_due", condition=Q(close_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == CampaignStatus.ACTIVE

    @property
    def is_overdue(self) -> bool:
        return self.status == CampaignStatus.ACTIVE and self.due_at < timezone.now()


class Decision(models.TextChoices):
    CERTIFY = "certify", _("Certify")
    REVOKE = "revoke", _("Revoke")
    REDUCE = "reduce", _("Reduce")
    DELEGATE = "delegate", _("Delegate")
    FLAG = "flag", _("Keep and flag")


class Outcome(models.TextChoices):
    PENDING = "pending", _("Awaiting review")
    CERTIFIED = "certified", _("Certified")
    REVOKED = "revoked", _("Revoked")
    REDUCED = "reduced", _("Reduced")
    FLAGGED = "flagged", _("Kept, flagged (not reviewed)")


class EffectState(models.TextChoices):
    NONE = "", _("Nothing to do")
    WAITING = "waiting", _("Takes effect at close")
    DONE = "done", _("Done")
    FAILED = "failed", _("Refused")


class ReviewItem(TenantOwnedModel):
    """One grant under review, with the context captured at generation."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="items", verbose_name=_("campaign")
    )
    grant = models.ForeignKey(
        "access.Grant", on_delete=models.PROTECT, related_name="+", verbose_name=_("grant")
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    customer_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("customer representative"),
    )
    reviewer_decision = models.CharField(max_length=16, choices=Decision, blank=True)
    customer_decision = models.CharField(max_length=16, choices=Decision, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome, default=Outcome.PENDING
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    reduce_to = models.ForeignKey(
        "access.Entitlement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reduced to"),
    )
    effect = models.CharField(
        _("effect"), max_length=16, choices=EffectState, default=EffectState.NONE, blank=True
    )
    effect_note = models.TextField(_("effect note"), blank=True)
    replacement_grant = models.ForeignKey(
        "access.Grant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("replacement grant"),
    )
    # --- snapshot (what the reviewer sees on the row) ---
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("holder"),
    )
    subject_label = models.CharField(_("holder"), max_length=255)
    subject_kind = models.CharField(_("holder kind"), max_length=20)
    vendor_staff = models.BooleanField(_("vendor staff"), default=False)
    department = models.CharField(_("department"), max_length=100, blank=True)
    environment = models.ForeignKey(
        "tenants.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("environment"),
    )
    entitlement = models.ForeignKey(
        "access.Entitlement",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("entitlement"),
    )
    role = models.ForeignKey(
        "access.Role",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("role"),
    )
    target_label = models.CharField(_("access"), max_length=255)
    level = models.CharField(_("permission level"), max_length=16, blank=True)
    risk = models.CharField(_("risk"), max_length=16)
    source = models.CharField(_("obtained through"), max_length=20)
    approval_ref = models.CharField(_("approval"), max_length=100, blank=True)
    ticket_ref = models.CharField(_("ticket"), max_length=100, blank=True)
    justification = models.CharField(_("justification"), max_length=300, blank=True)
    granted_at = models.DateTimeField(_("granted"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    sod_findings = models.JSONField(_("SoD findings"), default=list, blank=True)
    has_sod = models.BooleanField(_("SoD finding"), default=False)
    peer_total = models.PositiveIntegerField(_("peers"), default=0)
    peer_holders = models.PositiveIntegerField(_("peers holding it"), default=0)

    class Meta:
        verbose_name = _("review item")
        verbose_name_plural = _("review items")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "grant"], name="review_item_grant_once"),
        ]
        indexes = [
            models.Index(fields=["campaign", "reviewer", "outcome"], name="review_item_reviewer"),
            models.Index(
                fields=["campaign", "customer_reviewer", "outcome"],
                name="review_item_customer",
                condition=Q(customer_reviewer__isnull=False),
            ),
            models.Index(fields=["campaign", "outcome"], name="review_item_outcome"),
            # A reviewer's open items (the default page and its count) without reading the
            # rows: these predicates are the reviewer page's "open for me".
            models.Index(
                fields=["campaign", "reviewer"],
                name="review_item_open_reviewer",
                condition=Q(outcome="pending", reviewer_decision=""),
            ),
            models.Index(
                fields=["campaign", "customer_reviewer"],
                name="review_item_open_customer",
                condition=Q(
                    outcome="pending", customer_decision="", customer_reviewer__isnull=False
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_label} → {self.target_label}"

    @property
    def is_pending(self) -> bool:
        return self.outcome == Outcome.PENDING

    def get_risk_label(self) -> str:
        from apps.access.models import RiskLevel

        return str(dict(RiskLevel.choices).get(self.risk, self.risk))

    def get_source_label(self) -> str:
        from apps.access.models import GrantSource

        return str(dict(GrantSource.choices).get(self.source, self.source))

    def can_act_for(self, user_id: int | None) -> bool:
        """May this person still decide the item (their side is open)?"""
        if self.outcome != Outcome.PENDING or user_id is None:
            return False
        return (self.reviewer_id == user_id and not self.reviewer_decision) or (
            self.customer_reviewer_id == user_id and not self.customer_decision
        )

    @property
    def peers_without(self) -> int:
        return max(self.peer_total - self.peer_holders, 0)


class ReviewDecision(TenantOwnedModel):
    """One decision by one reviewer on one item (history: a delegation, then the decision)."""

    item = models.ForeignKey(
        ReviewItem, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("item")
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", verbose_name=_("campaign")
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    side = models.CharField(
        _("as"),
        max_length=16,
        choices=[
            ("reviewer", _("Reviewer")),
            ("customer", _("Customer representative")),
            ("system", _("Automatic at close")),
        ],
    )
    decision = models.CharField(_("decision"), max_length=16, choices=Decision)
    comment = models.TextField(_("comment"), blank=True)
    reduce_to = models.ForeignKey(
        "access.Entitlement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reduced to"),
    )
    delegate_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("delegated to"),
    )
    decided_at = models.DateTimeField(_("decided"), default=timezone.now)

    class Meta:
        verbose_name = _("review decision")
        verbose_name_plural = _("review decisions")
        ordering = ["decided_at", "pk"]
        indexes = [models.Index(fields=["campaign", "decided_at"], name="review_decision_time")]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.decision}"
