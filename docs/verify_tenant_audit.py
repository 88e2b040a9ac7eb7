#!/usr/bin/env python3
"""Verify a Custos tenant audit export offline (Python 3.9+, standard library + `cryptography`).

    pip install cryptography
    python verify_tenant_audit.py custos-audit-acme-2026-11-22.jsonl \
        --public-key custos-audit-public-key.pem

Checks, and says which check failed where:
  1. every event's personal-data digest recomputes (unless the event was pseudonymised);
  2. every event's hash recomputes from its fields;
  3. the chain is gapless from seq 1 and every event links to the previous one's hash;
  4. the checkpoint's Ed25519 signature is valid — for the public key you pinned with
     --public-key (or --key-id); the key inside the file alone proves nothing;
  5. the Merkle inclusion proof puts this chain's head into the signed Merkle root;
  6. the chain reaches the signed head and the event at that seq has the signed hash
     (so nothing signed was rewritten or removed).

Exit status 0 when all checks pass, 1 otherwise. See docs/audit.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "custos-audit-export/1"
GENESIS_HASH = "0" * 64
ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical(value: Any) -> str:
    return ENCODER.encode(value)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_hash(e: dict[str, Any]) -> str:
    return sha256_hex(
        canonical(
            [
                e["chain"],
                e["seq"],
                e["occurred_at"],
                e["tenant_id"],
                e["actor_id"],
                e["on_behalf_of_id"],
                e["action"],
                e["outcome"],
                e["target_type"],
                e["target_id"],
                e["request_id"],
                e["personal_digest"],
                e["prev_hash"],
            ]
        )
    )


def merkle_leaf(chain: str, seq: int, head_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + canonical([chain, seq, head_hash]).encode()).digest()


def merkle_root_from_proof(leaf: bytes, proof: list[list[str]]) -> str:
    node = leaf
    for side, sibling_hex in proof:
        sibling = bytes.fromhex(sibling_hex)
        pair = sibling + node if side == "L" else node + sibling
        node = hashlib.sha256(b"\x01" + pair).digest()
    return node.hex()


def statement_bytes(statement: dict[str, Any]) -> bytes:
    keys = ("heads", "merkle_root", "created_at", "key_id")
    return canonical({k: statement[k] for k in keys}).encode()


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


class Failed(Exception):
    pass


def verify(path: str, pinned_key: Ed25519PublicKey | None, pinned_id: str | None) -> list[str]:
    """Return what was established; raise Failed at the first failed check."""
    facts: list[str] = []
    with open(path, encoding="utf-8") as handle:
        lines = (json.loads(line) for line in handle if line.strip())
        header = next(lines, None)
        if not header or header.get("type") != "header" or header.get("format") != FORMAT:
            raise Failed(f"not a {FORMAT} file")
        chain = header["chain"]
        checkpoint = next(lines, None)
        if not checkpoint or checkpoint.get("type") != "checkpoint":
            raise Failed("checkpoint line missing")

        expected, prev, events, pseudonymised = 1, GENESIS_HASH, 0, 0
        hash_at: dict[int, str] = {}
        signed_seq = int(checkpoint["leaf"][1]) if "leaf" in checkpoint else 0
        for e in lines:
            if e.get("type") != "event" or e.get("chain") != chain:
                raise Failed(f"unexpected line after seq {expected - 1}")
            seq = e["seq"]
            where = f"chain {chain} seq {seq}"
            if seq != expected:
                raise Failed(f"chain {chain} seq {expected}: event missing (next is seq {seq})")
            if e["prev_hash"] != prev:
                raise Failed(f"{where}: does not link to the previous event's hash")
            if e["pseudonymised"]:
                pseudonymised += 1
            elif sha256_hex(e["personal_salt"] + canonical(e["personal"])) != e["personal_digest"]:
                raise Failed(f"{where}: personal details do not match their digest")
            if event_hash(e) != e["hash"]:
                raise Failed(f"{where}: event hash does not recompute (event altered)")
            if seq == signed_seq:
                hash_at[seq] = e["hash"]
            prev = e["hash"]
            expected += 1
            events += 1
    facts.append(
        f"{events} events of chain {chain} recompute and link from seq 1 to {expected - 1}"
        f" ({pseudonymised} pseudonymised: digest kept, details replaced)"
    )

    if "statement" not in checkpoint:
        raise Failed(f"no signed checkpoint in the file: {checkpoint.get('missing', '?')}")
    statement = checkpoint["statement"]
    key = pinned_key
    if key is None:
        loaded = serialization.load_pem_public_key(checkpoint["public_key"].encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise Failed("the checkpoint's public key is not Ed25519")
        key = loaded
        if pinned_id is None:
            facts.append("WARNING: no pinned key: trusting the public key inside the file")
    if pinned_id is not None and key_id(key) != pinned_id.lower():
        raise Failed(f"public key fingerprint {key_id(key)} is not the pinned {pinned_id}")
    if statement["key_id"] != key_id(key):
        raise Failed("the checkpoint was signed by a different key than the one given")
    try:
        key.verify(base64.b64decode(checkpoint["signature"]), statement_bytes(statement))
    except (InvalidSignature, ValueError) as exc:
        raise Failed("checkpoint signature is INVALID (forged or altered checkpoint)") from exc
    facts.append(f"checkpoint of {statement['created_at']} is signed by key {statement['key_id']}")
    if "leaf" not in checkpoint:
        raise Failed(f"chain not covered by the checkpoint: {checkpoint.get('missing', '?')}")
    leaf_chain, leaf_seq, leaf_hash = checkpoint["leaf"]
    if leaf_chain != chain:
        raise Failed("the inclusion proof is for another chain")
    root = merkle_root_from_proof(merkle_leaf(leaf_chain, leaf_seq, leaf_hash), checkpoint["proof"])
    if root != statement["merkle_root"]:
        raise Failed("the inclusion proof does not lead to the signed Merkle root")
    facts.append(
        f"the signed Merkle root {root[:16]}… includes this chain's head at seq {leaf_seq}"
    )
    if expected - 1 < leaf_seq:
        raise Failed(
            f"chain {chain} seq {expected}: chain ends at seq {expected - 1} but the checkpoint "
            f"signed seq {leaf_seq} (newest events removed)"
        )
    if hash_at.get(leaf_seq) != leaf_hash:
        raise Failed(f"chain {chain} seq {leaf_seq}: hash differs from the signed one")
    unsigned = expected - 1 - leaf_seq
    facts.append(
        f"events up to seq {leaf_seq} match the signed checkpoint; {unsigned} newer event(s) are "
        "chained but not yet covered by a signature"
    )
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Custos tenant audit export.")
    parser.add_argument("export", help="the downloaded .jsonl file")
    parser.add_argument("--public-key", help="PEM file of the vendor's published signing key")
    parser.add_argument("--key-id", help="published key fingerprint (sha256 of the raw key)")
    args = parser.parse_args(argv)
    pinned = None
    if args.public_key:
        with open(args.public_key, "rb") as handle:
            loaded = serialization.load_pem_public_key(handle.read())
        if not isinstance(loaded, Ed25519PublicKey):
            print("FAILED: --public-key is not an Ed25519 key")
            return 1
        pinned = loaded
    try:
        facts = verify(args.export, pinned, args.key_id)
    except Failed as exc:
        print(f"FAILED: {exc}")
        return 1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"FAILED: unreadable export ({exc.__class__.__name__}: {exc})")
        return 1
    for fact in facts:
        print(f"ok: {fact}")
    print("VERIFIED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
