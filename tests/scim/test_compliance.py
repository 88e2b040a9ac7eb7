"""A real SCIM peer against a live server: scim2-tester (python-scim project) discovers the
service from /ServiceProviderConfig, /ResourceTypes and /Schemas, then creates, reads, queries,
replaces, patches and deletes Users and Groups with scim2-client over HTTP, validating every
response against the RFC 7643 models."""

from __future__ import annotations

import pytest

pytest.importorskip("scim2_tester")
httpx2 = pytest.importorskip("httpx2")

from scim2_client.engines.httpx2 import SyncSCIMClient  # noqa: E402
from scim2_tester import Status, check_server  # noqa: E402

from apps.identity.scim import services as scim_services  # noqa: E402

FAILING = {Status.ERROR, Status.CRITICAL}


@pytest.fixture
def live_scim(live_server, tenant_a, admin_a):
    secret = scim_services.scim_token_create(actor=admin_a, tenant=tenant_a, name="tester").secret
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2/{tenant_a.slug}/",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    client = SyncSCIMClient(http)
    yield client
    http.close()


@pytest.mark.django_db(transaction=True)
def test_scim2_tester_finds_no_errors(live_scim):
    results = check_server(live_scim)
    failures = [(r.title, r.resource_type, r.reason) for r in results if r.status in FAILING]
    assert not failures, "\n".join(map(str, failures))
    succeeded = [r for r in results if r.status == Status.SUCCESS]
    assert len(succeeded) > 20
    titles = {r.title for r in succeeded}
    assert {"check_add_attribute", "check_replace_attribute", "check_remove_attribute"} <= titles


@pytest.mark.django_db(transaction=True)
def test_scim2_client_round_trip(live_scim):
    from scim2_models import Email, Group, GroupMember, PatchOp, PatchOperation, User

    live_scim.discover()
    created = live_scim.create(
        User(
            user_name="round@acme-corp.com",
            emails=[Email(value="round@acme-corp.com", primary=True)],
        )
    )
    assert created.id
    group = live_scim.create(Group(display_name="Round", members=[GroupMember(value=created.id)]))
    assert group.members[0].value == created.id
    found = live_scim.query(User, query_parameters={"filter": 'userName eq "round@acme-corp.com"'})
    assert found.total_results == 1
    patch = PatchOp[User](
        operations=[PatchOperation(op=PatchOperation.Op.replace_, path="active", value=False)]
    )
    live_scim.modify(User, created.id, patch)
    assert live_scim.query(User, created.id).active is False
    live_scim.delete(User, created.id)
