"""Offboarding a vendor staff member (issue 8): disabling the account — from the staff console or
Django admin — revokes everything they held at once (grants in every tenant, sessions, API keys,
OAuth clients and their tokens) and marks every credential shared with a tenant they
administered for rotation, telling that tenant's admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.access.models import Grant, GrantSource, PermissionLevel, RiskLevel
from apps.access.services import grant_create
from apps.access.services.catalog import entitlement_create
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import StaffRole, User, UserKind
from apps.integrations.models import (
    ApiKey,
    CredentialRotationMark,
    CredentialState,
    OAuthAccessToken,
    SharedCredentialKind,
)
from apps.integrations.services.webhooks import EVENT_TYPES, webhook_endpoint_create
from apps.lifecycle.leaver import staff_offboard
from apps.tenants import services as tenant_services
from tests.conftest import make_user, verified_client
from tests.integrations.conftest import bearer
from tests.integrations.test_oauth import assertion, pem_public, register, token_request

pytestmark = pytest.mark.django_db


def _grant(tenant: Any, operator: Any, actor: Any, user: Any, slug: str) -> Grant:
    environment = tenant_services.environment_create(
        actor=operator, tenant=tenant, slug=slug, name=slug
    )
    entitlement = entitlement_create(
        actor=operator,
        tenant=tenant,
        environment=environment,
        level=PermissionLevel.READ,
        risk=RiskLevel.LOW,
        name=f"{slug}-read",
    )
    return grant_create(
        actor=actor,
        tenant=tenant,
        user=user,
        entitlement=entitlement,
        source=GrantSource.MANUAL,
        expires_at=timezone.now() + timedelta(hours=6),
        justification="support ticket",
    )


@pytest.fixture
def leaver(
    tenant_a: Any, tenant_b: Any, admin_a: Any, outsider_b: Any, operator: Any, settings: Any
) -> dict[str, Any]:
    """A vendor engineer who administered tenant A (so saw its webhook secret) and holds
    grants in A and B, an API key and an OAuth client (with a live token) in A, and a session."""
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    person = make_user(
        "vic@vendor.test",
        full_name="Vic Vendor",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SUPPORT_ENGINEER,
    )
    tenant_services.membership_add(
        actor=operator, tenant=tenant_a, user=person, role="customer_admin"
    )
    tenant_services.membership_add(actor=operator, tenant=tenant_b, user=person, role="member")
    grants = [
        _grant(tenant_a, operator, admin_a, person, "crm"),
        _grant(tenant_b, operator, outsider_b, person, "erp"),
    ]
    from apps.integrations.services.api_keys import api_key_create

    key = api_key_create(
        actor=person,
        tenant=tenant_a,
        name="vic's script",
        scopes=["audit:read"],
        technical_contact_email="vic@vendor.test",
    )
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = register(person, tenant_a, public_key_pem=pem_public(private))
    from apps.integrations.models import OAuthClient

    with tenant_context(tenant_a):
        OAuthClient.objects.filter(pk=client.pk).update(owner=person)
    token = token_request(assertion(private, client.client_id)).json()["access_token"]
    hook = webhook_endpoint_create(
        actor=admin_a,
        tenant=tenant_a,
        url="http://127.0.0.1:9/acme-hook",
        event_types=list(EVENT_TYPES)[:1],
    )
    session = Client()
    session.force_login(person)
    return {
        "user": person,
        "grants": grants,
        "key": key,
        "client": client,
        "token": token,
        "hook": hook.endpoint,
        "session": session,
    }


def _assert_everything_revoked(leaver: dict[str, Any], tenant_a: Any) -> None:
    person = leaver["user"]
    person.refresh_from_db()
    assert not person.is_active
    with unscoped(reason="test"):
        assert not Grant.objects.filter(user=person, revoked_at__isnull=True).exists()
        assert ApiKey.objects.get(pk=leaver["key"].key.pk).state == CredentialState.REVOKED
        assert not OAuthAccessToken.objects.filter(
            client_id=leaver["client"].pk, revoked_at__isnull=True
        ).exists()
    assert bearer(leaver["key"].token).get("/api/v1/me").status_code == 401
    assert bearer(leaver["token"]).get("/api/v1/me").status_code == 401
    ended = leaver["session"].get("/api/v1/me")
    assert ended.status_code == 401
    assert not ended.wsgi_request.user.is_authenticated
    with tenant_context(tenant_a):
        marks = list(CredentialRotationMark.objects.all())
    assert [(m.kind, m.object_id) for m in marks] == [
        (SharedCredentialKind.WEBHOOK_SECRET, leaver["hook"].pk)
    ]


def test_staff_offboard_revokes_everything_at_once(
    leaver: dict[str, Any],
    operator: Any,
    tenant_a: Any,
    tenant_b: Any,
    admin_a: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = staff_offboard(actor=operator, user=leaver["user"], reason="left the company")
    assert {c.tenant_id for c in result.confirmations} == {tenant_a.pk, tenant_b.pk}
    assert result.account_disabled
    assert result.oauth_clients_revoked == 1
    assert result.credentials_to_rotate == 1
    _assert_everything_revoked(leaver, tenant_a)
    # The tenant's (remaining) admins are told which credential to rotate; the leaver is not.
    rotation_mails = [m for m in mail.outbox if "rotate" in m.subject.lower()]
    assert len(rotation_mails) == 1
    assert rotation_mails[0].to == [admin_a.email]
    assert "acme-hook" in rotation_mails[0].body
    with unscoped(reason="test"):
        assert AuditEvent.objects.filter(action="lifecycle.staff_offboarded").count() == 1
        assert AuditEvent.objects.filter(action="credential.rotation_required").count() == 1
    # Idempotent: nothing new is revoked or marked, no second mail.
    with django_capture_on_commit_callbacks(execute=True):
        again = staff_offboard(actor=operator, user=leaver["user"], reason="again")
    assert again.credentials_to_rotate == 0
    assert len([m for m in mail.outbox if "rotate" in m.subject.lower()]) == 1


def test_rotating_the_webhook_secret_clears_the_mark(
    leaver: dict[str, Any], operator: Any, admin_a: Any, tenant_a: Any
) -> None:
    from apps.integrations.services.webhooks import webhook_endpoint_rotate_secret

    staff_offboard(actor=operator, user=leaver["user"], reason="left")
    webhook_endpoint_rotate_secret(actor=admin_a, endpoint=leaver["hook"], overlap_hours=1)
    with tenant_context(tenant_a):
        assert not CredentialRotationMark.objects.filter(resolved_at__isnull=True).exists()


def test_admin_confirms_a_rotation_in_the_portal(
    leaver: dict[str, Any], operator: Any, admin_a: Any, tenant_a: Any
) -> None:
    staff_offboard(actor=operator, user=leaver["user"], reason="left")
    client = verified_client(admin_a)
    home = client.get(reverse("integrations:home", kwargs={"tenant_slug": "acme"}))
    assert "acme-hook" in home.content.decode()
    with tenant_context(tenant_a):
        mark = CredentialRotationMark.objects.get()
    url = reverse(
        "integrations:rotation_mark_confirm", kwargs={"tenant_slug": "acme", "mark_id": mark.pk}
    )
    assert client.post(url).status_code == 302
    with tenant_context(tenant_a):
        mark.refresh_from_db()
    assert mark.resolved_at is not None
    assert mark.resolved_by == admin_a


def test_staff_console_offboards(leaver: dict[str, Any], tenant_a: Any) -> None:
    security = make_user("sec@vendor.test", kind=UserKind.STAFF, staff_role=StaffRole.SECURITY)
    client = verified_client(security)
    page = reverse("staff_integrations:staff_offboarding")
    assert "vic@vendor.test" in client.get(page).content.decode()
    url = reverse("staff_integrations:staff_offboard", kwargs={"user_id": leaver["user"].pk})
    refused = client.post(url, {"reason": "left"})  # not confirmed
    assert refused.status_code == 400
    assert User.objects.get(pk=leaver["user"].pk).is_active
    response = client.post(url, {"reason": "left the company", "confirm": "on"})
    assert response.status_code == 302
    _assert_everything_revoked(leaver, tenant_a)


def test_staff_console_is_for_security_staff_and_operators(
    client_for: Any, admin_a: Any, staff_engineer: Any, leaver: dict[str, Any]
) -> None:
    page = reverse("staff_integrations:staff_offboarding")
    url = reverse("staff_integrations:staff_offboard", kwargs={"user_id": leaver["user"].pk})
    assert Client().get(page).status_code == 302  # to sign-in
    for person in (admin_a, staff_engineer):
        client = client_for(person)
        assert client.get(page).status_code == 403
        assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 403
    assert User.objects.get(pk=leaver["user"].pk).is_active


def test_disabling_staff_in_django_admin_offboards(
    leaver: dict[str, Any], operator: Any, tenant_a: Any
) -> None:
    client = verified_client(operator)
    response = client.post(
        reverse("admin:identity_user_changelist"),
        {
            "action": "disable_users",
            "_selected_action": [leaver["user"].pk],
            "confirm": "yes",
            "reason": "left the company",
        },
    )
    assert response.status_code == 302
    _assert_everything_revoked(leaver, tenant_a)


def test_disabling_a_customer_in_django_admin_stays_a_plain_disable(
    operator: Any, member_a: Any
) -> None:
    client = verified_client(operator)
    client.post(
        reverse("admin:identity_user_changelist"),
        {
            "action": "disable_users",
            "_selected_action": [member_a.pk],
            "confirm": "yes",
            "reason": "test",
        },
    )
    member_a.refresh_from_db()
    assert not member_a.is_active
    with unscoped(reason="test"):
        assert not AuditEvent.objects.filter(action="lifecycle.staff_offboarded").exists()
