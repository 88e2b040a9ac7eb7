"""Envelope encryption of secrets at rest.

    KEK (key provider, outside the DB)  --wraps-->  data key per tenant (DataKey, wrapped)
    data key (AES-256-GCM)              --encrypts-->  each secret value

A stored value is text: ``enc:v1:<data key id, 10 digits>:<nonce>:<ciphertext+tag>`` (base64url,
no padding). The data key id makes rotation possible (old values name the key that opens them);
the fixed width lets the key-status page count values per data key in SQL. The associated data
binds a value to its data key, the key's tenant scope and a *purpose* (which field it belongs
to), so a ciphertext copied into another tenant's row or another column does not decrypt.

Clear text is returned to the caller and nowhere else: never logged, never in an exception.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.crypto.models import DataKey, DataKeyStatus, data_key_scope
from apps.core.crypto.providers import KeyProviderError, get_key_provider
from apps.core.tenancy import unscoped

PREFIX = "enc:v1:"
ID_WIDTH = 10
NONCE_BYTES = 12
# Unwrapped data keys are kept in memory for a while so a KMS is not called on every decrypt.
# The cache is keyed by the wrapped blob, so a re-wrap or a different database never serves a
# stale key.
KEY_CACHE_SECONDS = 300


class SecretError(Exception):
    """A stored secret could not be encrypted or decrypted. Never carries clear text."""


class SecretFormatError(SecretError):
    pass


class SecretTamperedError(SecretError):
    pass


def _tenant_id(tenant: Any) -> int | None:
    if tenant is None:
        return None
    return int(getattr(tenant, "pk", tenant))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _wrap_context(scope: str, version: int) -> bytes:
    return f"custos-datakey:{scope}:{version}".encode()


def _value_aad(key_id: int, scope: str, purpose: str) -> bytes:
    return f"custos-secret:v1:{key_id}:{scope}:{purpose}".encode()


_cache: dict[str, tuple[float, bytes]] = {}
_cache_lock = threading.Lock()


def _unwrap(data_key: DataKey) -> bytes:
    cache_key = hashlib.sha256(
        f"{data_key.pk}:{data_key.kek_version}:{data_key.wrapped_key}".encode()
    ).hexdigest()
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
    try:
        key = get_key_provider().unwrap(
            base64.b64decode(data_key.wrapped_key),
            version=data_key.kek_version,
            context=_wrap_context(data_key.scope, data_key.version),
        )
    except KeyProviderError as exc:
        raise SecretError(f"data key {data_key.pk} cannot be unwrapped: {exc}") from exc
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[cache_key] = (now + KEY_CACHE_SECONDS, key)
    return key


def crypto_caches_clear() -> None:
    """Forget unwrapped data keys (tests; after retiring a key-encryption key)."""
    with _cache_lock:
        _cache.clear()


def _new_data_key(*, tenant_id: int | None, version: int) -> DataKey:
    scope = data_key_scope(tenant_id)
    key = AESGCM.generate_key(bit_length=256)
    kek_version, blob = get_key_provider().wrap(key, context=_wrap_context(scope, version))
    return DataKey(
        tenant_id=tenant_id,
        scope=scope,
        version=version,
        status=DataKeyStatus.ACTIVE,
        wrapped_key=base64.b64encode(blob).decode("ascii"),
        kek_version=kek_version,
    )


def data_key_active(*, tenant: Any) -> DataKey:
    """The data key that encrypts new values of `tenant` (None: the platform), created on
    first use. Two processes creating it at once: the unique constraint picks one."""
    tenant_id = _tenant_id(tenant)
    scope = data_key_scope(tenant_id)
    with unscoped(reason="envelope encryption: the active data key of a scope"):
        found = DataKey.objects.filter(scope=scope, status=DataKeyStatus.ACTIVE).first()
        if found is not None:
            return found
        data_key = _new_data_key(tenant_id=tenant_id, version=1)
        try:
            with transaction.atomic():
                data_key.save()
            return data_key
        except IntegrityError:
            return DataKey.objects.get(scope=scope, status=DataKeyStatus.ACTIVE)


def data_key_rotate(*, tenant: Any) -> DataKey:
    """Make a new data key version active for `tenant`; the old one keeps decrypting (values
    move over when re-encrypted: `rotate_keys --reencrypt`, or whenever they are written)."""
    tenant_id = _tenant_id(tenant)
    scope = data_key_scope(tenant_id)
    with unscoped(reason="envelope encryption: rotate a data key"), transaction.atomic():
        current = (
            DataKey.objects.select_for_update()
            .filter(scope=scope, status=DataKeyStatus.ACTIVE)
            .first()
        )
        latest = DataKey.objects.filter(scope=scope).order_by("-version").first()
        version = (latest.version if latest else 0) + 1
        if current is not None:
            DataKey.objects.filter(pk=current.pk).update(
                status=DataKeyStatus.DECRYPT_ONLY, superseded_at=timezone.now()
            )
        data_key = _new_data_key(tenant_id=tenant_id, version=version)
        data_key.save()
        return data_key


def secret_is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


@dataclass(frozen=True)
class _Parsed:
    key_id: int
    nonce: bytes
    ciphertext: bytes


def _parse(value: str) -> _Parsed:
    if not secret_is_encrypted(value):
        raise SecretFormatError("not an encrypted value")
    parts = value[len(PREFIX) :].split(":")
    if len(parts) != 3 or len(parts[0]) != ID_WIDTH or not parts[0].isdigit():
        raise SecretFormatError("malformed encrypted value")
    try:
        nonce, ciphertext = _b64d(parts[1]), _b64d(parts[2])
    except ValueError as exc:
        raise SecretFormatError("malformed encrypted value") from exc
    if len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
        raise SecretFormatError("malformed encrypted value")
    return _Parsed(int(parts[0]), nonce, ciphertext)


def secret_data_key_id(value: str) -> int | None:
    try:
        return _parse(value).key_id
    except SecretFormatError:
        return None


def secret_encrypt(*, tenant: Any, plaintext: str, purpose: str = "") -> str:
    """Encrypt `plaintext` with the active data key of `tenant` (None: platform). `purpose`
    names where the value lives (e.g. "integrations.webhookendpoint.secret"); decrypt must
    pass the same one."""
    if not isinstance(plaintext, str):
        raise TypeError("secret_encrypt takes text")
    data_key = data_key_active(tenant=tenant)
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _value_aad(data_key.pk, data_key.scope, purpose)
    ciphertext = AESGCM(_unwrap(data_key)).encrypt(nonce, plaintext.encode("utf-8"), aad)
    return f"{PREFIX}{data_key.pk:0{ID_WIDTH}d}:{_b64e(nonce)}:{_b64e(ciphertext)}"


def secret_decrypt(*, tenant: Any, ciphertext: str, purpose: str = "") -> str:
    """Decrypt a value made by `secret_encrypt` for the same tenant and purpose. Raises
    SecretError (never with the value) when it is malformed, of another tenant or tampered."""
    parsed = _parse(ciphertext)
    scope = data_key_scope(_tenant_id(tenant))
    with unscoped(reason="envelope encryption: load the data key named by a value"):
        data_key = DataKey.objects.filter(pk=parsed.key_id).first()
    if data_key is None:
        raise SecretError(f"data key {parsed.key_id} does not exist")
    if data_key.scope != scope:
        raise SecretTamperedError("the value belongs to another tenant")
    aad = _value_aad(data_key.pk, data_key.scope, purpose)
    try:
        clear = AESGCM(_unwrap(data_key)).decrypt(parsed.nonce, parsed.ciphertext, aad)
    except InvalidTag as exc:
        raise SecretTamperedError("the value failed authentication") from exc
    return clear.decode("utf-8")


def secret_reencrypt(*, tenant: Any, ciphertext: str, purpose: str = "") -> str | None:
    """The value re-encrypted with the tenant's active data key, or None when it already is."""
    parsed = _parse(ciphertext)
    active = data_key_active(tenant=tenant)
    if parsed.key_id == active.pk:
        return None
    plaintext = secret_decrypt(tenant=tenant, ciphertext=ciphertext, purpose=purpose)
    return secret_encrypt(tenant=tenant, plaintext=plaintext, purpose=purpose)


@dataclass
class RewrapReport:
    kek_version: str
    rewrapped: int = 0
    already_current: int = 0
    remaining_by_version: dict[str, int] | None = None


def data_keys_rewrap(*, batch_size: int = 200) -> RewrapReport:
    """Re-wrap every data key not wrapped with the provider's current KEK version. Each row is
    updated with a conditional UPDATE (only if still wrapped as read), so it is safe to run
    while the application serves requests, to interrupt, and to run again (resumable and
    idempotent). The clear data key is unchanged, so no value needs re-encrypting."""
    provider = get_key_provider()
    current = provider.current_version()
    report = RewrapReport(kek_version=current)
    last_id = 0
    with unscoped(reason="key rotation: re-wrap every data key"):
        report.already_current = DataKey.objects.filter(kek_version=current).count()
        while True:
            batch = list(
                DataKey.objects.filter(pk__gt=last_id)
                .exclude(kek_version=current)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            for data_key in batch:
                last_id = data_key.pk
                context = _wrap_context(data_key.scope, data_key.version)
                clear = _unwrap(data_key)
                version, blob = provider.wrap(clear, context=context)
                if version != current:  # another rotation started meanwhile
                    current = version
                    report.kek_version = version
                updated = DataKey.objects.filter(
                    pk=data_key.pk,
                    kek_version=data_key.kek_version,
                    wrapped_key=data_key.wrapped_key,
                ).update(
                    wrapped_key=base64.b64encode(blob).decode("ascii"),
                    kek_version=version,
                    rotated_at=timezone.now(),
                )
                report.rewrapped += updated
        remaining: dict[str, int] = {}
        for row in (
            DataKey.objects.exclude(kek_version=report.kek_version)
            .values_list("kek_version", flat=True)
            .order_by()
        ):
            remaining[row] = remaining.get(row, 0) + 1
    report.remaining_by_version = remaining
    return report


def kek_version_usage() -> dict[str, int]:
    """How many data keys each KEK version wraps."""
    from django.db.models import Count

    with unscoped(reason="key status: data keys per key-encryption key version"):
        rows = DataKey.objects.values("kek_version").annotate(n=Count("id")).order_by()
        return {row["kek_version"]: row["n"] for row in rows}
