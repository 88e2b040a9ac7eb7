"""The exact walk of one chain in seq order: names its first broken link."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection

from apps.core.audit.hashing import GENESIS_HASH, hash_of_values, personal_digest
from apps.core.audit.verify.common import (
    FIELDS,
    NO_END,
    SEGMENT_SIZE,
    Problem,
    VerifyReport,
    scan_session,
    tenant_of_chain,
)
from apps.core.models import AuditEvent
from apps.core.tenancy import unscoped

# --- Walking the chains -----------------------------------------------------------------------
# A chain is cut into segments of consecutive seq ranges [lo, hi] (the last one open-ended), so
# a big tenant's chain is verified by several processes at once. Each segment also reads the
# event at lo - 1 (its anchor) to check the link into the segment.

_PG_SELECT = (
    "SELECT seq, "
    "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "tenant_id, actor_id, on_behalf_of_id, action, outcome, target_type, target_id, "
    "request_id, personal_digest, prev_hash, hash, personal::text, personal_salt, "
    "pseudonymised_at IS NULL "
    "FROM core_auditevent WHERE chain = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
)


@dataclass(frozen=True)
class Segment:
    chain: str
    lo: int
    hi: int  # inclusive; NO_END for the chain's last segment
    signed_seq: int
    signed_hash: str
    signed_at: str
    head_seq: int
    head_hash: str
    batch_size: int


@dataclass
class SegmentResult:
    chain: str
    lo: int
    first_seq: int | None = None
    last_seq: int | None = None
    checked: int = 0
    pseudonymised: int = 0
    problem: Problem | None = None


def _fetch(chain: str, after: int, hi: int, limit: int) -> list[tuple[Any, ...]]:
    """Rows with after < seq <= hi in seq order, as (seq, time text, ..., personal,
    salt, personal still present). PostgreSQL: one raw statement, the timestamp formatted by
    the server, jsonb as text; elsewhere the ORM."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_SELECT, [chain, after, min(hi, NO_END), limit])
            return cursor.fetchall()
    rows = (
        AuditEvent.objects.filter(chain=chain, seq__gt=after, seq__lte=hi)
        .order_by("seq")
        .values_list(*FIELDS)[:limit]
    )
    return [
        (r[0], r[1].isoformat(timespec="microseconds"), *r[2:13], r[13], r[14], r[15] is None)
        for r in rows
    ]


def verify_segment(segment: Segment) -> SegmentResult:
    """Verify the events of one seq range. Module-level so a worker process can run it."""
    chain = segment.chain
    result = SegmentResult(chain=chain, lo=segment.lo)
    chain_tenant = tenant_of_chain(chain)
    signed_seq, signed_hash = segment.signed_seq, segment.signed_hash
    head_seq, head_hash = segment.head_seq, segment.head_hash
    loads = json.loads
    text_personal = connection.vendor == "postgresql"
    expected = segment.lo
    prev: str | None = GENESIS_HASH if segment.lo == 1 else None
    after = segment.lo - 1
    checked = pseudonymised = 0

    def fail(seq: int, message: str) -> SegmentResult:
        result.problem = Problem(chain, seq, message)
        return result

    with unscoped(reason="audit verification of every chain"), scan_session():
        if segment.lo > 1:
            anchor = _fetch(chain, segment.lo - 2, segment.lo - 1, 1)
            if anchor:
                prev = anchor[0][12]
        try:
            while after < segment.hi:
                batch = _fetch(chain, after, segment.hi, segment.batch_size)
                if not batch:
                    break
                if result.first_seq is None:
                    result.first_seq = batch[0][0]
                for (
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
                    if seq != expected:
                        return fail(
                            expected,
                            f"event missing (the next stored event is seq {seq}): "
                            "deleted or renumbered",
                        )
                    if tenant_id != chain_tenant:
                        return fail(seq, "event carries another tenant's id")
                    if prev is not None and prev_hash != prev:
                        return fail(
                            seq,
                            "prev_hash is not the hash of the event before it: "
                            "events removed, inserted or reordered",
                        )
                    if has_personal:
                        if text_personal:
                            personal = loads(personal)
                        if personal_digest(salt, personal) != digest:
                            return fail(seq, "personal details altered (digest mismatch)")
                    else:
                        pseudonymised += 1
                    recomputed = hash_of_values(
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
                    if recomputed != own_hash:
                        return fail(seq, "event altered: its hash does not recompute")
                    if seq == signed_seq and own_hash != signed_hash:
                        return fail(
                            seq,
                            f"hash differs from the one signed in the checkpoint of "
                            f"{segment.signed_at}: history rewritten",
                        )
                    if seq == head_seq and own_hash != head_hash:
                        return fail(seq, "hash differs from the chain's head row")
                    prev = own_hash
                    expected += 1
                    checked += 1
                after = batch[-1][0]
                result.last_seq = after
        finally:
            result.checked = checked
            result.pseudonymised = pseudonymised
    return result


def _segments(
    chain: str,
    head: tuple[int, str] | None,
    signed: tuple[int, str] | None,
    signed_at: str,
    segment_size: int,
    batch_size: int,
) -> list[Segment]:
    head_seq, head_hash = head if head is not None else (0, "")
    signed_seq, signed_hash = (int(signed[0]), str(signed[1])) if signed is not None else (0, "")
    known = max(head_seq, signed_seq)
    bounds = list(range(1, known - segment_size // 2, segment_size)) or [1]
    ends = [b - 1 for b in bounds[1:]] + [NO_END]
    return [
        Segment(chain, lo, hi, signed_seq, signed_hash, signed_at, head_seq, head_hash, batch_size)
        for lo, hi in zip(bounds, ends, strict=True)
    ]


def _conclude_chain(
    chain: str, segments: list[Segment], results: dict[int, SegmentResult], report: VerifyReport
) -> None:
    """Stitch a chain's segment results together: the lowest broken link wins."""
    report.chains_checked += 1
    end = 0
    for segment in segments:
        result = results[segment.lo]
        report.events_checked += result.checked
        report.pseudonymised_events += result.pseudonymised
        if result.first_seq is None and result.problem is None:
            continue
        if end < segment.lo - 1:
            report.problems.append(
                Problem(
                    chain,
                    end + 1,
                    f"event missing (the next stored event is seq {result.first_seq}): "
                    "deleted or renumbered",
                )
            )
            return
        if result.problem is not None:
            report.problems.append(result.problem)
            return
        end = result.last_seq or end
    first = segments[0]
    signed_seq, head_seq, signed_at = first.signed_seq, first.head_seq, first.signed_at
    if end < signed_seq:
        what = "chain missing entirely" if end == 0 else "newest events removed"
        report.problems.append(
            Problem(
                chain,
                end + 1,
                f"chain ends at seq {end} but the checkpoint of {signed_at} signed seq "
                f"{signed_seq}: {what}",
            )
        )
    elif end < head_seq:
        report.problems.append(
            Problem(
                chain,
                end + 1,
                f"chain ends at seq {end} but its head row says {head_seq}: newest events removed",
            )
        )
    elif not head_seq and end:
        report.problems.append(Problem(chain, None, "events without a chain head row"))


def walk_chain(
    chain: str,
    head: tuple[int, str] | None,
    signed: tuple[int, str] | None,
    signed_at: str,
    report: VerifyReport,
    batch_size: int,
    segment_size: int = SEGMENT_SIZE,
) -> None:
    """The exact walk of one chain in seq order: names its first broken link."""
    segments = _segments(chain, head, signed, signed_at, segment_size, batch_size)
    results = {segment.lo: verify_segment(segment) for segment in segments}
    _conclude_chain(chain, segments, results, report)
