"""Vendor staff into customer tenants: manager first, then the customer (who may shorten or
narrow); unanswered vendor requests expire after 12 h; break-glass and its review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.access.models import Grant
from apps.core.exceptions import DomainError
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.requests import services
from apps.requests.models import (
    AccessRequest,
    Notification,
    PreApproval,
    RequestKind,
    RequestStatus,
    StepState,
    TicketBinding,
)
from apps.requests.services.sweep import requests_sweep
from apps.tenants import services as tenant_services

from .conftest import GOOD_REASON

pytestmark = pytest.mark.django_db


def vendor_submit(tenant, engineer, target, hours=4, **kw):
    return services.access_request_submit(
        actor=engineer,
        tenant=tenant,
        entitlement=target,
        duration=timedelta(hours=hours),
        justification=GOOD_REASON,
        ticket_ref=kw.pop("ticket_ref", "SUP-42"),
        kind=RequestKind.VENDOR,
        **kw,
    )


def test_manager_then_customer_who_shortens_and_narrows(
    tenant_a, staff_engineer, support_manager, approver_a, crm_read, crm_write
):
    req = vendor_submit(tenant_a, staff_engineer, crm_write, hours=6)
    with tenant_context(tenant_a):
        steps = [(s.label, s.audience, s.state) for s in req.steps.all()]
    assert steps == [
        ("Support manager", "vendor", StepState.OPEN),
        ("Customer approver", "customer", StepState.WAITING),
    ]
    # The customer cannot jump the queue.
    with pytest.raises(DomainError) as exc:
        services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert exc.value.code == "not_approver"
    req = services.access_request_decide(actor=support_manager, req=req, decision="approve")
    assert req.status == RequestStatus.PENDING
    with tenant_context(tenant_a):
        assert Notification.objects.filter(
            recipient=approver_a, event="vendor_approval_needed"
        ).exists()
    req = services.access_request_decide(
        actor=approver_a,
        req=req,
        decision="approve",
        duration=timedelta(hours=2),
        entitlement=crm_read,
        reason="read is enough",
    )
    assert req.status == RequestStatus.ACTIVE
    with tenant_context(tenant_a):
        grant = Grant.objects.get(pk=req.grant_id)
        assert grant.entitlement == crm_read
        assert req.original_entitlement == crm_write
    assert grant.expires_at - grant.starts_at == timedelta(hours=2)


def test_customer_cannot_lengthen_or_widen(
    tenant_a, staff_engineer, support_manager, approver_a, crm_read, crm_admin
):
    req = vendor_submit(tenant_a, staff_engineer, crm_read, hours=2)
    req = services.access_request_decide(actor=support_manager, req=req, decision="approve")
    with pytest.raises(DomainError):
        services.access_request_decide(
            actor=approver_a, req=req, decision="approve", duration=timedelta(hours=5)
        )
    with pytest.raises(DomainError):
        services.access_request_decide(
            actor=approver_a, req=req, decision="approve", entitlement=crm_admin
        )


def test_vendor_duration_is_capped_at_8_hours_and_needs_a_ticket(
    tenant_a, staff_engineer, support_manager, crm_read
):
    with pytest.raises(DomainError) as exc:
        vendor_submit(tenant_a, staff_engineer, crm_read, hours=9)
    assert exc.value.code == "duration_too_long"
    with pytest.raises(DomainError) as exc:
        vendor_submit(tenant_a, staff_engineer, crm_read, ticket_ref="")
    assert exc.value.code == "ticket_required"


def test_unanswered_vendor_request_expires_after_12_hours(
    tenant_a, staff_engineer, support_manager, crm_read
):
    req = vendor_submit(tenant_a, staff_engineer, crm_read)
    requests_sweep(now=timezone.now() + timedelta(hours=11))
    with tenant_context(tenant_a):
        req.refresh_from_db()
    assert req.status == RequestStatus.PENDING
    requests_sweep(now=timezone.now() + timedelta(hours=12, minutes=1))
    with tenant_context(tenant_a):
        req.refresh_from_db()
    assert req.status == RequestStatus.EXPIRED


def test_isolated_tenant_refuses_vendor_requests(
    tenant_a, operator, staff_engineer, support_manager, crm_read
):
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="isolated", reason="incident"
    )
    with pytest.raises(DomainError) as exc:
        vendor_submit(tenant_a, staff_engineer, crm_read)
    assert exc.value.code == "tenant_isolated"
    with pytest.raises(DomainError):
        services.break_glass_activate(
            actor=staff_engineer,
            tenant=tenant_a,
            entitlement=crm_read,
            duration=timedelta(hours=1),
            justification=GOOD_REASON,
            confirmed=True,
        )


def test_pre_approval_skips_the_customer_step_during_a_sev1_ticket(
    tenant_a, staff_engineer, support_manager, approver_a, crm_read
):
    with tenant_context(tenant_a):
        PreApproval.objects.create(
            tenant=tenant_a,
            name="Read-only during sev-1",
            max_level="read",
            max_duration=timedelta(hours=4),
        )
    # No sev-1 ticket known: the customer decides as usual.
    req = vendor_submit(tenant_a, staff_engineer, crm_read, hours=2)
    assert req.pre_approval_id is None
    services.access_request_cancel(actor=staff_engineer, req=req)
    with tenant_context(tenant_a):
        TicketBinding.objects.create(tenant=tenant_a, ticket_ref="SUP-99", severity="sev1")
    req = vendor_submit(tenant_a, staff_engineer, crm_read, hours=2, ticket_ref="SUP-99")
    assert req.pre_approval_id is not None
    req = services.access_request_decide(actor=support_manager, req=req, decision="approve")
    assert req.status == RequestStatus.ACTIVE


def test_break_glass_is_immediate_audited_announced_and_reviewed(
    tenant_a, staff_engineer, support_manager, approver_a, admin_a, crm_admin
):
    with pytest.raises(DomainError) as exc:
        services.break_glass_activate(
            actor=staff_engineer,
            tenant=tenant_a,
            entitlement=crm_admin,
            duration=timedelta(hours=1),
            justification=GOOD_REASON,
            confirmed=False,
        )
    assert exc.value.code == "confirmation_required"
    req = services.break_glass_activate(
        actor=staff_engineer,
        tenant=tenant_a,
        entitlement=crm_admin,
        duration=timedelta(hours=1),
        justification=GOOD_REASON,
        ticket_ref="INC-7",
        confirmed=True,
    )
    assert req.status == RequestStatus.ACTIVE
    with tenant_context(tenant_a):
        assert Grant.objects.get(pk=req.grant_id).source == "break_glass"
        bypass = AuditEvent.objects.get(action="policy.bypassed")
        assert support_manager.email in bypass.personal["details"]["skipped_approvers"]
        told = set(
            Notification.objects.filter(event="break_glass").values_list("recipient_id", flat=True)
        )
    assert {support_manager.pk, approver_a.pk, admin_a.pk} <= told
    assert req.review_due_at is not None

    # Not reviewed within 24 h: escalates once.
    result = requests_sweep(now=timezone.now() + timedelta(hours=25))
    assert result["reviews_escalated"] == 1
    with tenant_context(tenant_a):
        req.refresh_from_db()
        assert Notification.objects.filter(recipient=admin_a, event="review_overdue").exists()
    with pytest.raises(DomainError):
        services.break_glass_review(actor=staff_engineer, req=req, outcome="justified", note="me")
    req = services.break_glass_review(
        actor=admin_a, req=req, outcome="justified", note="Outage fixed"
    )
    assert req.reviewed_by == admin_a


def test_customer_revokes_vendor_access_in_one_click(
    tenant_a, staff_engineer, support_manager, approver_a, member_a, crm_read
):
    req = vendor_submit(tenant_a, staff_engineer, crm_read, hours=2)
    req = services.access_request_decide(actor=support_manager, req=req, decision="approve")
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve")
    with pytest.raises(DomainError):
        services.access_request_revoke(actor=member_a, req=req, reason="")
    req = services.access_request_revoke(actor=approver_a, req=req, reason="done")
    assert req.status == RequestStatus.ENDED
    with tenant_context(tenant_a):
        assert Grant.objects.get(pk=req.grant_id).revoked_at is not None
        assert AccessRequest.objects.get(pk=req.pk).end_reason == "done"


def test_break_glass_leaves_nothing_in_the_skipped_approvers_inboxes(
    tenant_a, staff_engineer, support_manager, approver_a, crm_read
):
    from apps.requests import selectors

    services.break_glass_activate(
        actor=staff_engineer,
        tenant=tenant_a,
        entitlement=crm_read,
        duration=timedelta(hours=1),
        justification=GOOD_REASON,
        confirmed=True,
    )
    with tenant_context(tenant_a):
        assert selectors.inbox_page(user=approver_a).items == []
    assert selectors.staff_inbox_page(user=support_manager).items == []
