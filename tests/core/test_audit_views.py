"""Audit pages: a customer admin sees their own tenant's events (and downloads a trail they can
verify offline); compliance staff search every tenant, and that search is on the record."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from apps.core.audit import checkpoints
from apps.core.audit.services import audit_event_record
from apps.core.models import AuditEvent, chain_key
from apps.core.tenancy import unscoped

HTMX = {"HTTP_HX_REQUEST": "true"}
VERIFIER = Path(settings.BASE_DIR) / "docs" / "verify_tenant_audit.py"


def load_verifier():
    spec = importlib.util.spec_from_file_location("verify_tenant_audit", VERIFIER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def busy_tenants(tenant_a, tenant_b, admin_a, outsider_b, operator):
    audit_event_record(action="grant.revoked", actor=admin_a, tenant=tenant_a, outcome="success")
    audit_event_record(action="login.failed", actor=admin_a, tenant=tenant_a, outcome="failure")
    audit_event_record(action="globex.secret", actor=outsider_b, tenant=tenant_b)
    return tenant_a, tenant_b


# --- Tenant page -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(tenant_a):
    for url in ("/t/acme/audit/", "/t/acme/audit/export.jsonl", "/staff/audit/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_customer_admin_sees_own_tenant_only(client_for, admin_a, busy_tenants):
    response = client_for(admin_a).get("/t/acme/audit/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "grant.revoked" in body
    assert "globex.secret" not in body
    assert "Otto Outsider" not in body
    assert 'href="/t/acme/audit/export.jsonl"' in body


@pytest.mark.django_db
def test_member_gets_403_and_outsider_404(client_for, member_a, outsider_b, busy_tenants):
    for url in ("/t/acme/audit/", "/t/acme/audit/export.jsonl"):
        assert client_for(member_a).get(url).status_code == 403
        assert client_for(outsider_b).get(url).status_code == 404


@pytest.mark.django_db
def test_filters_and_htmx_partial(client_for, admin_a, busy_tenants):
    client = client_for(admin_a)
    full = client.get("/t/acme/audit/", {"outcome": "failure"})
    assert "<form" in full.content.decode()
    assert "HX-Request" in full["Vary"]

    partial = client.get("/t/acme/audit/", {"outcome": "failure"}, **HTMX)
    body = partial.content.decode()
    assert partial.status_code == 200
    assert "HX-Request" in partial["Vary"]
    assert "<html" not in body
    assert "<form" not in body
    assert "<table" in body
    assert "login.failed" in body
    assert "grant.revoked" not in body

    by_action = client.get("/t/acme/audit/", {"action": "grant."}, **HTMX).content.decode()
    assert "grant.revoked" in by_action
    assert "login.failed" not in by_action


@pytest.mark.django_db
def test_history_restore_gets_the_full_page(client_for, admin_a, busy_tenants):
    response = client_for(admin_a).get(
        "/t/acme/audit/", **HTMX, HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<form" in response.content.decode()


@pytest.mark.django_db
def test_pagination_keeps_the_filters(client_for, admin_a, tenant_a):
    for i in range(55):
        audit_event_record(action="bulk.item", actor=admin_a, tenant=tenant_a, details={"i": i})
    client = client_for(admin_a)
    first = client.get("/t/acme/audit/", {"action": "bulk."}, **HTMX).content.decode()
    assert first.count("<code>bulk.item</code>") == 50
    assert "?action=bulk.&amp;page=2" in first
    second = client.get("/t/acme/audit/", {"action": "bulk.", "page": "2"}, **HTMX)
    body = second.content.decode()
    assert body.count("<code>bulk.item</code>") == 5
    assert "page=1" in body  # "Newer"
    assert "page=3" not in body
    assert client.get("/t/acme/audit/", {"page": "nonsense"}).status_code == 200


# --- Staff search ----------------------------------------------------------------------------


def searched_events() -> list[AuditEvent]:
    with unscoped(reason="test"):
        return list(AuditEvent.objects.filter(action="audit.searched").order_by("seq"))


@pytest.mark.django_db
def test_compliance_searches_across_tenants_and_is_recorded(
    client_for, compliance_officer, busy_tenants
):
    client = client_for(compliance_officer)
    body = client.get("/staff/audit/").content.decode()
    assert "grant.revoked" in body
    assert "globex.secret" in body

    partial = client.get("/staff/audit/", {"tenant": "globex", "q": "secret"}, **HTMX)
    body = partial.content.decode()
    assert "<form" not in body
    assert "globex.secret" in body
    assert "grant.revoked" not in body
    assert "HX-Request" in partial["Vary"]

    recorded = searched_events()
    assert len(recorded) == 2
    last = recorded[-1]
    assert last.chain == "platform"
    assert last.actor_id == compliance_officer.pk
    assert last.personal["details"]["filters"] == {"q": "secret", "tenant_slug": "globex"}


@pytest.mark.django_db
def test_staff_search_needs_oversight(client_for, staff_engineer, admin_a, busy_tenants):
    assert client_for(staff_engineer).get("/staff/audit/").status_code == 403
    assert client_for(admin_a).get("/staff/audit/").status_code == 403
    assert searched_events() == []


# --- Customer-verifiable download --------------------------------------------------------------


def download(client: Client, tmp_path: Path) -> tuple[Path, list[dict]]:
    response = client.get("/t/acme/audit/export.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    return path, [json.loads(line) for line in data.decode().splitlines()]


@pytest.mark.django_db
def test_customer_downloads_own_chain_and_verifies_it_offline(
    client_for, admin_a, tenant_a, busy_tenants, tmp_path, capsys
):
    assert checkpoints.checkpoint_create() is not None
    path, lines = download(client_for(admin_a), tmp_path)

    header, checkpoint, *events = lines
    assert header["chain"] == chain_key(tenant_a.pk)
    assert {e["tenant_id"] for e in events} == {tenant_a.pk}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert "globex.secret" not in path.read_text()
    assert events[-1]["action"] == "audit.exported"  # the download itself is on the record
    assert checkpoint["leaf"][0] == chain_key(tenant_a.pk)
    assert checkpoint["proof"]

    key_file = tmp_path / "vendor-key.pem"
    key_file.write_text(checkpoints.public_key_pem())
    verifier = load_verifier()
    assert verifier.main([str(path), "--public-key", str(key_file)]) == 0
    output = capsys.readouterr().out
    assert "VERIFIED" in output
    assert "1 newer event(s) are chained but not yet covered by a signature" in output


@pytest.mark.django_db
def test_offline_verifier_catches_an_edited_download(
    client_for, admin_a, busy_tenants, tmp_path, capsys
):
    checkpoints.checkpoint_create()
    path, lines = download(client_for(admin_a), tmp_path)
    target = next(line for line in lines if line.get("action") == "login.failed")
    target["outcome"] = "success"  # hide a failed login
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    verifier = load_verifier()
    assert verifier.main([str(path)]) == 1
    assert f"seq {target['seq']}: event hash does not recompute" in capsys.readouterr().out


@pytest.mark.django_db
def test_offline_verifier_rejects_a_checkpoint_from_another_key(
    client_for, admin_a, busy_tenants, tmp_path, capsys
):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    checkpoints.checkpoint_create()
    path, _lines = download(client_for(admin_a), tmp_path)
    other = tmp_path / "other.pem"
    other.write_text(checkpoints.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    assert load_verifier().main([str(path), "--public-key", str(other)]) == 1
    assert "signed by a different key" in capsys.readouterr().out


@pytest.mark.django_db
def test_download_before_any_checkpoint_says_so(client_for, admin_a, busy_tenants, tmp_path):
    _path, lines = download(client_for(admin_a), tmp_path)
    assert lines[1] == {"type": "checkpoint", "missing": "no checkpoint has been signed yet"}
