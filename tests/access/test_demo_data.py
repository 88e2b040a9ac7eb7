"""The access demo data: a real catalog and grants in acme, idempotent, decisions that show the
rules (residency with an exception, vendor grants time-bound, standing customer grants)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.access import engine
from apps.access.engine import Context
from apps.access.models import Grant, PolicyRule, Role, SodRule
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.tenants.models import Environment, Tenant

pytestmark = pytest.mark.django_db


def test_seed_builds_catalog_and_grants_idempotently():
    call_command("seed_demo", force=True, stdout=StringIO())
    acme = Tenant.objects.get(slug="acme")
    with tenant_context(acme):
        counts = (Role.objects.count(), Grant.objects.count(), PolicyRule.objects.count())
        assert Role.objects.filter(is_vendor_internal=True).exists()
        assert SodRule.objects.count() == 3
        vendor = Grant.objects.filter(user__kind="staff", source="request", approval_ref="")
        assert vendor.exists()
        assert all(g.expires_at for g in vendor)
        assert Grant.objects.filter(user__kind="customer", expires_at__isnull=True).exists()
        crm = Environment.objects.get(slug="salesforce-crm")
    call_command("seed_demo", force=True, stdout=StringIO())
    with tenant_context(acme):
        assert (Role.objects.count(), Grant.objects.count(), PolicyRule.objects.count()) == counts
    tom = User.objects.get(email="tom.becker@custos.example")
    assert engine.decide(tom, "read", crm, Context(location_region="eu", mfa_level="totp"))
    denied = engine.decide(tom, "read", crm, Context(location_region="us", mfa_level="totp"))
    assert not denied.allowed
    assert denied.reasons[0].ref == "rule:eu-residency@v1"
    sophie = User.objects.get(email="sophie.braun@acme.example")
    assert engine.decide(sophie, "write", crm, Context(location_region="eu"))
