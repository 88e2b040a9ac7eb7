"""Catalog pages and the manual grant form: the trio (anonymous -> login, other tenant -> 404,
member -> 403), real writes through the services, refusals shown in the form."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client

from apps.access import services
from apps.access.models import Grant, PolicyRule, Role, RoleTemplate, SodRule
from apps.core.tenancy import tenant_context

PAGES = [
    "catalog/entitlements/",
    "catalog/roles/",
    "catalog/rules/",
    "catalog/rules/new/",
    "catalog/sod/",
    "catalog/sod/new/",
    "catalog/templates/",
    "grants/new/",
]


@pytest.mark.parametrize("page", PAGES)
def test_page_trio(page, admin_a, member_a, outsider_b, catalog, client_for):
    url = f"/t/acme/access/{page}"
    assert Client().get(url).status_code == 302
    assert client_for(outsider_b).get(url).status_code == 404
    assert client_for(member_a).get(url).status_code == 403
    response = client_for(admin_a).get(url)
    assert response.status_code == 200


def test_other_tenants_objects_are_404(
    admin_a, outsider_b, tenant_b, catalog, client_for, operator
):
    rule = services.policy_rule_save(
        actor=operator,
        tenant=tenant_b,
        key="b-rule",
        name="B",
        conditions={"require": {"attr": "context.risk_score", "op": "lt", "value": 50}},
    )
    client = client_for(admin_a)
    assert client.get(f"/t/acme/access/catalog/rules/{rule.pk}/").status_code == 404
    assert client.get(f"/t/acme/access/catalog/roles/{catalog.support.pk}/").status_code == 200
    with tenant_context(tenant_b):
        other_role = services.role_create(actor=operator, tenant=tenant_b, key="x", name="X")
    assert client.get(f"/t/acme/access/catalog/roles/{other_role.pk}/").status_code == 404


def test_invalid_rule_shows_the_reason(admin_a, catalog, client_for, tenant_a):
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/access/catalog/rules/new/",
        {
            "key": "bad",
            "name": "Bad",
            "effect": "deny",
            "enabled": "on",
            "conditions": json.dumps({"require": {"attr": "context.iq", "op": "gt", "value": 1}}),
        },
    )
    assert response.status_code == 400
    assert "unknown attribute" in response.content.decode()
    with tenant_context(tenant_a):
        assert not PolicyRule.objects.exists()


def test_rule_edit_adds_a_version(admin_a, catalog, client_for, tenant_a):
    client = client_for(admin_a)
    body = {
        "key": "risk",
        "name": "Risk",
        "effect": "deny",
        "enabled": "on",
        "conditions": json.dumps(
            {"require": {"attr": "context.risk_score", "op": "lt", "value": 50}}
        ),
    }
    assert client.post("/t/acme/access/catalog/rules/new/", body).status_code == 302
    with tenant_context(tenant_a):
        rule = PolicyRule.objects.get(key="risk")
    body["conditions"] = json.dumps(
        {"require": {"attr": "context.risk_score", "op": "lt", "value": 70}}
    )
    assert client.post(f"/t/acme/access/catalog/rules/{rule.pk}/", body).status_code == 302
    with tenant_context(tenant_a):
        assert list(
            PolicyRule.objects.order_by("version").values_list("version", "is_current")
        ) == [
            (1, False),
            (2, True),
        ]


def test_grant_form_refusal_and_success(
    admin_a, member_a, staff_engineer, catalog, client_for, tenant_a
):
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/access/grants/new/",
        {
            "user": staff_engineer.pk,
            "entitlement": catalog.crm_read.pk,
            "source": "manual",
            "justification": "ticket work",
        },
    )
    assert response.status_code == 400
    assert "vendor-staff access must be time-bound" in response.content.decode()
    response = client.post(
        "/t/acme/access/grants/new/",
        {
            "user": staff_engineer.pk,
            "entitlement": catalog.crm_read.pk,
            "duration_hours": 4,
            "source": "manual",
            "justification": "ticket work",
            "ticket_ref": "SUP-9",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        grant = Grant.objects.get(user=staff_engineer)
    assert grant.ticket_ref == "SUP-9"
    assert grant.expires_at - grant.starts_at == timedelta(hours=4)


def test_role_from_template_and_bundle_edit(admin_a, catalog, client_for, tenant_a):
    template = RoleTemplate.objects.create(
        key="auditor", name="Auditor", levels=["read", "export"], risk="high"
    )
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/access/catalog/roles/",
        {"template": template.pk, "environments": [catalog.analytics.pk]},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        auditor = Role.objects.get(key="auditor")
        assert sorted(e.level for e in auditor.entitlements.all()) == ["export", "read"]
    response = client.post(
        f"/t/acme/access/catalog/roles/{auditor.pk}/",
        {"name": "Auditor", "description": "", "entitlements": [catalog.analytics_read.pk]},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert [e.level for e in auditor.entitlements.all()] == ["read"]


def test_sod_rule_form(admin_a, catalog, client_for, tenant_a):
    client = client_for(admin_a)
    response = client.post(
        "/t/acme/access/catalog/sod/new/",
        {
            "key": "tox",
            "name": "Tox",
            "mode": "deny",
            "threshold": 2,
            "entitlements": [catalog.crm_write.pk],
            "enabled": "on",
        },
    )
    assert response.status_code == 400
    assert "at least 2" in response.content.decode()
    response = client.post(
        "/t/acme/access/catalog/sod/new/",
        {
            "key": "tox",
            "name": "Tox",
            "mode": "deny",
            "threshold": 2,
            "entitlements": [catalog.crm_write.pk, catalog.crm_export.pk],
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert SodRule.objects.get(key="tox").entitlements.count() == 2
