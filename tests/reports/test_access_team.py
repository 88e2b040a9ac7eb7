"""Named internal access teams of strategic customers: assigned in the staff console by
security or compliance staff, read by certification and escalation via access_team_for()."""

from __future__ import annotations

import pytest

from apps.core.exceptions import DomainError, PermissionDenied
from apps.identity.models import StaffRole, UserKind
from apps.tenants import services as tenant_services
from apps.tenants.models import Tier
from apps.tenants.selectors import access_team_for
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategic(operator):
    return tenant_services.tenant_create(
        actor=operator, slug="bigco", name="BigCo", tier=Tier.STRATEGIC
    )


@pytest.fixture
def reviewer(db):
    return make_user(
        "rita@vendor.test",
        full_name="Rita Reviewer",
        kind=UserKind.STAFF,
        staff_role=StaffRole.INTERNAL_REVIEWER,
    )


def test_team_members_by_role(compliance_officer, strategic, reviewer, staff_engineer):
    assert access_team_for(strategic) is None
    tenant_services.access_team_member_add(
        actor=compliance_officer, tenant=strategic, user=reviewer, role="reviewer"
    )
    tenant_services.access_team_member_add(
        actor=compliance_officer, tenant=strategic, user=staff_engineer, role="approver"
    )
    team = access_team_for(strategic)
    assert team is not None
    assert [u.email for u in team.reviewers] == ["rita@vendor.test"]
    assert [u.email for u in team.approvers] == ["sam@vendor.test"]
    assert {u.email for u in team.members} == {"rita@vendor.test", "sam@vendor.test"}


def test_only_oversight_staff_assign_and_only_staff_join(
    compliance_officer, staff_engineer, strategic, reviewer, tenant_b, admin_a
):
    with pytest.raises(PermissionDenied):
        tenant_services.access_team_member_add(
            actor=staff_engineer, tenant=strategic, user=reviewer, role="reviewer"
        )
    with pytest.raises(DomainError):  # a customer user cannot be on a vendor team
        tenant_services.access_team_member_add(
            actor=compliance_officer, tenant=strategic, user=admin_a, role="reviewer"
        )
    with pytest.raises(DomainError):  # Globex is a standard-tier customer
        tenant_services.access_team_member_add(
            actor=compliance_officer, tenant=tenant_b, user=reviewer, role="reviewer"
        )


def test_staff_console_page(
    client_for, compliance_officer, staff_engineer, admin_a, strategic, reviewer
):
    client = client_for(compliance_officer)
    assert client.get("/staff/access-teams/").status_code == 200
    url = f"/staff/tenants/{strategic.pk}/access-team/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"email": "rita@vendor.test", "role": "reviewer"})
    assert response.status_code == 302
    team = access_team_for(strategic)
    assert team is not None
    assert len(team.reviewers) == 1
    assert "Rita Reviewer" in client.get(url).content.decode()
    assert client_for(staff_engineer).get(url).status_code == 403  # no oversight role
    assert client_for(admin_a).get(url).status_code == 403  # customer admin
    assert client.get("/staff/tenants/999999/access-team/").status_code == 404
    bad = client.post(url, {"email": "nobody@vendor.test", "role": "reviewer"})
    assert bad.status_code == 302  # a message, nothing changed
