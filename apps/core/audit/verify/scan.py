"""The fast pass: every event once, in storage (id) order, in worker processes."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections
from django.db.models import Max, Min

from apps.core.audit.hashing import GENESIS_HASH, hash_of_values, personal_digest
from apps.core.audit.verify.common import (
    FIELDS,
    scan_session,
    tenant_of_chain,
)
from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped

# --- The fast pass: one scan in storage (id) order ----------------------------------------
# Within a chain, ids grow with seq (both are taken under the chain's head lock), so reading
# the table in id order meets every chain's events in seq order while the heap is read
# sequentially. The table is cut into id slices verified by worker processes; each returns,
# per chain, its first and last event in the slice, and the parent stitches the slices. A
# chain that shows anything unexpected is walked again exactly (`walk_chain`) to name the
# broken link; a chain that passes the fast pass is provably intact (gapless from 1, every
# link and hash checked, signed and head hashes met).

_PG_SCAN = (
    "SELECT id, chain, seq, "
    "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "tenant_id, actor_id, on_behalf_of_id, action, outcome, target_type, target_id, "
    "request_id, personal_digest, prev_hash, hash, personal::text, personal_salt, "
    "pseudonymised_at IS NULL "
    "FROM core_auditevent WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"
)

# Per-chain expectations: (signed seq, signed hash, head seq, head hash).
Expectations = dict[str, tuple[int, str, int, str]]


@dataclass(frozen=True)
class IdSlice:
    after_id: int
    last_id: int  # inclusive; NO_END for the open-ended last slice
    batch_size: int


@dataclass
class ChainRun:
    """One chain's events inside one id slice."""

    first_seq: int
    first_prev: str
    last_seq: int
    last_hash: str
    count: int = 0
    pseudonymised: int = 0
    broken: bool = False


EXPECTATIONS: Expectations = {}  # set before the scan; inherited by forked workers


def _scan_fetch(after_id: int, last_id: int, limit: int) -> list[tuple[Any, ...]]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_SCAN, [after_id, last_id, limit])
            return cursor.fetchall()
    rows = (
        AuditEvent.objects.filter(id__gt=after_id, id__lte=last_id)
        .order_by("id")
        .values_list("id", "chain", *FIELDS)[:limit]
    )
    return [
        (*r[:3], r[3].isoformat(timespec="microseconds"), *r[4:15], r[15], r[16], r[17] is None)
        for r in rows
    ]


def scan_slice(piece: IdSlice) -> dict[str, ChainRun]:
    """Verify every event with an id in the slice. Module-level for worker processes."""
    runs: dict[str, ChainRun] = {}
    # Per chain while scanning: [next seq, prev hash, run, signed seq, signed hash,
    # head seq, head hash, tenant id]
    state: dict[str, list[Any]] = {}
    expectations = EXPECTATIONS
    loads = json.loads
    text_personal = connection.vendor == "postgresql"
    after = piece.after_id
    with unscoped(reason="audit verification of every chain"), scan_session():
        while after < piece.last_id:
            batch = _scan_fetch(after, piece.last_id, piece.batch_size)
            if not batch:
                break
            after = batch[-1][0]
            for (
                _id,
                chain,
                seq,
                occurred,
                tenant_id,
                actor_id,
                on_behalf_of_id,
                action,
                outcome,
                target_type,
                target_id,
                request_id,
                digest,
                prev_hash,
                own_hash,
                personal,
                salt,
                has_personal,
            ) in batch:
                st = state.get(chain)
                if st is None:
                    run = ChainRun(seq, prev_hash, seq - 1, prev_hash)
                    runs[chain] = run
                    exp = expectations.get(chain, (0, "", 0, ""))
                    st = [seq, prev_hash, run, *exp, tenant_of_chain(chain)]
                    state[chain] = st
                run = st[2]
                if run.broken:
                    continue
                if seq != st[0] or prev_hash != st[1] or tenant_id != st[7]:
                    run.broken = True
                    continue
                if has_personal:
                    if text_personal:
                        personal = loads(personal)
                    if personal_digest(salt, personal) != digest:
                        run.broken = True
                        continue
                else:
                    run.pseudonymised += 1
                if (
                    hash_of_values(
                        (
                            chain,
                            seq,
                            occurred,
                            tenant_id,
                            actor_id,
                            on_behalf_of_id,
                            action,
                            outcome,
                            target_type,
                            target_id,
                            request_id,
                            digest,
                            prev_hash,
                        )
                    )
                    != own_hash
                    or (seq == st[3] and own_hash != st[4])
                    or (seq == st[5] and own_hash != st[6])
                ):
                    run.broken = True
                    continue
                st[0] = seq + 1
                st[1] = own_hash
                run.last_seq = seq
                run.last_hash = own_hash
                run.count += 1
    return runs


def chain_passes(runs: list[ChainRun], expect: tuple[int, str, int, str]) -> bool:
    """Stitch a chain's runs (in id order): gapless from 1, linked, reaching its heads."""
    end, end_hash = 0, GENESIS_HASH
    for run in runs:
        if run.broken or run.first_seq != end + 1 or run.first_prev != end_hash:
            return False
        end, end_hash = run.last_seq, run.last_hash
    signed_seq, _signed_hash, head_seq, _head_hash = expect
    return end >= signed_seq and end >= head_seq and (end > 0 or not runs)


def id_slices(jobs: int, batch_size: int) -> list[IdSlice]:
    """Equal id ranges up to the newest id now (events appended later lie beyond the heads
    read before, so they are left for the next run). Bounded ranges also keep PostgreSQL on
    the primary key index: it cannot estimate the row-level security predicate."""
    bounds = AuditEvent.objects.order_by().aggregate(lo=Min("id"), hi=Max("id"))
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None:
        return []
    pieces = max(1, jobs * 4)
    width = max(1, (hi - lo + pieces) // pieces)
    cuts = [*range(lo - 1, hi, width), hi]
    return [IdSlice(a, b, batch_size) for a, b in itertools.pairwise(cuts)]


def worker_init() -> None:
    # Forked from the parent: never touch its sockets, open our own connection.
    for conn in connections.all(initialized_only=True):
        conn.connection = None
