"""How an audit event is hashed, and how checkpoints summarise chain heads (a Merkle tree).

Shared by the writer (services), the checkpointer and the verifier, nothing else. The
stand-alone customer verifier (docs/verify_tenant_audit.py) re-implements exactly this file:
change one, change the other.

Event hash = sha256 of the canonical JSON array
  [chain, seq, occurred_at (ISO 8601, microseconds), tenant_id, actor_id, on_behalf_of_id,
   action, outcome, target_type, target_id, request_id, personal_digest, prev_hash]
personal_digest = sha256(salt + canonical JSON of the personal details), so personal data can
be replaced by pseudonyms later while the chain still verifies.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64

# One encoder, reused: same output as json.dumps(value, sort_keys=True, separators=(",", ":"),
# ensure_ascii=False, default=str), without building an encoder per call (the verifier hashes
# millions of rows).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_sha256 = hashlib.sha256


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


def _json_safe(value: Any) -> Any:
    """Values that PostgreSQL's jsonb would not give back unchanged: NaN/Infinity (refused)
    and huge integral floats (printed back as integers)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 1e15:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def normalise(value: Any) -> Any:
    """What a JSON column gives back: the form that is hashed and stored."""
    return _json_safe(json.loads(canonical_json(value)))


def personal_digest(salt: str, personal: Any) -> str:
    return _sha256((salt + _ENCODER.encode(personal)).encode()).hexdigest()


def timestamp_text(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def hash_of_values(values: Sequence[Any]) -> str:
    """The hash of the 13 hashed values in order, `occurred_at` already as `timestamp_text`."""
    return _sha256(_ENCODER.encode(values).encode()).hexdigest()


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
    return hash_of_values(
        [
            chain,
            seq,
            timestamp_text(occurred_at),
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


def event_hash_template(
    *,
    chain: str,
    tenant_id: int | None,
    actor_id: int | None,
    on_behalf_of_id: int | None,
    action: str,
    outcome: str,
    target_type: str,
    target_id: str,
    request_id: str,
    personal_digest: str,
) -> tuple[str, str]:
    """The hashed body around the three values only known under the chain's lock (seq, time,
    prev_hash), so PostgreSQL can hash inside the locked append itself:

        body = head + str(seq) + ',"' + timestamp_text + '",' + tail + ',"' + prev_hash + '"]'

    gives exactly the bytes `event_hash` hashes (see `event_body_from_template`)."""
    head = canonical_json([chain])[:-1] + ","
    tail = canonical_json(
        [
            tenant_id,
            actor_id,
            on_behalf_of_id,
            action,
            outcome,
            target_type,
            target_id,
            request_id,
            personal_digest,
        ]
    )[1:-1]
    return head, tail


def event_body_from_template(head: str, seq: int, timestamp: str, tail: str, prev: str) -> str:
    return f'{head}{seq},"{timestamp}",{tail},"{prev}"]'


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


# --- Merkle tree over chain heads (checkpoints) ----------------------------------------------
# Leaves are the (chain, seq, hash) triples sorted by chain; leaf and inner nodes are
# domain-separated (0x00 / 0x01, as in RFC 6962) so a leaf can never pose as an inner node.
# An odd node at the end of a level is carried up unchanged.


def merkle_leaf(chain: str, seq: int, head_hash: str) -> bytes:
    return _sha256(b"\x00" + canonical_json([chain, seq, head_hash]).encode()).digest()


def _merkle_parent(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def merkle_leaves(heads: Mapping[str, Sequence[Any]]) -> list[tuple[str, bytes]]:
    return [(chain, merkle_leaf(chain, int(h[0]), str(h[1]))) for chain, h in sorted(heads.items())]


def merkle_root(heads: Mapping[str, Sequence[Any]]) -> str:
    level = [leaf for _chain, leaf in merkle_leaves(heads)]
    if not level:
        return _sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = [_merkle_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def merkle_proof(heads: Mapping[str, Sequence[Any]], chain: str) -> list[list[str]]:
    """Inclusion proof of `chain`'s head leaf: [["L"|"R", sibling hex], ...] from the leaf up."""
    leaves = merkle_leaves(heads)
    index = next(i for i, (name, _leaf) in enumerate(leaves) if name == chain)
    level = [leaf for _chain, leaf in leaves]
    proof: list[list[str]] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(["L" if sibling < index else "R", level[sibling].hex()])
        nxt = [_merkle_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        index //= 2
    return proof


def merkle_root_from_proof(leaf: bytes, proof: Sequence[Sequence[str]]) -> str:
    node = leaf
    for side, sibling_hex in proof:
        sibling = bytes.fromhex(sibling_hex)
        node = _merkle_parent(sibling, node) if side == "L" else _merkle_parent(node, sibling)
    return node.hex()
