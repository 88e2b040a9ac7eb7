"""Key rotation steps used by `manage.py rotate_keys` (each safe to run while serving, to
interrupt and to run again)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from apps.core.crypto.envelope import (
    ID_WIDTH,
    PREFIX,
    data_key_active,
    data_key_rotate,
    kek_version_usage,
    secret_reencrypt,
)
from apps.core.crypto.fields import protected_fields
from apps.core.crypto.models import DataKey, DataKeyStatus
from apps.core.crypto.providers import get_key_provider
from apps.core.tenancy import unscoped


@dataclass
class ReencryptReport:
    reencrypted: int = 0
    unchanged: int = 0
    failed: int = 0
    by_field: dict[str, int] = field(default_factory=dict)


def data_keys_rotate_all() -> list[DataKey]:
    """A new active data key for every scope that has one."""
    with unscoped(reason="key rotation: list the scopes with data keys"):
        tenant_ids = list(
            DataKey.objects.filter(status=DataKeyStatus.ACTIVE)
            .values_list("tenant_id", flat=True)
            .order_by("scope")
        )
    return [data_key_rotate(tenant=tenant_id) for tenant_id in tenant_ids]


def values_reencrypt(*, batch_size: int = 200) -> ReencryptReport:
    """Move every protected value onto its scope's active data key. Rows are updated only if
    they still hold the value read (a concurrent write wins), so the pass can run live."""
    report = ReencryptReport()
    active: dict[int | None, int] = {}
    for pf in protected_fields():
        model = pf.model
        name = pf.field_name
        has_tenant = any(f.name == "tenant" for f in model._meta.concrete_fields)
        last_pk: object = None
        while True:
            with unscoped(reason="key rotation: re-encrypt protected values"):
                qs = model._base_manager.filter(**{f"{name}__startswith": PREFIX})
                if last_pk is not None:
                    qs = qs.filter(pk__gt=last_pk)
                fields = ["pk", name] + (["tenant_id"] if has_tenant else [])
                batch = list(qs.order_by("pk").values_list(*fields)[:batch_size])
            if not batch:
                break
            for row in batch:
                pk, value = row[0], row[1]
                tenant_id = row[2] if has_tenant else None
                last_pk = pk
                if tenant_id not in active:
                    active[tenant_id] = data_key_active(tenant=tenant_id).pk
                if (
                    value[len(PREFIX) : len(PREFIX) + ID_WIDTH]
                    == f"{active[tenant_id]:0{ID_WIDTH}d}"
                ):
                    report.unchanged += 1
                    continue
                try:
                    new = secret_reencrypt(tenant=tenant_id, ciphertext=value, purpose=pf.purpose)
                except Exception:  # counted and reported; never the value
                    report.failed += 1
                    continue
                if new is None:
                    report.unchanged += 1
                    continue
                with unscoped(reason="key rotation: write a re-encrypted value"):
                    updated = model._base_manager.filter(Q(pk=pk) & Q(**{name: value})).update(
                        **{name: new}
                    )
                report.reencrypted += updated
                report.by_field[pf.label] = report.by_field.get(pf.label, 0) + updated
    return report


def kek_versions_retire_unused() -> list[str]:
    """Destroy the material of KEK versions that no data key is wrapped with any more."""
    provider = get_key_provider()
    current = provider.current_version()
    retired = []
    for version in provider.versions():
        if version.state != "previous" or version.version == current:
            continue
        if kek_version_usage().get(version.version, 0):
            continue
        provider.retire_version(version.version)
        retired.append(version.version)
    return retired
