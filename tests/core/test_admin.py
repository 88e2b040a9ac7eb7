"""Every Django admin change lands in the audit log; the admin needs a verified second factor."""

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped
from apps.tenants.models import Environment


@pytest.mark.django_db
def test_admin_requires_verified_mfa(operator):
    client = Client()
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 302  # sent to MFA, not into the admin


@pytest.mark.django_db
def test_admin_change_of_tenant_is_audited_in_tenant_chain(client_for, operator, tenant_a):
    client = client_for(operator)
    response = client.post(
        f"/admin/tenants/tenant/{tenant_a.pk}/change/",
        {
            "slug": "acme",
            "name": "ACME Corporation",
            "tier": "enterprise",
            "region": "eu",
            "data_residency": "eu",
            "status": "active",
            "time_zone": "Europe/Berlin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with unscoped(reason="test"):
        event = AuditEvent.objects.filter(action="admin.tenant.changed").get()
    assert event.tenant_id == tenant_a.pk
    assert event.personal["before"]["name"] == "ACME Corp"
    assert event.personal["after"]["name"] == "ACME Corporation"
    assert "name" in event.personal["details"]["changed_fields"]


@pytest.mark.django_db
def test_admin_lists_and_deletes_tenant_owned_rows_across_tenants(
    client_for, operator, tenant_a, tenant_b
):
    from apps.tenants.services import environment_create

    env = environment_create(actor=operator, tenant=tenant_b, slug="erp", name="Globex ERP")
    client = client_for(operator)
    listing = client.get("/admin/tenants/environment/")
    assert "Globex ERP" in listing.content.decode()
    response = client.post(f"/admin/tenants/environment/{env.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    with unscoped(reason="test"):
        assert not Environment.objects.filter(pk=env.pk).exists()
        deleted = AuditEvent.objects.get(action="admin.environment.deleted")
    assert deleted.tenant_id == tenant_b.pk
    assert deleted.personal["before"]["name"] == "Globex ERP"


@pytest.mark.django_db
def test_third_party_admin_changes_are_audited_too(client_for, operator, member_a):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = client_for(operator)
    device = TOTPDevice.objects.create(user=member_a, name="phone", confirmed=True)
    response = client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    with unscoped(reason="test"):
        event = AuditEvent.objects.get(action="admin.totpdevice.deleted")
    assert event.personal["before"]["key"] == "***"
