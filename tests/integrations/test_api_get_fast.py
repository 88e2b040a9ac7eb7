"""The list endpoints read columns, not model instances (issue 8 speed work): what they answer
must stay what the models say — every grant subject and target kind and state, the audit
events' labels, webhook endpoints without their secrets — and the answers must match the
operation's declared schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.access.models import Grant, GrantSource, PermissionLevel, RiskLevel, Role, ServiceAccount
from apps.access.services.catalog import entitlement_create
from apps.core.audit.services import audit_event_record
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.integrations.api_schema import ApiOut
from apps.integrations.api_tenant import (
    AuditPageOut,
    GrantPageOut,
    MemberPageOut,
    WebhookEndpointOut,
    _grant_state,
    _GrantTimes,
)
from apps.integrations.models import WebhookEndpoint
from apps.tenants import services as tenant_services
from tests.conftest import make_user
from tests.integrations.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_grants(tenant_a: Any, operator: Any, issue_key: Any) -> list[Grant]:
    """Grants of every subject kind (user, service account, API key), target kind (entitlement,
    role) and state (active, scheduled, expired, suspended, revoked)."""
    environment = tenant_services.environment_create(
        actor=operator, tenant=tenant_a, slug="crm", name="CRM"
    )
    entitlement = entitlement_create(
        actor=operator,
        tenant=tenant_a,
        environment=environment,
        level=PermissionLevel.READ,
        risk=RiskLevel.LOW,
        name="crm-read",
    )
    person = make_user("pat@acme.test", full_name="Pat Person")
    nameless = make_user("nameless@acme.test")
    key = issue_key(name="Deploy bot").key
    now = timezone.now()
    with tenant_context(tenant_a):
        role = Role.objects.create(tenant=tenant_a, key="ops", name="Operations")
        account = ServiceAccount.objects.create(tenant=tenant_a, name="backup-job")
        specs: list[dict[str, Any]] = [
            {"user": person, "entitlement": entitlement},
            {"user": nameless, "role": role, "expires_at": None},
            {"service_account": account, "entitlement": entitlement, "ticket_ref": "OPS-7"},
            {"api_key": key, "role": role},
            {"user": person, "role": role, "starts_at": now + timedelta(days=2)},
            {"user": person, "entitlement": entitlement, "expires_at": now - timedelta(hours=1)},
            {"service_account": account, "role": role, "suspended_at": now},
            {"api_key": key, "entitlement": entitlement, "revoked_at": now},
        ]
        grants = []
        for spec in specs:
            fields: dict[str, Any] = {
                "tenant": tenant_a,
                "source": GrantSource.MANUAL,
                "starts_at": now - timedelta(days=3),
                "expires_at": now + timedelta(days=30),
                **spec,
            }
            grants.append(Grant.objects.create(**fields))
    return grants


def _expected(grant: Grant) -> dict[str, Any]:
    """What the endpoint answered when it built model instances (the models' own labels)."""
    subject = grant.subject
    return {
        "id": grant.pk,
        "subject_kind": grant.subject_kind,
        "subject_id": subject.pk,
        "subject": getattr(subject, "email", "") or str(subject),
        "target_kind": "entitlement" if grant.entitlement_id else "role",
        "target": grant.target_label,
        "source": grant.source,
        "state": grant.state,
        "ticket_ref": grant.ticket_ref,
    }


def test_grants_answer_what_the_models_say(
    issue_key: Any, tenant_a: Any, mixed_grants: list[Grant]
) -> None:
    client = bearer(issue_key().token)
    body = client.get("/api/v1/tenants/acme/grants?include_ended=true").json()
    GrantPageOut.model_validate(body)
    with tenant_context(tenant_a):
        expected = [_expected(Grant.objects.get(pk=g.pk)) for g in mixed_grants]
    got = [{k: v for k, v in item.items() if k in expected[0]} for item in body["items"]]
    assert got == expected
    assert {e["state"] for e in expected} == {
        "active", "scheduled", "expired", "suspended", "revoked"
    }  # fmt: skip
    assert {e["subject_kind"] for e in expected} == {"user", "service_account", "api_key"}
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[mixed_grants[1].pk]["expires_at"] is None
    assert by_id[mixed_grants[3].pk]["subject"].startswith("Deploy bot (cus_")

    current = client.get("/api/v1/tenants/acme/grants").json()["items"]
    assert {i["state"] for i in current} == {"active", "scheduled", "suspended"}


def test_grant_state_is_the_models_rule() -> None:
    now = timezone.now()
    hour = timedelta(hours=1)
    for revoked, suspended, starts, expires in [
        (None, None, now - hour, None),
        (None, None, now - hour, now + hour),
        (None, None, now + hour, now + 2 * hour),
        (None, None, now - 2 * hour, now - hour),
        (None, now, now - hour, now + hour),
        (now, now, now - hour, now + hour),
    ]:
        grant = Grant(
            revoked_at=revoked, suspended_at=suspended, starts_at=starts, expires_at=expires
        )
        assert _grant_state(_GrantTimes(revoked, suspended, starts, expires)) == grant.state


def test_audit_events_carry_the_models_labels_and_page_by_seq(
    issue_key: Any, tenant_a: Any, tenant_b: Any, admin_a: Any, member_a: Any
) -> None:
    for i in range(5):
        audit_event_record(
            action=f"test.thing_{i}", actor=admin_a, tenant=tenant_a, target=member_a
        )
    audit_event_record(action="test.elsewhere", actor=admin_a, tenant=tenant_b)
    client = bearer(issue_key().token)
    first = client.get("/api/v1/tenants/acme/audit-events?limit=3").json()
    AuditPageOut.model_validate(first)
    rest = client.get(
        f"/api/v1/tenants/acme/audit-events?limit=200&before_seq={first['next_before_seq']}"
    ).json()
    items = first["items"] + rest["items"]
    with tenant_context(tenant_a):
        events = list(AuditEvent.objects.filter(tenant=tenant_a).order_by("-seq"))
    assert [i["seq"] for i in items] == [e.seq for e in events]
    assert rest["next_before_seq"] is None
    for item, event in zip(items, events, strict=True):
        assert item["actor"] == event.actor_label
        assert item["target"] == event.target_label
        assert (item["action"], item["hash"], item["actor_id"]) == (
            event.action,
            event.hash,
            event.actor_id,
        )
    assert "test.elsewhere" not in {i["action"] for i in items}
    assert any(i["actor"] for i in items)
    assert any(i["target"] for i in items)

    only = client.get("/api/v1/tenants/acme/audit-events?action=test.thing_3").json()["items"]
    assert [i["action"] for i in only] == ["test.thing_3"]


def test_webhook_list_shows_no_secret(issue_key: Any, tenant_a: Any) -> None:
    with tenant_context(tenant_a):
        WebhookEndpoint.objects.create(
            tenant=tenant_a,
            url="https://hooks.acme.test/custos",
            secret="whsec_do-not-show",
            event_types=["grant.created"],
        )
    response = bearer(issue_key().token).get("/api/v1/tenants/acme/webhooks")
    assert response.status_code == 200
    assert b"whsec_" not in response.content
    [item] = response.json()
    WebhookEndpointOut.model_validate(item)
    assert set(item) == set(WebhookEndpointOut.model_fields)
    assert item["event_types"] == ["grant.created"]


def test_members_page_matches_its_schema(issue_key: Any, admin_a: Any, member_a: Any) -> None:
    body = bearer(issue_key().token).get("/api/v1/tenants/acme/members").json()
    MemberPageOut.model_validate(body)
    assert {i["email"] for i in body["items"]} >= {admin_a.email, member_a.email}


def test_response_bodies_are_plain_pydantic_models() -> None:
    """ninja's Schema reads each field through a Python getter; ApiOut is validated natively."""
    from ninja import Schema

    for schema in (GrantPageOut, AuditPageOut, MemberPageOut, WebhookEndpointOut):
        assert issubclass(schema, ApiOut)
        assert not issubclass(schema, Schema)
