"""The portal's Directory sync page: who may see it, tokens shown once, settings, the stale
access report and the revocation confirmations."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.identity.scim.models import ScimGroupRoleMapping, ScimSettings, ScimToken, ScimUser
from apps.lifecycle.leaver import user_deprovision

URL = "/t/acme/directory/"


def test_anonymous_is_sent_to_login(client, tenant_a):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_other_tenant_gets_404_and_member_403(client_for, outsider_b, member_a):
    assert client_for(outsider_b).get(URL).status_code == 404
    assert client_for(member_a).get(URL).status_code == 403


def test_admin_creates_token_shown_once_and_hashed(client_for, admin_a, tenant_a):
    browser = client_for(admin_a)
    page = browser.get(URL)
    assert page.status_code == 200
    assert "/scim/v2/acme/" in page.content.decode()
    response = browser.post(URL + "tokens/new/", {"name": "Entra ID"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    with tenant_context(tenant_a):
        token = ScimToken.objects.get()
    secret = re.search(rf'value="(scm_{token.prefix}_[A-Za-z0-9]+)"', html).group(1)
    assert secret not in browser.get(URL).content.decode()  # shown once
    assert token.secret_hash not in html
    rotated = browser.post(URL + f"tokens/{token.pk}/rotate/", {"overlap_hours": "1"})
    assert rotated.status_code == 200
    revoked = browser.post(URL + f"tokens/{token.pk}/revoke/", {"reason": "moved IdP"})
    assert revoked.status_code == 200
    with tenant_context(tenant_a):
        assert ScimToken.objects.get(pk=token.pk).revoked_at is not None


def test_settings_and_stale_report(client_for, admin_a, tenant_a, scim_a):
    scim_a.create_user("old@acme.test")
    with tenant_context(tenant_a):
        ScimUser.objects.update(last_confirmed_at=timezone.now() - timedelta(days=10))
    browser = client_for(admin_a)
    assert "old@acme.test" not in browser.get(URL).content.decode()  # 30 days by default
    response = browser.post(URL + "settings/", {"sync_interval_minutes": 40, "staleness_days": 7})
    assert response.status_code == 200
    assert "old@acme.test" in response.content.decode()
    with tenant_context(tenant_a):
        assert ScimSettings.objects.get().staleness_days == 7
    bad = browser.post(URL + "settings/", {"sync_interval_minutes": 0, "staleness_days": 7})
    assert bad.status_code == 200
    assert "errorlist" in bad.content.decode()


def test_confirmations_are_shown(client_for, admin_a, member_a, tenant_a):
    user_deprovision(actor=admin_a, user=member_a, tenant=tenant_a, reason="left", trigger="manual")
    html = client_for(admin_a).get(URL).content.decode()
    assert "mia@acme.test" in html
    assert "Access revocation confirmed at" in html


def test_group_mapping_create_and_delete(client_for, admin_a, tenant_a, scim_a):
    group = scim_a.call(
        "POST",
        "Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Finance"},
    ).json_body
    browser = client_for(admin_a)
    with tenant_context(tenant_a):
        from apps.identity.scim.models import ScimGroup

        pk = ScimGroup.objects.get(scim_id=group["id"]).pk
    response = browser.post(URL + "mappings/new/", {"group": pk, "role_key": "finance-reader"})
    assert response.status_code == 200
    with tenant_context(tenant_a):
        mapping = ScimGroupRoleMapping.objects.get()
    assert mapping.role_key == "finance-reader"
    browser.post(URL + f"mappings/{mapping.pk}/delete/")
    with tenant_context(tenant_a):
        assert not ScimGroupRoleMapping.objects.exists()
