"""The request flows through the services: submit → route → approve → grant, and every refusal
the issue lists (not eligible, too long, self-approval, escalated away, twice, closed tenant)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.access.models import Grant
from apps.core.exceptions import DomainError
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.requests import services
from apps.requests.models import (
    AccessRequest,
    ApprovalAssignment,
    ApprovalDecision,
    Delegate,
    Notification,
    RequestStatus,
    StepState,
)
from apps.requests.services.sweep import requests_sweep
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole

from .conftest import GOOD_REASON

pytestmark = pytest.mark.django_db


def submit(tenant, actor, target, hours=2, **kw):
    kwargs = {"entitlement": target} if hasattr(target, "level") else {"role": target}
    return services.access_request_submit(
        actor=actor,
        tenant=tenant,
        duration=timedelta(hours=hours),
        justification=kw.pop("justification", GOOD_REASON),
        **kwargs,
        **kw,
    )


def refusals(tenant, action):
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action, outcome="denied"))


def test_low_risk_request_goes_to_the_owner_and_approval_creates_a_time_bound_grant(
    tenant_a, member_a, approver_a, crm_read
):
    req = submit(tenant_a, member_a, crm_read, hours=3)
    assert req.status == RequestStatus.PENDING
    with tenant_context(tenant_a):
        steps = list(req.steps.all())
        assert [s.label for s in steps] == ["Resource owner"]
        assert steps[0].due_at is not None
        approvers = {
            a.approver for a in ApprovalAssignment.objects.filter(request=req, active=True)
        }
        assert approver_a in approvers
        assert member_a not in approvers
        assert Notification.objects.filter(recipient=approver_a, event="approval_needed").exists()

    before = timezone.now()
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve", reason="ok")
    assert req.status == RequestStatus.ACTIVE
    with tenant_context(tenant_a):
        grant = Grant.objects.get(pk=req.grant_id)
    assert grant.source == "request"
    assert grant.approval_ref == f"request:{req.pk}"
    assert grant.user == member_a
    # Duration counts from approval, not from submission.
    assert before + timedelta(hours=3) <= grant.expires_at <= timezone.now() + timedelta(hours=3)
    with tenant_context(tenant_a):
        assert Notification.objects.filter(recipient=member_a, event="granted").exists()


def test_high_risk_goes_peer_then_security_team_and_needs_a_real_justification(
    tenant_a, member_a, approver_a, admin_a, crm_admin
):
    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, crm_admin, justification="need access")
    assert exc.value.code == "justification"

    req = submit(tenant_a, member_a, crm_admin)
    with tenant_context(tenant_a):
        labels = [(s.label, s.state) for s in req.steps.all()]
    assert labels == [("Peer review", StepState.OPEN), ("Security team", StepState.WAITING)]
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert req.status == RequestStatus.PENDING
    with tenant_context(tenant_a):
        assert [s.state for s in req.steps.all()] == [StepState.APPROVED, StepState.OPEN]
    req = services.access_request_decide(actor=admin_a, req=req, decision="approve")
    assert req.status == RequestStatus.ACTIVE


def test_not_in_catalog_and_too_long_are_refused_and_audited(
    tenant_a, tenant_b, operator, member_a, crm_read
):
    other_env = tenant_services.environment_create(
        actor=operator, tenant=tenant_b, slug="erp", name="ERP"
    )
    from .conftest import entitlement_make

    foreign = entitlement_make(tenant_b, other_env, "read", "low")
    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, foreign)
    assert exc.value.code == "not_eligible"

    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, crm_read, hours=24 * 91)
    assert exc.value.code == "duration_too_long"
    assert "longest allowed" in exc.value.message

    codes = [e.personal["details"]["code"] for e in refusals(tenant_a, "access_request.refused")]
    assert sorted(codes) == ["duration_too_long", "not_eligible"]
    with tenant_context(tenant_a):
        assert not AccessRequest.objects.exists()


def test_abac_ineligible_items_are_refused_with_the_reason(tenant_a, operator, member_a):
    from apps.access.services import policy_rule_save

    from .conftest import entitlement_make

    env = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="apac", name="APAC DW", region="apac"
    )
    ent = entitlement_make(tenant_a, env, "read", "low")
    policy_rule_save(
        actor=operator,
        tenant=tenant_a,
        key="apac-residency",
        name="APAC data stays with APAC staff",
        conditions={
            "applies": {"attr": "environment.region", "op": "eq", "value": "apac"},
            "require": {"attr": "subject.country", "op": "in", "value": ["AU", "SG"]},
            "message": "APAC data is reachable from APAC only",
        },
    )
    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, ent)
    assert "APAC" in exc.value.message


def test_self_approval_is_impossible_even_for_the_owner(tenant_a, approver_a, admin_a, crm_read):
    req = submit(tenant_a, approver_a, crm_read)  # approver_a owns the CRM
    with tenant_context(tenant_a):
        assert not ApprovalAssignment.objects.filter(request=req, approver=approver_a).exists()
    with pytest.raises(DomainError) as exc:
        services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert exc.value.code == "self_approval"
    assert refusals(tenant_a, "access_request.decision_refused")


def test_approving_twice_creates_one_decision_and_one_grant(
    tenant_a, member_a, approver_a, crm_read
):
    req = submit(tenant_a, member_a, crm_read)
    services.access_request_decide(actor=approver_a, req=req, decision="approve")
    with pytest.raises(DomainError) as exc:
        services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert exc.value.code in ("not_pending", "already_decided")
    with tenant_context(tenant_a):
        assert ApprovalDecision.objects.filter(step__request=req).count() == 1
        assert Grant.objects.filter(approval_ref=f"request:{req.pk}").count() == 1


def test_double_submit_returns_the_open_request(tenant_a, member_a, approver_a, crm_read):
    first = submit(tenant_a, member_a, crm_read)
    second = submit(tenant_a, member_a, crm_read)
    assert first.pk == second.pk
    with tenant_context(tenant_a):
        assert AccessRequest.objects.count() == 1


def test_escalation_moves_the_step_to_the_fallback_and_the_old_approver_cannot_decide(
    tenant_a, member_a, approver_a, admin_a, crm_read
):
    req = submit(tenant_a, member_a, crm_read)
    later = timezone.now() + timedelta(hours=25)
    result = requests_sweep(now=later)
    assert result["escalated"] == 1
    with pytest.raises(DomainError) as exc:
        services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert exc.value.code == "escalated_away"
    with tenant_context(tenant_a):
        step = req.steps.get()
        assert step.escalated_at is not None
        assert step.escalated_to == admin_a
        assert Notification.objects.filter(recipient=member_a, event="escalated").exists()
    # A second sweep finds nothing to claim.
    assert requests_sweep(now=later)["escalated"] == 0
    req = services.access_request_decide(actor=admin_a, req=req, decision="approve")
    assert req.status == RequestStatus.ACTIVE


def test_unanswered_requests_expire(tenant_a, member_a, approver_a, crm_read):
    req = submit(tenant_a, member_a, crm_read)
    requests_sweep(now=timezone.now() + timedelta(days=8))
    with tenant_context(tenant_a):
        req.refresh_from_db()
    assert req.status == RequestStatus.EXPIRED
    with pytest.raises(DomainError):
        services.access_request_decide(actor=approver_a, req=req, decision="approve")


def test_isolated_or_terminated_tenant_refuses_requests_and_approvals(
    tenant_a, operator, member_a, approver_a, crm_read
):
    req = submit(tenant_a, member_a, crm_read)
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="isolated", reason="incident"
    )
    with pytest.raises(DomainError) as exc:
        services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert exc.value.code == "tenant_isolated"
    with tenant_context(tenant_a):
        assert not Grant.objects.exists()
    tenant_services.tenant_set_status(
        actor=operator, tenant=tenant_a, status="terminated", reason="ended"
    )
    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, crm_read, hours=1)
    assert exc.value.code == "tenant_terminated"


def test_deny_needs_a_reason_and_tells_the_requester(tenant_a, member_a, approver_a, crm_read):
    req = submit(tenant_a, member_a, crm_read)
    with pytest.raises(DomainError):
        services.access_request_decide(actor=approver_a, req=req, decision="deny", reason="")
    req = services.access_request_decide(
        actor=approver_a, req=req, decision="deny", reason="not needed"
    )
    assert req.status == RequestStatus.DENIED
    with tenant_context(tenant_a):
        assert Notification.objects.filter(recipient=member_a, event="denied").exists()


def test_scheduled_start_window_counts_duration_from_the_window(
    tenant_a, member_a, approver_a, crm_read
):
    start = timezone.now() + timedelta(days=2)
    req = submit(
        tenant_a,
        member_a,
        crm_read,
        hours=4,
        start_after=start,
        start_before=start + timedelta(hours=6),
    )
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve")
    assert req.status == RequestStatus.APPROVED
    with tenant_context(tenant_a):
        grant = Grant.objects.get(pk=req.grant_id)
    assert grant.starts_at == start
    assert grant.expires_at == start + timedelta(hours=4)
    requests_sweep(now=start + timedelta(minutes=1))
    with tenant_context(tenant_a):
        req.refresh_from_db()
    assert req.status == RequestStatus.ACTIVE
    requests_sweep(now=start + timedelta(hours=4, minutes=1))
    with tenant_context(tenant_a):
        req.refresh_from_db()
    assert req.status == RequestStatus.ENDED


def test_relinquish_then_request_again_reuses_the_still_valid_approval(
    tenant_a, member_a, approver_a, crm_read
):
    req = submit(tenant_a, member_a, crm_read, hours=8)
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve")
    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, crm_read, hours=2)
    assert exc.value.code == "already_granted"
    services.access_request_relinquish(actor=member_a, req=req)
    with tenant_context(tenant_a):
        assert Grant.objects.get(pk=req.grant_id).revoked_at is not None
    again = submit(tenant_a, member_a, crm_read, hours=2)
    assert again.status == RequestStatus.ACTIVE
    assert again.reused_from_id == req.pk
    with tenant_context(tenant_a):
        assert not ApprovalAssignment.objects.filter(request=again).exists()


def test_on_behalf_of_only_for_managers_and_admins(
    tenant_a, operator, member_a, admin_a, approver_a, crm_read
):
    from tests.conftest import make_user

    other = make_user("tom@acme.test", full_name="Tom")
    tenant_services.membership_add(actor=operator, tenant=tenant_a, user=other)
    with pytest.raises(DomainError):
        submit(tenant_a, member_a, crm_read, on_behalf_of=other)
    req = submit(tenant_a, admin_a, crm_read, on_behalf_of=other)
    assert req.beneficiary == other
    req = services.access_request_decide(actor=approver_a, req=req, decision="approve")
    with tenant_context(tenant_a):
        assert Grant.objects.get(pk=req.grant_id).user == other


def test_out_of_office_delegate_can_decide(tenant_a, operator, member_a, approver_a, crm_read):
    from tests.conftest import make_user

    deputy = make_user("dora@acme.test", full_name="Dora Deputy")
    tenant_services.membership_add(
        actor=operator, tenant=tenant_a, user=deputy, role=TenantRole.MEMBER
    )
    with tenant_context(tenant_a):
        Delegate.objects.create(
            tenant=tenant_a,
            delegator=approver_a,
            delegate=deputy,
            starts_at=timezone.now() - timedelta(days=1),
            ends_at=timezone.now() + timedelta(days=3),
        )
    req = submit(tenant_a, member_a, crm_read)
    req = services.access_request_decide(actor=deputy, req=req, decision="approve")
    assert req.status == RequestStatus.ACTIVE


def test_cancel_by_requester_only(tenant_a, member_a, approver_a, crm_read):
    req = submit(tenant_a, member_a, crm_read)
    with pytest.raises(DomainError):
        services.access_request_cancel(actor=approver_a, req=req)
    req = services.access_request_cancel(actor=member_a, req=req)
    assert req.status == RequestStatus.CANCELLED
    with tenant_context(tenant_a):
        assert not ApprovalAssignment.objects.filter(request=req, active=True).exists()


def test_emails_go_out_in_the_recipients_language(
    tenant_a, member_a, approver_a, crm_read, mailoutbox
):
    approver_a.language = "de"
    approver_a.save(update_fields=["language"])
    submit(tenant_a, member_a, crm_read)
    requests_sweep()
    mails = [m for m in mailoutbox if approver_a.email in m.to]
    assert mails
    assert mails[0].subject.startswith("Genehmigung")
    assert "/requests/link/" in mails[0].body
    with unscoped(reason="test"):
        assert not Notification.objects.filter(email_due_at__isnull=False).exists()


def _sod_rule(tenant, *entitlements):
    from apps.access.models import SodRule

    with tenant_context(tenant):
        rule = SodRule.objects.create(
            tenant=tenant, key="read-write", name="Read and write", mode="deny", threshold=2
        )
        rule.entitlements.set(entitlements)
    return rule


def test_sod_is_checked_at_submit_and_again_at_approval(
    tenant_a, member_a, approver_a, crm_read, crm_write
):
    # Both pending at once: fine at submit (nothing held yet).
    write_req = submit(tenant_a, member_a, crm_write)
    read_req = submit(tenant_a, member_a, crm_read)
    _sod_rule(tenant_a, crm_read, crm_write)
    services.access_request_decide(actor=approver_a, req=read_req, decision="approve")
    # Now holding read: approving write would complete the toxic pair.
    with pytest.raises(DomainError) as exc:
        services.access_request_decide(actor=approver_a, req=write_req, decision="approve")
    assert exc.value.code == "sod_violation"
    with tenant_context(tenant_a):
        write_req.refresh_from_db()
        assert write_req.status == RequestStatus.PENDING
        assert write_req.grant_id is None
    # And a fresh request for it is refused at submit.
    services.access_request_cancel(actor=member_a, req=write_req)
    with pytest.raises(DomainError) as exc:
        submit(tenant_a, member_a, crm_write)
    assert exc.value.code == "not_eligible"
