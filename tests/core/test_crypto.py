"""Envelope encryption: round trips, binding to tenant and purpose, nothing clear in the
database, the KEK file, and key rotation that loses nothing."""

from __future__ import annotations

import base64
import json
import os
import stat
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from apps.core.crypto import (
    SecretError,
    SecretFormatError,
    SecretTamperedError,
    data_key_active,
    field_secret_get,
    secret_decrypt,
    secret_encrypt,
)
from apps.core.crypto.envelope import crypto_caches_clear, kek_version_usage
from apps.core.crypto.models import DataKey, DataKeyStatus
from apps.core.crypto.providers import KeyProviderError, LocalFileKeyProvider, get_key_provider
from apps.core.crypto.rotation import kek_versions_retire_unused
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
SECRET = "client-secret-Zq8XvT3kLm"


@pytest.fixture(autouse=True)
def _own_key_file(settings: Any, tmp_path: Any) -> None:
    settings.KEK_FILE = tmp_path / "keys" / "kek.json"
    crypto_caches_clear()


def _dump(table: str) -> str:
    """Every raw row of `table` (across tenants, so RLS shows them all on PostgreSQL)."""
    with unscoped(reason="test: scan raw rows"), connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
        rows = cursor.fetchall()
    assert rows, f"{table} is empty: the scan would prove nothing"
    return repr(rows)


def _endpoint(tenant: Any, secret: str) -> WebhookEndpoint:
    with tenant_context(tenant):
        endpoint = WebhookEndpoint(tenant=tenant, url="https://hooks.example.com/x", secret=secret)
        endpoint.save()
        return endpoint


def test_round_trip_for_a_tenant_and_the_platform(tenant_a):
    for tenant in (tenant_a, None):
        first = secret_encrypt(tenant=tenant, plaintext=SECRET, purpose="test.field")
        second = secret_encrypt(tenant=tenant, plaintext=SECRET, purpose="test.field")
        assert first != second  # fresh nonce each time
        assert SECRET not in first
        assert first.startswith("enc:v1:")
        assert secret_decrypt(tenant=tenant, ciphertext=first, purpose="test.field") == SECRET
    assert (
        secret_decrypt(
            tenant=tenant_a,
            ciphertext=secret_encrypt(tenant=tenant_a, plaintext="ünïcødé ✓"),
        )
        == "ünïcødé ✓"
    )


def test_a_value_is_bound_to_its_tenant_and_purpose(tenant_a, tenant_b):
    value = secret_encrypt(tenant=tenant_a, plaintext=SECRET, purpose="a.field")
    with pytest.raises(SecretTamperedError) as other_tenant:
        secret_decrypt(tenant=tenant_b, ciphertext=value, purpose="a.field")
    with pytest.raises(SecretTamperedError):
        secret_decrypt(tenant=None, ciphertext=value, purpose="a.field")
    with pytest.raises(SecretTamperedError):
        secret_decrypt(tenant=tenant_a, ciphertext=value, purpose="another.field")
    assert SECRET not in str(other_tenant.value)


def test_tampered_or_malformed_values_are_refused(tenant_a):
    value = secret_encrypt(tenant=tenant_a, plaintext=SECRET)
    head, ciphertext = value.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(ciphertext + "=" * (-len(ciphertext) % 4)))
    raw[0] ^= 1
    flipped = head + ":" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(SecretTamperedError):
        secret_decrypt(tenant=tenant_a, ciphertext=flipped)
    for bad in ("plain text", "enc:v1:12:abc", "enc:v1:0000000001:!!:??"):
        with pytest.raises(SecretFormatError):
            secret_decrypt(tenant=tenant_a, ciphertext=bad)
    with pytest.raises(SecretError):
        secret_decrypt(tenant=tenant_a, ciphertext="enc:v1:9999999999:" + value.split(":", 3)[3])


def test_no_clear_text_or_clear_key_reaches_the_database(tenant_a):
    endpoint = _endpoint(tenant_a, SECRET)
    assert endpoint.secret.startswith("enc:v1:")  # encrypted on save, in memory too
    assert SECRET not in _dump("integrations_webhookendpoint")
    with tenant_context(tenant_a):
        fresh = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert field_secret_get(fresh, "secret") == SECRET
    # The data key is stored wrapped only: its clear bytes appear nowhere in the table.
    data_key = data_key_active(tenant=tenant_a)
    clear = get_key_provider().unwrap(
        base64.b64decode(data_key.wrapped_key),
        version=data_key.kek_version,
        context=f"custos-datakey:{data_key.scope}:{data_key.version}".encode(),
    )
    dump = _dump("core_datakey")
    for form in (clear.hex(), base64.b64encode(clear).decode(), repr(clear)):
        assert form not in dump
    assert data_key.wrapped_key not in repr(data_key)


def test_clear_text_cannot_be_written_with_a_queryset_update(tenant_a):
    endpoint = _endpoint(tenant_a, SECRET)
    with tenant_context(tenant_a), pytest.raises(ValueError, match="clear text"):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret="oops-clear")


def test_key_file_is_created_private_and_refused_when_readable_by_others(settings, tmp_path):
    secret_encrypt(tenant=None, plaintext="x")
    path = settings.KEK_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["current"] == "v1"
    os.chmod(path, 0o644)
    with pytest.raises(ImproperlyConfigured, match="0600"):
        LocalFileKeyProvider(path).current_version()


def test_one_active_data_key_per_scope(tenant_a):
    first = data_key_active(tenant=tenant_a)
    assert data_key_active(tenant=tenant_a).pk == first.pk
    assert data_key_active(tenant=None).pk != first.pk
    with unscoped(reason="test"):
        assert DataKey.objects.filter(status=DataKeyStatus.ACTIVE).count() == 2


def _values(tenant_a: Any, tenant_b: Any) -> dict[str, tuple[Any, str]]:
    return {
        "a": (tenant_a, secret_encrypt(tenant=tenant_a, plaintext="alpha", purpose="p")),
        "b": (tenant_b, secret_encrypt(tenant=tenant_b, plaintext="bravo", purpose="p")),
        "platform": (None, secret_encrypt(tenant=None, plaintext="charlie", purpose="p")),
    }


def _assert_readable(values: dict[str, tuple[Any, str]]) -> None:
    crypto_caches_clear()  # no help from memory: unwrap from the database
    expected = {"a": "alpha", "b": "bravo", "platform": "charlie"}
    for name, (tenant, value) in values.items():
        assert secret_decrypt(tenant=tenant, ciphertext=value, purpose="p") == expected[name]


def test_rotation_rewraps_every_data_key_without_losing_data(tenant_a, tenant_b, capsys):
    values = _values(tenant_a, tenant_b)
    call_command("rotate_keys")
    assert kek_version_usage() == {"v2": 3}
    _assert_readable(values)
    states = {v.version: v.state for v in get_key_provider().versions()}
    assert states == {"v1": "previous", "v2": "current"}  # old KEK kept until retired
    with unscoped(reason="test"):
        assert AuditEvent.objects.filter(action="keys.kek_rotated").exists()
        assert all(dk.rotated_at for dk in DataKey.objects.all())

    call_command("rotate_keys", "--skip-kek")  # idempotent: nothing left to do
    assert "Re-wrapped 0" in capsys.readouterr().out

    call_command("rotate_keys", "--skip-kek", "--retire-old")
    states = {v.version: v.state for v in get_key_provider().versions()}
    assert states == {"v1": "retired", "v2": "current"}
    data = json.loads(get_key_provider().path.read_text())  # type: ignore[attr-defined]
    assert data["versions"]["v1"]["key"] is None  # material destroyed
    _assert_readable(values)


def test_an_interrupted_rotation_resumes_without_a_new_version(tenant_a, tenant_b, capsys):
    values = _values(tenant_a, tenant_b)
    provider = get_key_provider()
    provider.create_version()  # the command died right after making v2
    assert kek_version_usage() == {"v1": 3}
    assert kek_versions_retire_unused() == []  # v1 still wraps data keys: kept
    call_command("rotate_keys")
    out = capsys.readouterr().out
    assert "Resuming" in out
    assert kek_version_usage() == {"v2": 3}
    assert [v.version for v in provider.versions()] == ["v1", "v2"]
    _assert_readable(values)


def test_retired_kek_cannot_unwrap(tenant_a):
    value = secret_encrypt(tenant=tenant_a, plaintext="x")
    provider = get_key_provider()
    with pytest.raises(KeyProviderError):
        provider.retire_version(provider.current_version())
    call_command("rotate_keys", "--retire-old")
    with pytest.raises(KeyProviderError):
        provider.unwrap(b"\0" * 40, version="v1", context=b"")
    assert secret_decrypt(tenant=tenant_a, ciphertext=value) == "x"


def test_data_key_rotation_and_reencryption(tenant_a, tenant_b):
    values = _values(tenant_a, tenant_b)
    endpoint = _endpoint(tenant_a, SECRET)
    old_key_id = data_key_active(tenant=tenant_a).pk
    call_command("rotate_keys", "--skip-kek", "--data-keys")
    new_key_id = data_key_active(tenant=tenant_a).pk
    assert new_key_id != old_key_id
    with unscoped(reason="test"):
        assert DataKey.objects.get(pk=old_key_id).status == DataKeyStatus.DECRYPT_ONLY
    _assert_readable(values)  # old values still open with the superseded key
    call_command("rotate_keys", "--skip-kek", "--reencrypt")
    with tenant_context(tenant_a):
        fresh = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert fresh.secret.startswith(f"enc:v1:{new_key_id:010d}:")
    assert field_secret_get(fresh, "secret") == SECRET
