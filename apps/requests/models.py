"""Access requests, approval chains, delegates, routing and pre-approval policies, ticket
bindings and in-portal notifications.

Timers are columns (STYLE.md, "Timers are data"): `AccessRequest.expires_unanswered_at`,
`activate_at`, `ends_at`, `review_due_at`; `ApprovalStep.due_at` and `remind_at`;
`Notification.email_due_at`. The beat sweeper claims due rows with a conditional UPDATE.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.crypto import EncryptedTextField
from apps.core.models import TenantOwnedModel, TimeStampedModel


class RequestKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer user")
    VENDOR = "vendor", _("Vendor staff")
    BREAK_GLASS = "break_glass", _("Break-glass")


class RequestStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")


OPEN_STATUSES = (RequestStatus.SUBMITTED, RequestStatus.PENDING)
LIVE_STATUSES = (RequestStatus.APPROVED, RequestStatus.ACTIVE)
FINAL_STATUSES = (
    RequestStatus.DENIED,
    RequestStatus.EXPIRED,
    RequestStatus.CANCELLED,
    RequestStatus.ENDED,
)


class ReviewOutcome(models.TextChoices):
    NONE = "", _("Not reviewed")
    JUSTIFIED = "justified", _("Justified")
    NOT_JUSTIFIED = "not_justified", _("Not justified")


class AccessRequest(TenantOwnedModel, TimeStampedModel):
    """One person asking for one entitlement or role in one tenant, for a bounded time."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="access_requests",
        verbose_name=_("requester"),
    )
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("on behalf of"),
        help_text=_("The team member who gets the access, when a manager asks for them."),
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=RequestKind, default=RequestKind.CUSTOMER
    )
    entitlement = models.ForeignKey(
        "access.Entitlement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("entitlement"),
    )
    original_entitlement = models.ForeignKey(
        "access.Entitlement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested entitlement"),
        help_text=_("Set when an approver narrowed the scope to a lower level."),
    )
    role = models.ForeignKey(
        "access.Role",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("role"),
    )
    risk = models.CharField(_("risk"), max_length=10, default="low")
    duration = models.DurationField(_("duration"))
    requested_duration = models.DurationField(_("requested duration"))
    start_after = models.DateTimeField(_("start window opens"), null=True, blank=True)
    start_before = models.DateTimeField(_("start window closes"), null=True, blank=True)
    justification = models.TextField(_("business justification"))
    ticket_ref = models.CharField(_("ticket reference"), max_length=100, blank=True)
    ticket_bound = models.BooleanField(
        _("ends when the ticket closes"),
        default=False,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=RequestStatus, default=RequestStatus.SUBMITTED
    )
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    first_decision_at = models.DateTimeField(_("first decision"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    sla_due_at = models.DateTimeField(_("first decision due"), null=True, blank=True)
    granted_at = models.DateTimeField(_("granted"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=200, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    escalations = models.PositiveIntegerField(_("escalations"), default=0)
    # Due columns claimed by the sweeper (NULL once handled).
    expires_unanswered_at = models.DateTimeField(_("expires unanswered at"), null=True, blank=True)
    activate_at = models.DateTimeField(_("activates at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("access ends at"), null=True, blank=True)
    # The approved window's planned end (kept after the request ends; `ends_at` is the timer).
    access_until = models.DateTimeField(_("approved until"), null=True, blank=True)
    review_due_at = models.DateTimeField(_("post-hoc review due"), null=True, blank=True)
    review_escalated_at = models.DateTimeField(_("review escalated"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    review_outcome = models.CharField(
        _("review outcome"), max_length=20, choices=ReviewOutcome, blank=True, default=""
    )
    review_note = models.TextField(_("review note"), blank=True)
    grant = models.ForeignKey(
        "access.Grant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("grant"),
    )
    extends = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("extends"),
    )
    reused_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reuses the approval of"),
    )
    pre_approval = models.ForeignKey(
        "requests.PreApproval",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("pre-approved by policy"),
    )

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(entitlement__isnull=False) & Q(role__isnull=True))
                | (Q(entitlement__isnull=True) & Q(role__isnull=False)),
                name="accessrequest_one_target",
            ),
            models.CheckConstraint(
                condition=Q(duration__gt=timedelta(0)), name="accessrequest_positive_duration"
            ),
            models.CheckConstraint(
                condition=Q(start_before__isnull=True)
                | Q(start_after__isnull=True)
                | Q(start_before__gt=models.F("start_after")),
                name="accessrequest_window_order",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "requester", "-submitted_at"], name="ar_requester"),
            models.Index(fields=["tenant", "status"], name="ar_status"),
            models.Index(
                fields=["expires_unanswered_at"],
                name="ar_unanswered_due",
                condition=Q(expires_unanswered_at__isnull=False),
            ),
            models.Index(
                fields=["activate_at"],
                name="ar_activate_due",
                condition=Q(activate_at__isnull=False),
            ),
            models.Index(
                fields=["ends_at"], name="ar_ends_due", condition=Q(ends_at__isnull=False)
            ),
            models.Index(
                fields=["review_due_at"],
                name="ar_review_due",
                condition=Q(review_due_at__isnull=False),
            ),
            models.Index(fields=["tenant", "ticket_ref"], name="ar_ticket"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.target_label}"

    @property
    def beneficiary(self) -> Any:
        return self.on_behalf_of or self.requester

    @property
    def beneficiary_id(self) -> int:
        return self.on_behalf_of_id or self.requester_id  # type: ignore[return-value]

    @property
    def target(self) -> Any:
        return self.entitlement if self.entitlement_id else self.role

    @property
    def target_label(self) -> str:
        target = self.target
        return str(target) if target is not None else ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def is_break_glass(self) -> bool:
        return self.kind == RequestKind.BREAK_GLASS

    @property
    def needs_review(self) -> bool:
        return self.is_break_glass and self.reviewed_at is None


class StepAudience(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    VENDOR = "vendor", _("Vendor")


class StepState(models.TextChoices):
    WAITING = "waiting", _("Waiting for an earlier step")
    OPEN = "open", _("Awaiting decision")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")


class ApprovalStep(TenantOwnedModel):
    """One stage of a request's approval chain. Steps with the same `order` run in parallel;
    a higher order opens when every lower one is approved. `label` is what the requester sees
    ("Customer approver", "Security team"), never the approvers' internal organisation."""

    request = models.ForeignKey(
        AccessRequest, on_delete=models.CASCADE, related_name="steps", verbose_name=_("request")
    )
    order = models.PositiveSmallIntegerField(_("order"), default=1)
    label = models.CharField(_("shown to the requester as"), max_length=100)
    audience = models.CharField(
        _("decided by"), max_length=10, choices=StepAudience, default=StepAudience.CUSTOMER
    )
    quorum = models.PositiveSmallIntegerField(_("approvals needed"), default=1)
    approvals = models.PositiveSmallIntegerField(_("approvals so far"), default=0)
    state = models.CharField(
        _("state"), max_length=10, choices=StepState, default=StepState.WAITING
    )
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    sla = models.DurationField(_("SLA"), default=timedelta(hours=24))
    due_at = models.DateTimeField(_("escalates at"), null=True, blank=True)
    remind_at = models.DateTimeField(_("reminder at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("escalated to"),
    )
    allow_narrowing = models.BooleanField(_("may shorten or narrow"), default=True)

    class Meta:
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        ordering = ["request_id", "order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quorum__gte=1), name="approvalstep_quorum_min"),
        ]
        indexes = [
            models.Index(fields=["due_at"], name="step_due", condition=Q(due_at__isnull=False)),
            models.Index(
                fields=["remind_at"], name="step_remind", condition=Q(remind_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_state_display()})"


class AssignmentVia(models.TextChoices):
    OWNER = "owner", _("Resource owner")
    ROLE = "role", _("Tenant role")
    USER = "user", _("Named approver")
    DELEGATE = "delegate", _("Delegate")
    STAFF = "staff", _("Vendor role")
    FALLBACK = "fallback", _("Fallback approver")


class ApprovalAssignment(TenantOwnedModel):
    """Who may decide a step. `active` is what the inbox reads: true while the step is open
    and the step was not escalated away from this person."""

    step = models.ForeignKey(
        ApprovalStep, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("step")
    )
    # Denormalised so the inbox needs one index range and no join to filter.
    request = models.ForeignKey(
        AccessRequest, on_delete=models.CASCADE, related_name="+", verbose_name=_("request")
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("approver"),
    )
    via = models.CharField(_("via"), max_length=10, choices=AssignmentVia)
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("deputising for"),
    )
    active = models.BooleanField(_("actionable"), default=False)
    withdrawn_reason = models.CharField(_("withdrawn because"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("approval assignment")
        verbose_name_plural = _("approval assignments")
        constraints = [
            models.UniqueConstraint(fields=["step", "approver"], name="assignment_unique"),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "approver", "-id"],
                name="assignment_inbox",
                condition=Q(active=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver} → {self.step}"


class DecisionKind(models.TextChoices):
    APPROVE = "approve", _("Approve")
    DENY = "deny", _("Deny")


class ApprovalDecision(TenantOwnedModel):
    step = models.ForeignKey(
        ApprovalStep, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("step")
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approver"),
    )
    decision = models.CharField(_("decision"), max_length=10, choices=DecisionKind)
    reason = models.TextField(_("reason"), blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    via_link = models.BooleanField(_("from the email link"), default=False)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("approval decision")
        verbose_name_plural = _("approval decisions")
        ordering = ["at", "id"]
        constraints = [
            # A double click or a replayed link cannot decide twice.
            models.UniqueConstraint(fields=["step", "approver"], name="decision_once_per_step"),
        ]

    def __str__(self) -> str:
        return f"{self.approver}: {self.get_decision_display()}"


class Delegate(TenantOwnedModel, TimeStampedModel):
    """Out-of-office delegation: between `starts_at` and `ends_at`, `delegate` receives the
    approvals routed to `delegator` (who can still act too)."""

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("approver"),
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("delegate"),
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("delegate")
        verbose_name_plural = _("delegates")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="delegate_range_order"
            ),
            models.CheckConstraint(
                condition=~Q(delegate=models.F("delegator")), name="delegate_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delegator} → {self.delegate}"


class RoutingPolicy(TenantOwnedModel, TimeStampedModel):
    """How a tenant routes requests of one kind and risk level. `steps` is a list of
    {"label", "approvers": ["owner" | "role:<tenant role>" | "user:<email>" |
    "staff:<staff role>"], "quorum", "order", "audience"}; see docs/requests.md."""

    kind = models.CharField(
        _("request kind"), max_length=20, choices=RequestKind, default=RequestKind.CUSTOMER
    )
    risk = models.CharField(_("risk"), max_length=10)
    steps = models.JSONField(_("steps"), default=list)
    sla = models.DurationField(_("SLA per step"), default=timedelta(hours=24))
    remind_before = models.DurationField(_("remind before the SLA"), default=timedelta(hours=4))
    fallback_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("fallback approver"),
    )
    unanswered_expiry = models.DurationField(
        _("unanswered requests expire after"), default=timedelta(days=7)
    )
    show_approver_names = models.BooleanField(_("requesters see approvers' names"), default=False)

    class Meta:
        verbose_name = _("routing policy")
        verbose_name_plural = _("routing policies")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "risk"], name="routing_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.risk}"


class PreApprovalCondition(models.TextChoices):
    ALWAYS = "always", _("Always")
    SEV1_TICKET = "sev1_ticket", _("While a severity-1 ticket is open")


class PreApproval(TenantOwnedModel, TimeStampedModel):
    """A customer pre-approves a class of requests (e.g. read-only vendor access while a
    severity-1 ticket is open): matching requests skip the customer step."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("request kind"), max_length=20, choices=RequestKind, default=RequestKind.VENDOR
    )
    max_level = models.CharField(_("highest permission level"), max_length=10, default="read")
    max_risk = models.CharField(_("highest risk"), max_length=10, default="low")
    environment = models.ForeignKey(
        "tenants.Environment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("environment"),
        help_text=_("Empty: any environment."),
    )
    max_duration = models.DurationField(_("longest duration"), default=timedelta(hours=4))
    condition = models.CharField(
        _("condition"),
        max_length=20,
        choices=PreApprovalCondition,
        default=PreApprovalCondition.SEV1_TICKET,
    )
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("pre-approval")
        verbose_name_plural = _("pre-approvals")

    def __str__(self) -> str:
        return self.name


class TicketStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class TicketBinding(TenantOwnedModel, TimeStampedModel):
    """A ticket in the customer's or vendor's ticketing system, as its webhook reports it.
    Requests with `ticket_bound` and this `ticket_ref` end when it closes."""

    system = models.CharField(_("ticketing system"), max_length=50, default="default")
    ticket_ref = models.CharField(_("ticket reference"), max_length=100)
    status = models.CharField(
        _("status"), max_length=10, choices=TicketStatus, default=TicketStatus.OPEN
    )
    severity = models.CharField(_("severity"), max_length=20, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    last_event_at = models.DateTimeField(_("last event"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("ticket binding")
        verbose_name_plural = _("ticket bindings")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ticket_ref"], name="ticket_unique"),
        ]

    def __str__(self) -> str:
        return self.ticket_ref


class TicketWebhookSecret(TenantOwnedModel, TimeStampedModel):
    """The shared secret the tenant's ticketing system signs its webhooks with (HMAC-SHA256)."""

    secret = EncryptedTextField(_("signing secret"))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("ticket webhook secret")
        verbose_name_plural = _("ticket webhook secrets")

    def __str__(self) -> str:
        return f"ticket webhook secret #{self.pk}"


class TicketWebhookDelivery(TenantOwnedModel):
    """Delivery ids already accepted: a replayed webhook is refused."""

    delivery_id = models.CharField(_("delivery id"), max_length=100)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("ticket webhook delivery")
        verbose_name_plural = _("ticket webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "delivery_id"], name="ticket_delivery_once"),
        ]

    def __str__(self) -> str:
        return self.delivery_id


class Notification(TenantOwnedModel):
    """An in-portal notice, rendered in the recipient's language when created; the email copy
    is sent by the sweeper (`email_due_at`), so a lost task message delays it, never drops it."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("recipient"),
    )
    request = models.ForeignKey(
        AccessRequest,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("request"),
    )
    event = models.CharField(_("event"), max_length=40)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("text"))
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    email_due_at = models.DateTimeField(_("email due"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("emailed"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notification_inbox"),
            models.Index(
                fields=["email_due_at"],
                name="notification_email_due",
                condition=Q(email_due_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.subject
