"""How an audit event is hashed. Shared by the writer and the verifier, nothing else."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalise(value: Any) -> Any:
    """What a JSON column gives back: the form that is hashed and stored."""
    return json.loads(canonical_json(value))


def personal_digest(salt: str, personal: dict[str, Any]) -> str:
    return hashlib.sha256((salt + canonical_json(personal)).encode()).hexdigest()


def event_hash(
    *,
    chain: str,
    seq: int,
    occurred_at: datetime,
    tenant_id: int | None,
    actor_id: int | None,
    on_behalf_of_id: int | None,
    action: str,
    outcome: str,
    target_type: str,
    target_id: str,
    request_id: str,
    personal_digest: str,
    prev_hash: str,
) -> str:
    body = canonical_json(
        [
            chain,
            seq,
            occurred_at.isoformat(timespec="microseconds"),
            tenant_id,
            actor_id,
            on_behalf_of_id,
            action,
            outcome,
            target_type,
            target_id,
            request_id,
            personal_digest,
            prev_hash,
        ]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def hash_of_row(row: Any, prev_hash: str) -> str:
    """Recompute the hash of a stored AuditEvent (or a row-like object)."""
    return event_hash(
        chain=row.chain,
        seq=row.seq,
        occurred_at=row.occurred_at,
        tenant_id=row.tenant_id,
        actor_id=row.actor_id,
        on_behalf_of_id=row.on_behalf_of_id,
        action=row.action,
        outcome=row.outcome,
        target_type=row.target_type,
        target_id=row.target_id,
        request_id=row.request_id,
        personal_digest=row.personal_digest,
        prev_hash=prev_hash,
    )
