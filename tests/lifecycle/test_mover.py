"""The mover: a member's role changes, the seats the new role may not hold go back to their
pools (waiting lists served), all in one transaction, confirmed like a leaver's revocation."""

from __future__ import annotations

import pytest

from apps.core.exceptions import DomainError, PermissionDenied
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.licenses.models import LicensePool, Seat, WaitingListEntry, WaitingStatus
from apps.licenses.services import pool_create, product_create, seat_allocate
from apps.licenses.services.seats import waitlist_enqueue
from apps.lifecycle.models import DeprovisionTrigger, RevocationConfirmation
from apps.lifecycle.mover import member_role_change
from apps.tenants.models import Membership, TenantRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def pools(tenant_a, operator):
    """A pool for approvers only (one seat) and an open pool."""
    crm = product_create(actor=operator, tenant=tenant_a, key="crm", name="CRM")
    office = product_create(actor=operator, tenant=tenant_a, key="office", name="Office")
    approvers_only = pool_create(
        actor=operator,
        tenant=tenant_a,
        product=crm,
        name="CRM approvers",
        capacity=1,
        eligible_roles=[TenantRole.APPROVER],
    )
    open_pool = pool_create(
        actor=operator, tenant=tenant_a, product=office, name="Office", capacity=5
    )
    return approvers_only, open_pool


def _membership(tenant, user):
    with tenant_context(tenant):
        return Membership.objects.select_related("tenant", "user").get(user=user)


def test_role_change_reclaims_ineligible_seats_and_serves_the_waiting_list(
    tenant_a, admin_a, approver_a, member_a, pools
):
    approvers_only, open_pool = pools
    crm_seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=approver_a, pool=approvers_only)
    office_seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=approver_a, pool=open_pool)
    # Someone else eligible waits for the (full) approvers' pool.
    other = _membership(tenant_a, member_a)
    member_role_change(actor=admin_a, membership=other, role=TenantRole.APPROVER)
    entry = waitlist_enqueue(actor=admin_a, tenant=tenant_a, user=member_a, pool=approvers_only)

    change = member_role_change(
        actor=admin_a, membership=_membership(tenant_a, approver_a), role=TenantRole.REVIEWER
    )

    assert change.before == TenantRole.APPROVER
    assert change.seats_reclaimed == 1
    with tenant_context(tenant_a):
        assert Membership.objects.get(user=approver_a).role == TenantRole.REVIEWER
        assert Seat.objects.get(pk=crm_seat.pk).released_at is not None
        assert Seat.objects.get(pk=office_seat.pk).released_at is None  # still eligible
        # The freed seat went to the person waiting, so the pool is still exactly full.
        assert WaitingListEntry.objects.get(pk=entry.pk).status == WaitingStatus.SERVED
        assert Seat.objects.filter(
            pool=approvers_only, user=member_a, released_at__isnull=True
        ).exists()
        assert LicensePool.objects.get(pk=approvers_only.pk).used == 1
        confirmation = RevocationConfirmation.objects.get(user=approver_a)
        assert confirmation.trigger == DeprovisionTrigger.ROLE_CHANGE
        assert confirmation.seats_reclaimed == 1
        assert AuditEvent.objects.filter(
            action="membership.role_changed", target_id=str(_membership(tenant_a, approver_a).pk)
        ).exists()
        assert AuditEvent.objects.filter(
            action="seat.released", target_id=str(crm_seat.pk)
        ).exists()


def test_role_change_without_ineligible_seats_leaves_seats_alone(
    tenant_a, admin_a, member_a, pools
):
    _approvers_only, open_pool = pools
    seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=member_a, pool=open_pool)
    change = member_role_change(
        actor=admin_a, membership=_membership(tenant_a, member_a), role=TenantRole.REVIEWER
    )
    assert change.seats_reclaimed == 0
    assert change.confirmation is None
    with tenant_context(tenant_a):
        assert Seat.objects.get(pk=seat.pk).released_at is None
        assert not RevocationConfirmation.objects.filter(user=member_a).exists()


def test_only_admins_change_roles(tenant_a, approver_a, member_a, pools):
    with pytest.raises(PermissionDenied):
        member_role_change(
            actor=approver_a, membership=_membership(tenant_a, member_a), role=TenantRole.APPROVER
        )
    with tenant_context(tenant_a):
        assert Membership.objects.get(user=member_a).role == TenantRole.MEMBER


def test_role_change_is_all_or_nothing(tenant_a, admin_a, pools):
    """The last customer admin cannot be demoted: nothing changes, no seat is reclaimed."""
    _approvers_only, open_pool = pools
    seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=admin_a, pool=open_pool)
    with pytest.raises(DomainError, match="at least one customer admin"):
        member_role_change(
            actor=admin_a, membership=_membership(tenant_a, admin_a), role=TenantRole.MEMBER
        )
    with tenant_context(tenant_a):
        assert Membership.objects.get(user=admin_a).role == TenantRole.CUSTOMER_ADMIN
        assert Seat.objects.get(pk=seat.pk).released_at is None


def test_a_role_change_in_the_django_admin_goes_through_the_mover(
    client_for, operator, tenant_a, admin_a, approver_a, pools
):
    approvers_only, _open_pool = pools
    seat = seat_allocate(actor=admin_a, tenant=tenant_a, user=approver_a, pool=approvers_only)
    membership = _membership(tenant_a, approver_a)
    client = client_for(operator)
    url = f"/admin/tenants/membership/{membership.pk}/change/"
    response = client.post(
        url, {"role": TenantRole.REVIEWER, "department": "", "title": "", "manager": ""}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant_a):
        assert Membership.objects.get(pk=membership.pk).role == TenantRole.REVIEWER
        assert Seat.objects.get(pk=seat.pk).released_at is not None  # reclaimed, as a mover
        assert RevocationConfirmation.objects.get(user=approver_a).seats_reclaimed == 1
    # Ending the membership is the leaver's job: the admin shows is_active read-only.
    page = client.get(url).content.decode()
    assert 'name="is_active"' not in page


def test_the_django_admin_keeps_the_last_admin_rule(client_for, operator, tenant_a, admin_a):
    membership = _membership(tenant_a, admin_a)
    client = client_for(operator)
    response = client.post(
        f"/admin/tenants/membership/{membership.pk}/change/",
        {"role": TenantRole.MEMBER, "department": "", "title": "", "manager": ""},
        follow=True,
    )
    body = response.content.decode()
    assert "at least one customer admin" in body
    assert "changed successfully" not in body
    with tenant_context(tenant_a):
        assert Membership.objects.get(pk=membership.pk).role == TenantRole.CUSTOMER_ADMIN
