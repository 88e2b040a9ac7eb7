"""SCIM /Groups, discovery, authentication (wrong tenant, revoked, rotated tokens)."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.identity.scim import services as scim_services
from apps.identity.scim.models import ScimGroupMember, ScimToken
from tests.scim.conftest import PATCH_SCHEMA

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _group(scim, name, members=()):
    response = scim.call(
        "POST",
        "Groups",
        {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]},
    )
    assert response.status_code == 201, response.content
    return response.json_body


def test_group_create_filter_and_member_patches(scim_a, tenant_a):
    ann = scim_a.create_user("ann@acme.test")["id"]
    bob = scim_a.create_user("bob@acme.test")["id"]
    cat = scim_a.create_user("cat@acme.test")["id"]
    group = _group(scim_a, "Finance", [ann])
    assert [m["value"] for m in group["members"]] == [ann]
    gid = group["id"]
    found = scim_a.call("GET", 'Groups?filter=displayName eq "finance"').json_body
    assert found["totalResults"] == 1
    by_member = scim_a.call("GET", f'Groups?filter=members[value eq "{ann}"]').json_body
    assert by_member["totalResults"] == 1
    # Okta / Entra: add a list; Entra: remove with a value list; RFC filter remove.
    added = scim_a.patch(
        f"Groups/{gid}",
        [{"op": "add", "path": "members", "value": [{"value": bob}, {"value": cat}]}],
    )
    assert added.status_code == 200, added.content
    assert {m["value"] for m in added.json_body["members"]} == {ann, bob, cat}
    removed = scim_a.patch(
        f"Groups/{gid}", [{"op": "Remove", "path": "members", "value": [{"value": bob}]}]
    )
    assert {m["value"] for m in removed.json_body["members"]} == {ann, cat}
    removed = scim_a.patch(
        f"Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{ann}"]'}]
    )
    assert [m["value"] for m in removed.json_body["members"]] == [cat]
    renamed = scim_a.patch(
        f"Groups/{gid}",
        [{"op": "replace", "value": {"id": gid, "displayName": "Finance EU"}}],
    )
    assert renamed.json_body["displayName"] == "Finance EU"
    lean = scim_a.call("GET", f"Groups/{gid}?excludedAttributes=members").json_body
    assert "members" not in lean
    user = scim_a.call("GET", f"Users/{cat}").json_body
    assert user["groups"][0]["display"] == "Finance EU"
    assert scim_a.call("DELETE", f"Groups/{gid}").status_code == 204
    with tenant_context(tenant_a):
        assert not ScimGroupMember.objects.exists()


def test_group_unknown_member_is_invalid_value_and_nothing_created(scim_a):
    response = scim_a.call(
        "POST",
        "Groups",
        {"schemas": [GROUP], "displayName": "Ghosts", "members": [{"value": "nope"}]},
    )
    assert response.status_code == 400
    assert response.json_body["scimType"] == "invalidValue"
    assert scim_a.call("GET", "Groups").json_body["totalResults"] == 0


def test_group_if_match_412(scim_a):
    group = _group(scim_a, "Ops")
    ok = scim_a.patch(
        f"Groups/{group['id']}",
        [{"op": "replace", "path": "displayName", "value": "Ops 2"}],
        **{"If-Match": group["meta"]["version"]},
    )
    assert ok.status_code == 200
    stale = scim_a.patch(
        f"Groups/{group['id']}",
        [{"op": "replace", "path": "displayName", "value": "Ops 3"}],
        **{"If-Match": group["meta"]["version"]},
    )
    assert stale.status_code == 412
    assert stale.json_body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_discovery_endpoints(scim_a):
    spc = scim_a.call("GET", "ServiceProviderConfig").json_body
    assert spc["patch"]["supported"]
    assert spc["etag"]["supported"]
    assert spc["filter"]["supported"]
    types = scim_a.call("GET", "ResourceTypes").json_body
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    schemas = scim_a.call("GET", "Schemas").json_body
    assert schemas["totalResults"] == 3
    assert scim_a.call("GET", "ResourceTypes/User").json_body["endpoint"] == "/Users"


def test_other_tenants_token_is_401_and_audited(scim_a, scim_b, tenant_a):
    wrong = type(scim_a)(tenant_a, scim_b.token)
    response = wrong.call("GET", "Users")
    assert response.status_code == 401
    assert response.json_body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="scim.auth_refused").exists()
    # and nothing of tenant B leaks either way
    scim_b.create_user("otto2@globex.test")
    assert scim_a.call("GET", "Users").json_body["totalResults"] == 0


def test_missing_garbage_and_unknown_tenant_tokens_are_401(scim_a, client):
    assert client.get(scim_a.base + "Users").status_code == 401
    assert client.get(scim_a.base + "Users", HTTP_AUTHORIZATION="Bearer x").status_code == 401
    response = client.get("/scim/v2/nope/Users", HTTP_AUTHORIZATION=f"Bearer {scim_a.token}")
    assert response.status_code == 401


def test_revoked_and_rotated_tokens(scim_a, tenant_a, admin_a):
    with tenant_context(tenant_a):
        token = ScimToken.objects.get()
    issued = scim_services.scim_token_rotate(actor=admin_a, token=token, overlap_hours=1)
    assert scim_a.call("GET", "Users").status_code == 200  # overlap: the old one still works
    successor = type(scim_a)(tenant_a, issued.secret)
    assert successor.call("GET", "Users").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert scim_a.call("GET", "Users").status_code == 401
        assert successor.call("GET", "Users").status_code == 200
    scim_services.scim_token_revoke(actor=admin_a, token=issued.token, reason="leak")
    assert successor.call("GET", "Users").status_code == 401
    with tenant_context(tenant_a):
        assert ScimToken.objects.get(pk=issued.token.pk).last_used_at is not None
        assert len(ScimToken.objects.get(pk=issued.token.pk).secret_hash) == 64


def test_rate_limit_answers_429(scim_a, tenant_a, admin_a):
    scim_services.scim_settings_update(
        actor=admin_a,
        tenant=tenant_a,
        sync_interval_minutes=40,
        staleness_days=30,
        rate_limit_per_minute=60,
        rate_limit_burst=2,
    )
    codes = [scim_a.call("GET", "ServiceProviderConfig").status_code for _ in range(4)]
    assert codes[:2] == [200, 200]
    assert 429 in codes


def test_patch_group_requires_patchop_schema(scim_a):
    group = _group(scim_a, "Eng")
    bad = scim_a.call(
        "PATCH",
        f"Groups/{group['id']}",
        {"schemas": ["x"], "Operations": [{"op": "add", "path": "members", "value": []}]},
    )
    assert bad.status_code == 400
    ok = scim_a.call(
        "PATCH",
        f"Groups/{group['id']}",
        {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": []}]},
    )
    assert ok.status_code == 200
