import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(tenant_a):
    response = Client().get("/t/acme/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_member_sees_dashboard(client_for, member_a):
    response = client_for(member_a).get("/t/acme/")
    assert response.status_code == 200
    assert "ACME Corp" in response.content.decode()


@pytest.mark.django_db
def test_other_tenant_gets_404(client_for, outsider_b, tenant_a):
    assert client_for(outsider_b).get("/t/acme/").status_code == 404
    assert client_for(outsider_b).get("/t/no-such-tenant/").status_code == 404


@pytest.mark.django_db
def test_member_cannot_open_admin_pages(client_for, member_a):
    assert client_for(member_a).get("/t/acme/members/").status_code == 403
    assert client_for(member_a).get("/t/acme/audit/").status_code == 403


@pytest.mark.django_db
def test_admin_sees_own_tenant_audit_only(client_for, admin_a, outsider_b):
    body = client_for(admin_a).get("/t/acme/audit/").content.decode()
    assert "membership.added" in body
    assert "otto@globex.test" not in body
    with unscoped(reason="test"):
        assert AuditEvent.objects.filter(tenant__slug="globex").exists()
