"""`manage.py seed_demo` and `manage.py demo_totp`: the demo is realistic, idempotent, audited and
usable (the printed logins work, with the documented password and a computable TOTP code)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import StaffRole, User, UserKind
from apps.tenants.management.demo_data import DEMO_PASSWORD, demo_totp_key
from apps.tenants.models import Contract, Environment, Membership, Tenant, TenantRole
from tests._ci import require_postgres

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    # --force: on PostgreSQL the command refuses a non-DEBUG database without it (tested below).
    call_command("seed_demo", force=True, stdout=out)
    return out.getvalue()


def totp_now(email: str) -> str:
    out = StringIO()
    call_command("demo_totp", email, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def counts() -> dict[str, int]:
    with unscoped(reason="test: count demo rows"):
        return {
            "tenants": Tenant.objects.count(),
            "users": User.objects.count(),
            "memberships": Membership.objects.count(),
            "environments": Environment.objects.count(),
            "contracts": Contract.objects.count(),
            "devices": TOTPDevice.objects.count(),
            "events": AuditEvent.objects.count(),
        }


@pytest.fixture
def seeded() -> str:
    return seed()


def test_the_named_tenants_exist_as_the_issue_describes(seeded):
    acme = Tenant.objects.get(slug="acme")
    assert (acme.name, acme.tier, acme.region, acme.data_residency, acme.time_zone) == (
        "ACME Corp",
        "enterprise",
        "eu",
        "eu",
        "Europe/Berlin",
    )
    assert Tenant.objects.get(slug="acme-labs").parent == acme
    globex = Tenant.objects.get(slug="globex")
    assert (globex.tier, globex.region, globex.time_zone) == ("standard", "us", "America/New_York")
    initech = Tenant.objects.get(slug="initech")
    assert (initech.tier, initech.region, initech.time_zone) == (
        "strategic",
        "apac",
        "Asia/Singapore",
    )
    statuses = set(Tenant.objects.values_list("status", flat=True))
    assert {"active", "suspended", "isolated", "terminated"} <= statuses


def test_every_tenant_has_environments_contracts_and_every_role(seeded):
    on_premises = 0
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            environments = list(Environment.objects.all())
            assert 4 <= len(environments) <= 8, tenant.slug
            assert len({e.sensitivity for e in environments}) >= 2, tenant.slug
            on_premises += sum(e.on_premises for e in environments)
            contracts = list(Contract.objects.all())
            assert contracts, tenant.slug
            assert all(c.sla_hours > 0 for c in contracts)
            roles = set(Membership.objects.values_list("role", flat=True))
            assert TenantRole.CUSTOMER_ADMIN in roles, tenant.slug
    assert on_premises >= 1
    with tenant_context(Tenant.objects.get(slug="acme")):
        roles = set(Membership.objects.values_list("role", flat=True))
        assert roles == set(TenantRole.values)
        lena = Membership.objects.select_related("manager").get(
            user__email="lena.fischer@acme.example"
        )
        assert (lena.department, lena.manager.email) == ("Finance", "katrin.mueller@acme.example")
    languages = set(User.objects.values_list("language", flat=True))
    assert {"de", "fr", "en"} <= languages


def test_vendor_staff_and_operator(seeded):
    staff_roles = set(User.objects.filter(kind=UserKind.STAFF).values_list("staff_role", flat=True))
    assert {
        StaffRole.SUPPORT_ENGINEER,
        StaffRole.SUPPORT_MANAGER,
        StaffRole.DEVOPS,
        StaffRole.INTERNAL_REVIEWER,
        StaffRole.SECURITY,
        StaffRole.COMPLIANCE,
    } <= staff_roles
    operator = User.objects.get(email="operator@custos.example")
    assert operator.is_superuser
    assert operator.is_staff
    # Vendor staff hold no standing membership in any customer tenant.
    with unscoped(reason="test: memberships of vendor staff"):
        assert not Membership.objects.filter(user__kind=UserKind.STAFF).exists()


def test_every_demo_account_uses_the_documented_password(seeded):
    for email in (
        "anna.schmidt@acme.example",
        "lena.fischer@acme.example",
        "priya.nair@custos.example",
    ):
        assert authenticate(username=email, password=DEMO_PASSWORD) is not None
    assert authenticate(username="anna.schmidt@acme.example", password="wrong") is None


def test_mfa_accounts_get_the_demo_authenticator_and_others_none(seeded):
    for email in (
        "anna.schmidt@acme.example",  # customer admin
        "jonas.weber@acme.example",  # delegated admin
        "helena.brandt@custos.example",  # compliance officer
        "operator@custos.example",
    ):
        device = TOTPDevice.objects.get(user__email=email)
        assert device.confirmed
        assert device.key == demo_totp_key(email)
    assert not TOTPDevice.objects.filter(user__email="lena.fischer@acme.example").exists()


def test_the_seed_is_audited(seeded):
    acme = Tenant.objects.get(slug="acme")
    with unscoped(reason="test: audit events"):
        actions = set(AuditEvent.objects.filter(tenant=acme).values_list("action", flat=True))
        assert {"tenant.created", "contract.created", "environment.created"} <= actions
        assert {"membership.added", "membership.removed"} <= actions
        hooli = AuditEvent.objects.get(tenant__slug="hooli", action="tenant.status_changed")
    assert hooli.personal["after"] == {"status": "isolated"}


def test_rerunning_changes_nothing(seeded):
    before = counts()
    again = seed()
    assert "nothing changed" in again
    assert counts() == before


def test_the_printed_logins_name_the_personas_password_and_totp_command(seeded):
    for text in (
        "anna.schmidt@acme.example",
        "helena.brandt@custos.example",
        "Compliance officer",
        DEMO_PASSWORD,
        "manage.py demo_totp EMAIL",
    ):
        assert text in seeded


def test_a_demo_admin_signs_in_with_the_printed_password_and_demo_totp(seeded):
    client = Client()
    response = client.post(
        "/accounts/login/", {"email": "emily.carter@globex.example", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/verify/"
    response = client.post(
        "/accounts/login/verify/", {"code": totp_now("emily.carter@globex.example")}
    )
    assert response.status_code == 302
    dashboard = client.get(response["Location"], follow=True)
    assert dashboard.status_code == 200
    assert "Globex Corporation" in dashboard.content.decode()


def test_demo_totp_refuses_accounts_without_the_demo_authenticator(seeded):
    with pytest.raises(CommandError, match="no demo authenticator"):
        totp_now("lena.fischer@acme.example")
    with pytest.raises(CommandError, match="No account"):
        totp_now("nobody@example.com")
    # Somebody who enrolled their own authenticator: the derivation does not apply to it.
    user = User.objects.get(email="anna.schmidt@acme.example")
    TOTPDevice.objects.filter(user=user).update(key="00" * 20)
    with pytest.raises(CommandError, match="no demo authenticator"):
        totp_now(user.email)


def test_refuses_a_production_database_without_force(settings):
    settings.DEBUG = False
    require_postgres()  # the guard only applies to non-SQLite databases
    with pytest.raises(CommandError, match="refusing"):
        call_command("seed_demo", stdout=StringIO())
    assert not Tenant.objects.exists()
