"""Shared pieces of the verifier: limits, the report, the verifier's database session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

BATCH_SIZE = 10_000
SEGMENT_SIZE = 50_000
PARALLEL_THRESHOLD = 100_000
CHECKPOINT = "checkpoint"  # the pseudo-chain name problems with the checkpoint itself carry

FIELDS = (
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
    "personal_digest",
    "prev_hash",
    "hash",
    "personal",
    "personal_salt",
    "pseudonymised_at",
)

NO_END = 2**62  # "no upper bound" for seq/id ranges


@dataclass(frozen=True)
class Problem:
    chain: str
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"chain {self.chain}" + (f" seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.message}"


@dataclass
class VerifyReport:
    events_checked: int = 0
    chains_checked: int = 0
    pseudonymised_events: int = 0
    problems: list[Problem] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.problems


def tenant_of_chain(chain: str) -> int | None:
    if chain.startswith("tenant:") and chain[7:].isdigit():
        return int(chain[7:])
    return None


@contextmanager
def scan_session() -> Iterator[None]:
    """Keyset batches are small index range scans: PostgreSQL's parallel workers and JIT only
    add start-up cost to each of them (and compete with our own worker processes)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")
            cursor.execute("RESET jit")
