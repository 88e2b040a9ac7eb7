"""What the key-status page shows: versions, rotation times, what each key protects and how
many values — never key material (not even wrapped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count
from django.db.models.functions import Substr

from apps.core.crypto.envelope import ID_WIDTH, PREFIX, kek_version_usage
from apps.core.crypto.fields import protected_fields
from apps.core.crypto.models import DataKey
from apps.core.crypto.providers import KekVersion, get_key_provider
from apps.core.tenancy import unscoped


@dataclass
class DataKeyRow:
    id: int
    scope: str
    tenant_name: str
    version: int
    status: str
    status_label: str
    kek_version: str
    created_at: datetime
    rotated_at: datetime | None
    superseded_at: datetime | None
    protects: dict[str, int] = field(default_factory=dict)  # field label -> values

    @property
    def value_count(self) -> int:
        return sum(self.protects.values())


@dataclass
class KeyStatus:
    provider_label: str
    provider_class: str
    kek_versions: list[KekVersion]
    kek_usage: dict[str, int]
    data_keys: list[DataKeyRow]
    fields: list[dict[str, Any]]
    unknown_key_values: int


def key_status() -> KeyStatus:
    provider = get_key_provider()
    fields = protected_fields()
    per_key: dict[int, dict[str, int]] = {}
    field_rows = []
    unknown = 0
    with unscoped(reason="key status page: count protected values per data key"):
        rows = list(DataKey.objects.select_related("tenant").order_by("scope", "-version"))
        known = {row.pk for row in rows}
        for pf in fields:
            start = len(PREFIX) + 1
            counts = (
                pf.model._base_manager.filter(**{f"{pf.field_name}__startswith": PREFIX})
                .annotate(_kid=Substr(pf.field_name, start, ID_WIDTH))
                .values("_kid")
                .annotate(n=Count("pk"))
                .order_by()
            )
            total = 0
            for row in counts:
                kid, n = int(row["_kid"]), int(row["n"])
                total += n
                if kid not in known:
                    unknown += n
                per_key.setdefault(kid, {})[pf.label] = n
            field_rows.append({"label": pf.label, "description": pf.description, "values": total})
    data_keys = [
        DataKeyRow(
            id=dk.pk,
            scope=dk.scope,
            tenant_name=dk.tenant.name if dk.tenant else "",
            version=dk.version,
            status=dk.status,
            status_label=str(dk.get_status_display()),
            kek_version=dk.kek_version,
            created_at=dk.created_at,
            rotated_at=dk.rotated_at,
            superseded_at=dk.superseded_at,
            protects=per_key.get(dk.pk, {}),
        )
        for dk in rows
    ]
    return KeyStatus(
        provider_label=provider.label,
        provider_class=f"{type(provider).__module__}.{type(provider).__qualname__}",
        kek_versions=provider.versions(),
        kek_usage=kek_version_usage(),
        data_keys=data_keys,
        fields=field_rows,
        unknown_key_values=unknown,
    )
