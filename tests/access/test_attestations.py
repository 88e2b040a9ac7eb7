"""Compliance attestations (issue 3): record/renew/revoke through the services with audit events
and the policy effect seen by the engine's public decide(); refusals with clear messages; the
portal page (trio, record, revoke, filters, HTMX region); the admin and the API go through the
same services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from apps.access import engine, services
from apps.access.models import ComplianceAttestation
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.scopes import USERS_READ
from apps.integrations.services.api_keys import api_key_create
from apps.tenants import services as tenant_services
from apps.tenants.models import TenantRole

from .conftest import Catalog

URL = "/t/acme/access/attestations/"
HIPAA_RULE = {
    "applies": {"attr": "environment.slug", "op": "eq", "value": "crm-prod"},
    "require": {"attr": "context.attested", "op": "contains", "value": "hipaa"},
    "message": "HIPAA training must be attested",
}


def _events(tenant: Any, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _fresh(tenant: Any, attestation: ComplianceAttestation) -> ComplianceAttestation:
    with tenant_context(tenant):
        attestation.refresh_from_db()
    return attestation


def _rows(tenant: Any) -> list[ComplianceAttestation]:
    with tenant_context(tenant):
        return list(ComplianceAttestation.objects.order_by("pk"))


@pytest.fixture
def hipaa_rule(tenant_a, admin_a, member_a, catalog: Catalog) -> None:
    """member_a may read the CRM by grant; a deny rule wants HIPAA training on it."""
    services.grant_create(
        actor=admin_a, tenant=tenant_a, user=member_a, entitlement=catalog.crm_read, source="manual"
    )
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="crm-hipaa",
        name="CRM needs HIPAA",
        conditions=HIPAA_RULE,
    )


# --- services and the policy effect ----------------------------------------------------------


def test_record_allows_and_revoke_denies(tenant_a, admin_a, member_a, catalog, hipaa_rule):
    denied = engine.decide(member_a, "read", catalog.crm)
    assert not denied.allowed
    assert denied.reasons[0].ref == "rule:crm-hipaa@v1"

    attestation = services.attestation_record(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        flag="HIPAA ",
        expires_at=timezone.now() + timedelta(days=365),
        evidence="LMS certificate 4711",
    )
    assert attestation.flag == "hipaa"
    assert attestation.recorded_by == admin_a
    assert engine.decide(member_a, "read", catalog.crm).allowed
    [recorded] = _events(tenant_a, "access.attestation.recorded")
    assert recorded.target_id == str(attestation.pk)
    assert recorded.personal["after"]["flag"] == "hipaa"
    assert recorded.personal["after"]["evidence"] == "LMS certificate 4711"

    services.attestation_revoke(actor=admin_a, attestation=attestation, reason="Training voided")
    assert attestation.revoked_at is not None
    assert attestation.revoked_by == admin_a
    assert attestation.revoke_reason == "Training voided"
    assert not engine.decide(member_a, "read", catalog.crm).allowed
    [revoked] = _events(tenant_a, "access.attestation.revoked")
    assert revoked.personal["details"]["reason"] == "Training voided"

    # Idempotent: a second revocation changes and records nothing; the row stays as history.
    services.attestation_revoke(actor=admin_a, attestation=attestation, reason="again")
    assert len(_events(tenant_a, "access.attestation.revoked")) == 1
    assert [a.pk for a in _rows(tenant_a)] == [attestation.pk]


def test_renewing_replaces_the_dates_in_place(tenant_a, admin_a, member_a, catalog, hipaa_rule):
    soon = timezone.now() + timedelta(days=5)
    first = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa", expires_at=soon
    )
    later = timezone.now() + timedelta(days=400)
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        renewed = services.attestation_record(
            actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa", expires_at=later
        )
    assert renewed.pk == first.pk
    assert renewed.expires_at == later
    assert renewed.attested_at > first.attested_at
    assert len(_rows(tenant_a)) == 1
    [event] = _events(tenant_a, "access.attestation.renewed")
    assert event.personal["before"]["expires_at"] == soon.isoformat()
    assert event.personal["after"]["expires_at"] == later.isoformat()
    # Still allowed after the first expiry would have ended it.
    with time_machine.travel(soon + timedelta(days=1)):
        assert engine.decide(member_a, "read", catalog.crm).allowed


def test_expiry_ends_the_effect_at_decision_time(tenant_a, admin_a, member_a, catalog, hipaa_rule):
    ends = timezone.now() + timedelta(days=2)
    services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa", expires_at=ends
    )
    assert engine.decide(member_a, "read", catalog.crm).allowed
    with time_machine.travel(ends + timedelta(minutes=1)):
        decision = engine.decide(member_a, "read", catalog.crm)
        assert not decision.allowed
        assert decision.reasons[0].ref == "rule:crm-hipaa@v1"


def test_record_after_revoke_keeps_history(tenant_a, admin_a, member_a, catalog, hipaa_rule):
    first = services.attestation_record(actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa")
    services.attestation_revoke(actor=admin_a, attestation=first, reason="Expired certificate")
    second = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa"
    )
    assert second.pk != first.pk
    rows = _rows(tenant_a)
    assert [r.revoked_at is not None for r in rows] == [True, False]
    assert engine.decide(member_a, "read", catalog.crm).allowed


def test_each_write_bumps_the_policy_version(tenant_a, admin_a, member_a, catalog):
    from apps.access.models import PolicyVersion

    def counter() -> int:
        with tenant_context(tenant_a):
            return PolicyVersion.objects.get().counter

    before = counter()
    attestation = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="pci"
    )
    assert counter() == before + 1
    services.attestation_revoke(actor=admin_a, attestation=attestation, reason="left the team")
    assert counter() == before + 2


@pytest.mark.parametrize(
    ("kwargs", "code", "text"),
    [
        ({"flag": ""}, "flag", "Choose a compliance flag."),
        ({"flag": "astrology"}, "flag", "Unknown compliance flag “astrology”"),
        ({"flag": "hip aa!"}, "flag", "Unknown compliance flag"),
        ({"expires_at": "past"}, "expires", "The expiry date is in the past"),
        ({"evidence": "x" * 501}, "evidence", "at most 500 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(tenant_a, admin_a, member_a, kwargs, code, text):
    args: dict[str, Any] = {"flag": "hipaa", **kwargs}
    if args.get("expires_at") == "past":
        args["expires_at"] = timezone.now() - timedelta(minutes=1)
    with pytest.raises(services.AccessValidationError) as exc:
        services.attestation_record(actor=admin_a, tenant=tenant_a, user=member_a, **args)
    assert exc.value.code == code
    assert text in exc.value.message
    assert _rows(tenant_a) == []
    assert _events(tenant_a, "access.attestation.recorded") == []


def test_only_members_of_the_tenant(tenant_a, tenant_b, admin_a, outsider_b, staff_engineer):
    for person in (outsider_b, staff_engineer):
        with pytest.raises(services.AccessValidationError) as exc:
            services.attestation_record(actor=admin_a, tenant=tenant_a, user=person, flag="hipaa")
        assert exc.value.code == "not_member"
        assert "is not a member of ACME Corp" in exc.value.message
    assert _rows(tenant_a) == []


def test_revoke_needs_a_reason(tenant_a, admin_a, member_a):
    attestation = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="sox"
    )
    with pytest.raises(services.AccessValidationError) as exc:
        services.attestation_revoke(actor=admin_a, attestation=attestation, reason="  ")
    assert exc.value.code == "reason"
    _fresh(tenant_a, attestation)
    assert attestation.revoked_at is None


def test_a_flag_named_by_a_tenant_rule_is_known(tenant_a, admin_a, member_a):
    services.policy_rule_save(
        actor=admin_a,
        tenant=tenant_a,
        key="phi",
        name="PHI handling",
        conditions={"require": {"attr": "context.attested", "op": "contains", "value": "phi-ops"}},
    )
    attestation = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="phi-ops"
    )
    assert attestation.flag_label == "phi-ops"


# --- portal page -----------------------------------------------------------------------------


@pytest.fixture
def compliance_member(tenant_a, operator, compliance_officer):
    """A vendor compliance officer who is a member of tenant A."""
    tenant_services.membership_add(
        actor=operator, tenant=tenant_a, user=compliance_officer, role=TenantRole.MEMBER
    )
    return compliance_officer


def test_page_trio(admin_a, member_a, outsider_b, compliance_member, client_for):
    assert Client().get(URL).status_code == 302
    assert client_for(outsider_b).get(URL).status_code == 404
    assert client_for(member_a).get(URL).status_code == 403
    for person in (admin_a, compliance_member):
        response = client_for(person).get(URL)
        assert response.status_code == 200
        assert "Compliance attestations" in response.content.decode()


def test_plain_member_cannot_record_or_revoke(tenant_a, admin_a, member_a, client_for):
    attestation = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa"
    )
    client = client_for(member_a)
    assert client.post(URL, {"user": member_a.pk, "flag": "pci"}).status_code == 403
    response = client.post(f"{URL}{attestation.pk}/revoke/", {"reason": "mine"})
    assert response.status_code == 403
    _fresh(tenant_a, attestation)
    assert attestation.revoked_at is None


def test_record_and_revoke_from_the_page(tenant_a, admin_a, member_a, client_for):
    client = client_for(admin_a)
    response = client.post(
        URL,
        {"user": member_a.pk, "flag": "hipaa", "expires_on": "2099-12-31", "evidence": "T-12"},
    )
    assert response.status_code == 302
    [attestation] = _rows(tenant_a)
    assert (attestation.user, attestation.flag, attestation.evidence) == (member_a, "hipaa", "T-12")
    assert timezone.localtime(attestation.expires_at).date().isoformat() == "2100-01-01"
    page = client.get(URL).content.decode()
    assert "Mia Member" in page
    assert "HIPAA training" in page

    response = client.post(
        f"{URL}{attestation.pk}/revoke/", {"reason": "wrong person", "state": "revoked"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?state=revoked"
    _fresh(tenant_a, attestation)
    assert attestation.revoked_by == admin_a
    assert attestation.revoke_reason == "wrong person"
    assert len(_events(tenant_a, "access.attestation.revoked")) == 1


def test_page_shows_refusals_in_the_form(tenant_a, admin_a, member_a, client_for):
    client = client_for(admin_a)
    response = client.post(URL, {"user": member_a.pk, "flag": "hipaa", "expires_on": "2001-01-01"})
    assert response.status_code == 400
    assert "The expiry date is in the past" in response.content.decode()
    response = client.post(URL, {"user": member_a.pk, "flag": "astrology"})
    assert response.status_code == 400
    assert _rows(tenant_a) == []


def test_revoke_without_reason_changes_nothing(tenant_a, admin_a, member_a, client_for):
    attestation = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa"
    )
    response = client_for(admin_a).post(f"{URL}{attestation.pk}/revoke/", {"reason": ""})
    assert response.status_code == 302
    _fresh(tenant_a, attestation)
    assert attestation.revoked_at is None


def test_another_tenants_admin_can_neither_see_nor_act(
    tenant_a, tenant_b, admin_a, member_a, outsider_b, client_for
):
    ours = services.attestation_record(actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa")
    theirs = services.attestation_record(
        actor=outsider_b, tenant=tenant_b, user=outsider_b, flag="pci"
    )
    other = client_for(outsider_b)
    assert other.get(URL).status_code == 404
    assert other.post(f"{URL}{ours.pk}/revoke/", {"reason": "x"}).status_code == 404
    assert "Mia Member" not in other.get("/t/globex/access/attestations/").content.decode()
    # Own tenant in the URL, the other tenant's attestation id: 404 as well.
    mine = client_for(admin_a)
    assert mine.post(f"{URL}{theirs.pk}/revoke/", {"reason": "x"}).status_code == 404
    assert "Otto Outsider" not in mine.get(URL).content.decode()
    for row in _rows(tenant_a) + _rows(tenant_b):
        assert row.revoked_at is None


def test_filters_and_htmx_region(tenant_a, admin_a, member_a, approver_a, client_for):
    now = timezone.now()
    services.attestation_record(
        actor=admin_a,
        tenant=tenant_a,
        user=member_a,
        flag="hipaa",
        expires_at=now + timedelta(days=10),
    )
    services.attestation_record(
        actor=admin_a,
        tenant=tenant_a,
        user=approver_a,
        flag="pci",
        expires_at=now + timedelta(days=90),
    )
    client = client_for(admin_a)

    def body(**query: str) -> str:  # the rows region only (the form lists every member)
        return client.get(URL, query, headers={"HX-Request": "true"}).content.decode()

    assert "Mia Member" in body(state="expiring")
    assert "Arno Approver" not in body(state="expiring")
    assert "Arno Approver" in body(flag="pci")
    assert "Mia Member" not in body(flag="pci")
    with tenant_context(tenant_a):  # lapsed since (the services refuse a past expiry)
        ComplianceAttestation.objects.filter(user=member_a).update(
            expires_at=now - timedelta(days=1)
        )
    assert "Mia Member" in body(state="expired")
    assert "Arno Approver" not in body(state="expired")
    assert "Mia Member" not in body(state="active")
    response = client.get(URL, {"flag": "hipaa"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    region = response.content.decode()
    assert "<html" not in region
    assert "Mia Member" in region
    assert "HX-Request" in response["Vary"]


def test_renew_link_prefills_the_form(tenant_a, admin_a, member_a, client_for):
    attestation = services.attestation_record(
        actor=admin_a, tenant=tenant_a, user=member_a, flag="gdpr"
    )
    page = client_for(admin_a).get(URL, {"renew": attestation.pk}).content.decode()
    assert f'<option value="{member_a.pk}" selected>' in page
    assert '<option value="gdpr" selected>' in page


def test_page_speaks_german(admin_a, client_for):
    from django.conf import settings

    client = client_for(admin_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    body = client.get(URL).content.decode()
    assert "Compliance-Nachweise" in body
    assert "Nachweis erfassen oder erneuern" in body


# --- admin and API ---------------------------------------------------------------------------


def test_admin_records_and_revokes_through_the_services(tenant_a, member_a, operator, client_for):
    client = client_for(operator)
    response = client.post(
        "/admin/access/complianceattestation/add/",
        {"tenant": tenant_a.pk, "user": member_a.pk, "flag": "hipaa", "evidence": "paper form"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [attestation] = _rows(tenant_a)
    assert attestation.recorded_by == operator
    assert len(_events(tenant_a, "access.attestation.recorded")) == 1

    refused = client.post(
        "/admin/access/complianceattestation/add/",
        {"tenant": tenant_a.pk, "user": member_a.pk, "flag": "astrology"},
    )
    assert refused.status_code == 200
    assert "Unknown compliance flag" in refused.content.decode()

    response = client.post(
        "/admin/access/complianceattestation/",
        {"action": "revoke_attestations", "_selected_action": [attestation.pk]},
    )
    assert response.status_code == 302
    _fresh(tenant_a, attestation)
    assert attestation.revoked_by == operator
    assert len(_events(tenant_a, "access.attestation.revoked")) == 1
    with unscoped(reason="test"):
        assert not AuditEvent.objects.filter(
            action__startswith="admin.complianceattestation"
        ).exists()


def test_api_lists_the_tenants_attestations(tenant_a, tenant_b, admin_a, member_a, outsider_b):
    cache.clear()
    services.attestation_record(actor=admin_a, tenant=tenant_a, user=member_a, flag="hipaa")
    services.attestation_record(actor=outsider_b, tenant=tenant_b, user=outsider_b, flag="pci")
    issued = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="hr-sync",
        scopes=[USERS_READ],
        technical_contact_email="ops@acme.test",
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    response = client.get("/api/v1/tenants/acme/attestations")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["user_email"], i["flag"], i["state"]) for i in items] == [
        ("mia@acme.test", "hipaa", "active")
    ]
    assert client.get("/api/v1/tenants/globex/attestations").status_code == 404
    cache.clear()
