"""SCIM /Users: create, read, filter, paginate, replace, patch (Entra ID and Okta forms),
ETags, deactivate and delete."""

from __future__ import annotations

import pytest

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.tenants.models import Membership
from tests.scim.conftest import USER_SCHEMA

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_create_user_links_membership_and_returns_scim_json(scim_a, tenant_a):
    body = scim_a.create_user(
        "jane@acme.test",
        externalId="ext-1",
        name={"givenName": "Jane", "familyName": "Doe"},
        emails=[{"value": "jane@acme.test", "type": "work", "primary": True}],
        **{ENTERPRISE: {"department": "Finance"}},
    )
    assert body["userName"] == "jane@acme.test"
    assert body["active"] is True
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["version"].startswith('W/"')
    assert body[ENTERPRISE]["department"] == "Finance"
    user = User.objects.get(email="jane@acme.test")
    assert user.full_name == "Jane Doe"
    with tenant_context(tenant_a):
        membership = Membership.objects.get(user=user)
    assert membership.is_active
    assert membership.department == "Finance"
    response = scim_a.call("GET", f"Users/{body['id']}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/scim+json")
    assert response["ETag"] == body["meta"]["version"]


def test_duplicate_user_name_is_409_uniqueness_and_nothing_half_written(scim_a):
    scim_a.create_user("dup@acme.test")
    response = scim_a.call("POST", "Users", {"schemas": [USER_SCHEMA], "userName": "DUP@acme.test"})
    assert response.status_code == 409
    assert response.json_body["scimType"] == "uniqueness"
    assert response.json_body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert User.objects.filter(email__iexact="dup@acme.test").count() == 1


def test_existing_account_outside_tenant_is_not_taken_over(scim_a, outsider_b):
    response = scim_a.call(
        "POST", "Users", {"schemas": [USER_SCHEMA], "userName": outsider_b.email}
    )
    assert response.status_code == 409
    assert response.json_body["scimType"] == "uniqueness"


def test_existing_member_is_linked_not_duplicated(scim_a, member_a):
    body = scim_a.create_user(member_a.email.upper(), externalId="x-mia")
    assert User.objects.filter(email__iexact=member_a.email).count() == 1
    assert body["userName"] == member_a.email.upper()


def test_missing_email_is_invalid_value(scim_a):
    response = scim_a.call("POST", "Users", {"schemas": [USER_SCHEMA], "userName": "no-email"})
    assert response.status_code == 400
    assert response.json_body["scimType"] == "invalidValue"
    assert not User.objects.filter(email="no-email").exists()


def test_malformed_json_is_invalid_syntax(scim_a):
    response = scim_a.client.post(
        scim_a.base + "Users",
        data="{not json",
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {scim_a.token}",
    )
    assert response.status_code == 400
    assert b"invalidSyntax" in response.content


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('userName eq "ann@acme.test"', ["ann@acme.test"]),
        ('userName eq "ANN@ACME.TEST"', ["ann@acme.test"]),
        ('userName co "b"', ["bob@acme.test"]),
        ('userName sw "c"', ["cat@acme.test"]),
        ('externalId eq "e-2"', ["bob@acme.test"]),
        ('emails.value eq "bob@acme.test"', ["bob@acme.test"]),
        ('emails[value co "cat"]', ["cat@acme.test"]),
        ("title pr", ["ann@acme.test"]),
        ('displayName eq "Bob B"', ["bob@acme.test"]),
        ("active eq false", ["cat@acme.test"]),
        ('userName sw "a" or userName sw "b"', ["ann@acme.test", "bob@acme.test"]),
        ('active eq true and not (userName eq "ann@acme.test")', ["bob@acme.test"]),
        ('meta.lastModified gt "2000-01-01T00:00:00Z"', ["ann", "bob", "cat"]),
        ('meta.lastModified ge "2999-01-01T00:00:00Z"', []),
    ],
)
def test_filters(scim_a, filter_text, expected):
    scim_a.create_user("ann@acme.test", externalId="e-1", title="Boss")
    scim_a.create_user("bob@acme.test", externalId="e-2", displayName="Bob B")
    scim_a.create_user(
        "cat@acme.test", active=False, emails=[{"value": "cat@acme.test", "type": "work"}]
    )
    response = scim_a.client.get(
        scim_a.base + "Users",
        {"filter": filter_text},
        HTTP_AUTHORIZATION=f"Bearer {scim_a.token}",
    )
    assert response.status_code == 200, response.content
    names = sorted(r["userName"] for r in response.json()["Resources"])
    if expected and "@" not in expected[0]:
        expected = [f"{e}@acme.test" for e in expected]
    assert names == expected
    assert response.json()["totalResults"] == len(expected)


@pytest.mark.parametrize(
    "filter_text",
    [
        'userName eq "unterminated',
        "userName xx 1",
        'nosuchattr eq "x"',
        'userName eq "a" and',
        "(userName pr",
        'active eq "maybe"',
        'meta.lastModified gt "yesterday"',
    ],
)
def test_invalid_filter_is_400_invalid_filter(scim_a, filter_text):
    response = scim_a.client.get(
        scim_a.base + "Users", {"filter": filter_text}, HTTP_AUTHORIZATION=f"Bearer {scim_a.token}"
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"
    assert response.json()["detail"]


def test_pagination(scim_a):
    for i in range(5):
        scim_a.create_user(f"p{i}@acme.test")
    response = scim_a.call("GET", "Users?startIndex=2&count=2")
    body = response.json_body
    assert body["totalResults"] == 5
    assert body["startIndex"] == 2
    assert body["itemsPerPage"] == 2
    assert [r["userName"] for r in body["Resources"]] == ["p1@acme.test", "p2@acme.test"]
    assert scim_a.call("GET", "Users?count=0").json_body["Resources"] == []
    assert scim_a.call("GET", "Users?startIndex=abc").status_code == 400


def test_put_replaces_and_if_match_mismatch_is_412(scim_a):
    body = scim_a.create_user("eve@acme.test", displayName="Eve")
    stale = body["meta"]["version"]
    replaced = scim_a.call(
        "PUT",
        f"Users/{body['id']}",
        {"schemas": [USER_SCHEMA], "userName": "eve@acme.test", "displayName": "Eve Two"},
        **{"If-Match": stale},
    )
    assert replaced.status_code == 200
    assert replaced.json_body["displayName"] == "Eve Two"
    assert replaced.json_body["meta"]["version"] != stale
    refused = scim_a.call(
        "PUT",
        f"Users/{body['id']}",
        {"schemas": [USER_SCHEMA], "userName": "eve@acme.test", "displayName": "Eve Three"},
        **{"If-Match": stale},
    )
    assert refused.status_code == 412
    assert scim_a.call("GET", f"Users/{body['id']}").json_body["displayName"] == "Eve Two"
    not_modified = scim_a.call(
        "GET", f"Users/{body['id']}", **{"If-None-Match": replaced.json_body["meta"]["version"]}
    )
    assert not_modified.status_code == 304


def test_patch_entra_forms(scim_a):
    body = scim_a.create_user("fay@acme.test")
    uid = body["id"]
    response = scim_a.patch(
        f"Users/{uid}",
        [
            {"op": "Replace", "path": "displayName", "value": "Fay F"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "fay@acme.test"},
            {"op": "Replace", "path": "name.givenName", "value": "Fay"},
            {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Sales"},
            {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": "boss-id"},
            {"op": "Replace", "value": {"title": "Rep", "name.familyName": "Fox"}},
        ],
    )
    assert response.status_code == 200, response.content
    got = response.json_body
    assert got["displayName"] == "Fay F"
    assert got["emails"] == [{"type": "work", "value": "fay@acme.test"}]
    assert got["name"] == {"givenName": "Fay", "familyName": "Fox"}
    assert got["title"] == "Rep"
    assert got[ENTERPRISE]["department"] == "Sales"
    assert got[ENTERPRISE]["manager"] == {"value": "boss-id"}
    removed = scim_a.patch(
        f"Users/{uid}", [{"op": "remove", "path": 'emails[type eq "work"]'}]
    ).json_body
    assert "emails" not in removed


def test_patch_readonly_and_bad_paths(scim_a):
    uid = scim_a.create_user("gus@acme.test")["id"]
    bad = scim_a.patch(f"Users/{uid}", [{"op": "replace", "path": "id", "value": "x"}])
    assert bad.status_code == 400
    assert bad.json_body["scimType"] == "mutability"
    bad = scim_a.patch(f"Users/{uid}", [{"op": "replace", "path": "nope[", "value": "x"}])
    assert bad.status_code == 400
    assert bad.json_body["scimType"] == "invalidPath"
    bad = scim_a.patch(f"Users/{uid}", [{"op": "jump", "path": "title", "value": "x"}])
    assert bad.status_code == 400
    bad = scim_a.call("PATCH", f"Users/{uid}", {"Operations": []})
    assert bad.status_code == 400
    assert bad.json_body["scimType"] == "invalidSyntax"


def test_unknown_user_is_404_scim_error(scim_a):
    response = scim_a.call("GET", "Users/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json_body["status"] == "404"
    assert scim_a.call("GET", "Users/not-a-uuid").status_code == 404
    assert scim_a.call("GET", "Nope").status_code == 404


def test_email_change_renames_the_account(scim_a):
    body = scim_a.create_user("kim@acme.test")
    response = scim_a.patch(
        f"Users/{body['id']}",
        [
            {
                "op": "replace",
                "path": "emails",
                "value": [{"value": "kim.new@acme.test", "primary": True}],
            }
        ],
    )
    assert response.status_code == 200
    assert User.objects.filter(email="kim.new@acme.test").exists()
    assert not User.objects.filter(email="kim@acme.test").exists()
