"""A tenant's own audit chain as a file its customer can verify offline.

JSON lines: a header, the latest exported checkpoint (its signed statement, signature, public
key and a Merkle inclusion proof for this chain's head), then every event of the chain in seq
order with the fields needed to recompute its hash. docs/verify_tenant_audit.py checks such a
file with nothing but the standard library and `cryptography`; docs/audit.md explains it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from apps.core.audit.checkpoints import CheckpointError, checkpoint_store
from apps.core.audit.hashing import merkle_proof, timestamp_text
from apps.core.models import AuditEvent, chain_key
from apps.core.tenancy import tenant_context

FORMAT = "custos-audit-export/1"
BATCH_SIZE = 2_000

_FIELDS = (
    "seq",
    "occurred_at",
    "tenant_id",
    "actor_id",
    "on_behalf_of_id",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "request_id",
    "personal",
    "personal_salt",
    "personal_digest",
    "pseudonymised_at",
    "prev_hash",
    "hash",
)


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def audit_export_checkpoint(*, chain: str) -> dict[str, Any]:
    """The checkpoint line: the latest exported checkpoint and this chain's inclusion proof."""
    try:
        document = checkpoint_store().latest()
    except CheckpointError as exc:
        return {"type": "checkpoint", "missing": f"checkpoint store unreadable: {exc}"}
    if document is None:
        return {"type": "checkpoint", "missing": "no checkpoint has been signed yet"}
    statement = document["statement"]
    line: dict[str, Any] = {
        "type": "checkpoint",
        "statement": statement,
        "signature": document["signature"],
        "public_key": document["public_key"],
    }
    head = statement["heads"].get(chain)
    if head is None:
        line["missing"] = "this chain began after the latest checkpoint"
        return line
    line["leaf"] = [chain, head[0], head[1]]
    line["proof"] = merkle_proof(statement["heads"], chain)
    return line


def audit_export_lines(*, tenant: Any) -> Iterator[str]:
    """Stream the tenant's chain. Each batch is read inside the tenant's own scope, so the
    generator is safe to run after the view has returned (a streaming response)."""
    chain = chain_key(tenant.pk)
    yield _line(
        {
            "type": "header",
            "format": FORMAT,
            "tenant": {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name},
            "chain": chain,
            "exported_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        }
    )
    yield _line(audit_export_checkpoint(chain=chain))
    last = 0
    while True:
        with tenant_context(tenant):
            batch = list(
                AuditEvent.objects.filter(chain=chain, seq__gt=last)
                .order_by("seq")
                .values(*_FIELDS)[:BATCH_SIZE]
            )
        if not batch:
            return
        for row in batch:
            row["type"] = "event"
            row["chain"] = chain
            row["occurred_at"] = timestamp_text(row["occurred_at"])
            pseudonymised_at = row.pop("pseudonymised_at")
            row["pseudonymised"] = pseudonymised_at is not None
            yield _line(row)
        last = batch[-1]["seq"]
