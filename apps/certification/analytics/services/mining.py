"""Role mining: candidate roles from the entitlement sets a tenant's people hold directly.

Input: active, open-ended, direct entitlement grants of people, from the sources a role can
take over (request, manual, template); IdP/SCIM-mapped grants belong to their reconciler and
break-glass or time-bound grants are not standing structure, so they are left out.

Method (greedy tiling over bitsets, pure Python): each entitlement's holders are one big
integer (bit i = person i), so "how many people hold all of these" is an AND and a popcount.
From every frequent entitlement a tile (entitlement set I, people U holding all of I) is grown
greedily while |I|·|U| increases; tiles are then picked greedily (lazy evaluation) by the
direct grants they would still consolidate that earlier picks have not. 10,000 people x 500
entitlements takes a few seconds (bench/bench_analytics.py).

For each candidate: support (people holding the whole set), coverage (share of all the
tenant's eligible direct grants it covers) and grants consolidated (direct grants replaced by
one role grant per person).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.certification.analytics.models import (
    CandidateStatus,
    MiningRun,
    RoleCandidate,
)
from apps.certification.analytics.services.detection import settings_for
from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError, PermissionDenied

ELIGIBLE_SOURCES = ("request", "manual", "template")
MAX_CANDIDATES = 20
MAX_ROLE_SIZE = 40


@dataclass
class Tile:
    items: tuple[int, ...]  # entitlement indexes
    users: int  # bitset of person indexes

    @property
    def support(self) -> int:
        return self.users.bit_count()


@dataclass
class MiningResult:
    user_ids: list[int]
    ent_ids: list[int]
    pairs: int
    tiles: list[tuple[Tile, int]] = field(default_factory=list)  # (tile, gain)


def _bitsets(members: list[list[int]], n_users: int) -> list[int]:
    size = (n_users + 7) // 8
    result = []
    for indexes in members:
        buf = bytearray(size)
        for i in indexes:
            buf[i >> 3] |= 1 << (i & 7)
        result.append(int.from_bytes(buf, "little"))
    return result


def _grow(seed: int, holders: list[int], frequent: list[int], min_support: int) -> Tile:
    items = [seed]
    users = holders[seed]
    candidates = [c for c in frequent if c != seed]
    area = users.bit_count()
    while candidates and len(items) < MAX_ROLE_SIZE:
        best, best_users, best_area = -1, 0, -1
        survivors = []
        for c in candidates:
            both = users & holders[c]
            count = both.bit_count()
            if count < min_support:
                continue
            survivors.append(c)
            c_area = (len(items) + 1) * count
            if c_area > best_area:
                best, best_users, best_area = c, both, c_area
        if best < 0 or (len(items) > 1 and best_area <= area):
            break
        items.append(best)
        users, area = best_users, best_area
        candidates = [c for c in survivors if c != best]
    return Tile(tuple(sorted(items)), users)


def mine(
    holdings: dict[int, set[int]],
    *,
    min_support: int,
    max_candidates: int = MAX_CANDIDATES,
) -> MiningResult:
    """Candidate tiles for `holdings` (person id -> entitlement ids), best first."""
    user_ids = sorted(holdings)
    ent_ids = sorted(set().union(*holdings.values())) if holdings else []
    ent_index = {e: i for i, e in enumerate(ent_ids)}
    members: list[list[int]] = [[] for _ in ent_ids]
    pairs = 0
    for ui, uid in enumerate(user_ids):
        for e in holdings[uid]:
            members[ent_index[e]].append(ui)
            pairs += 1
    holders = _bitsets(members, len(user_ids))
    result = MiningResult(user_ids=user_ids, ent_ids=ent_ids, pairs=pairs)
    min_support = max(2, min_support)
    frequent = [i for i, h in enumerate(holders) if h.bit_count() >= min_support]
    frequent.sort(key=lambda i: -holders[i].bit_count())
    tiles: dict[tuple[int, ...], Tile] = {}
    for seed in frequent:
        tile = _grow(seed, holders, frequent, min_support)
        if len(tile.items) >= 2 and tile.support >= min_support:
            tiles.setdefault(tile.items, tile)
    uncovered = list(holders)

    def gain(tile: Tile) -> int:
        return sum((tile.users & uncovered[i]).bit_count() for i in tile.items)

    heap = [(-gain(t), n, t) for n, t in enumerate(tiles.values())]
    heapq.heapify(heap)
    min_gain = 2 * min_support
    while heap and len(result.tiles) < max_candidates:
        _stale, n, tile = heapq.heappop(heap)
        fresh = gain(tile)
        if fresh < min_gain:
            continue
        if heap and fresh < -heap[0][0]:
            heapq.heappush(heap, (-fresh, n, tile))
            continue
        result.tiles.append((tile, fresh))
        for i in tile.items:
            uncovered[i] &= ~tile.users
    return result


def _people_fast(users: int, user_ids: list[int]) -> list[int]:
    bits = bin(users)[:1:-1]  # little-endian string of bits
    return [user_ids[i] for i, b in enumerate(bits) if b == "1"]


def mining_input(tenant: Any) -> dict[int, set[int]]:
    from django.db.models import Q

    from apps.access.models import Grant

    now = timezone.now()
    holdings: dict[int, set[int]] = {}
    rows = (
        Grant.objects.for_tenant(tenant)
        .filter(
            user__isnull=False,
            entitlement__isnull=False,
            revoked_at__isnull=True,
            suspended_at__isnull=True,
            expires_at__isnull=True,
            starts_at__lte=now,
            source__in=ELIGIBLE_SOURCES,
        )
        .filter(Q(user__is_active=True))
        .values_list("user_id", "entitlement_id")
    )
    for user_id, ent_id in rows.iterator(chunk_size=20_000):
        holdings.setdefault(user_id, set()).add(ent_id)
    return holdings


def _require_admin(actor: Any, tenant: Any) -> None:
    from apps.access.services.common import scope_for
    from apps.tenants.models import ADMIN_ROLES, Membership

    tenant_id = getattr(tenant, "pk", tenant)
    with scope_for(tenant):
        ok = (
            Membership.objects.for_tenant(tenant_id)
            .filter(user=actor, is_active=True, role__in=ADMIN_ROLES)
            .exists()
        )
    if not ok:
        raise PermissionDenied(_("Only the tenant's admins can do this."))


def role_mining_run(*, tenant: Any, actor: Any = None) -> MiningRun:
    """Mine the tenant's direct grants and store the candidates (a new run; older runs'
    proposals stay for the record)."""
    from apps.access.models import RoleEntitlement
    from apps.access.services.common import scope_for

    if actor is not None:
        _require_admin(actor, tenant)
    conf = settings_for(tenant)
    started = time.perf_counter()
    with scope_for(tenant):
        holdings = mining_input(tenant)
        result = mine(holdings, min_support=conf.mining_min_support)
        role_sets: dict[frozenset[int], int] = {}
        by_role: dict[int, set[int]] = {}
        for role_id, ent_id in RoleEntitlement.objects.for_tenant(tenant).values_list(
            "role_id", "entitlement_id"
        ):
            by_role.setdefault(role_id, set()).add(ent_id)
        for role_id, ents in by_role.items():
            role_sets.setdefault(frozenset(ents), role_id)
        elapsed = int((time.perf_counter() - started) * 1000)
        with transaction.atomic():
            run = MiningRun.objects.create(
                tenant_id=getattr(tenant, "pk", tenant),
                started_by=actor if getattr(actor, "pk", None) else None,
                users=len(result.user_ids),
                entitlements=len(result.ent_ids),
                grants=result.pairs,
                duration_ms=elapsed,
                params={"min_support": conf.mining_min_support, "method": "greedy-tiling"},
            )
            rows = []
            for rank, (tile, _gain) in enumerate(result.tiles, start=1):
                tile_ents = [result.ent_ids[i] for i in tile.items]
                support = tile.support
                rows.append(
                    RoleCandidate(
                        tenant_id=run.tenant_id,
                        run=run,
                        rank=rank,
                        entitlement_ids=tile_ents,
                        user_ids=_people_fast(tile.users, result.user_ids),
                        support=support,
                        coverage=round(support * len(tile_ents) / max(1, result.pairs), 4),
                        grants_consolidated=support * len(tile_ents),
                        matches_role_id=role_sets.get(frozenset(tile_ents)),
                    )
                )
            RoleCandidate.objects.bulk_create(rows)
            if actor is not None:
                audit_event_record(
                    action="analytics.role_mining.run",
                    actor=actor,
                    tenant=run.tenant_id,
                    target=run,
                    details={
                        "people": run.users,
                        "entitlements": run.entitlements,
                        "grants": run.grants,
                        "candidates": len(rows),
                        "ms": elapsed,
                    },
                )
    return run


@dataclass
class AcceptResult:
    role: Any
    people: int
    grants_created: int
    grants_revoked: int
    refused: list[tuple[int, str]]


def _create_role_grants(
    *, actor: Any, tenant: Any, role: Any, users: list[Any], note: str
) -> tuple[list[int], list[tuple[int, str]]]:
    """One role grant per person; a refusal (SoD, status) leaves that person as they were."""
    from apps.access import services as access_services
    from apps.access.models import GrantSource

    bulk = getattr(access_services, "grants_create_bulk", None)
    spec_cls = getattr(access_services, "GrantSpec", None)
    done: list[int] = []
    refused: list[tuple[int, str]] = []
    for user in users:
        if bulk is not None and spec_cls is not None:
            res = bulk(
                actor=actor,
                tenant=tenant,
                user=user,
                specs=[spec_cls(role=role, justification=note)],
                source=GrantSource.MANUAL,
            )
            if res.created:
                done.append(user.pk)
            else:
                refused.append((user.pk, "; ".join(m for _k, m in res.refused)))
            continue
        try:
            access_services.grant_create(
                actor=actor,
                tenant=tenant,
                user=user,
                role=role,
                source=GrantSource.MANUAL,
                justification=note,
            )
            done.append(user.pk)
        except DomainError as exc:
            refused.append((user.pk, exc.message))
    return done, refused


def _revoke(*, actor: Any, tenant: Any, grant_ids: list[int], reason: str) -> int:
    from apps.access import services as access_services
    from apps.access.models import Grant

    bulk = getattr(access_services, "grants_revoke_bulk", None)
    if bulk is not None:
        return len(bulk(actor=actor, tenant=tenant, grant_ids=grant_ids, reason=reason))
    count = 0
    for grant in Grant.objects.for_tenant(tenant).filter(pk__in=grant_ids, revoked_at__isnull=True):
        access_services.grant_revoke(actor=actor, grant=grant, reason=reason)
        count += 1
    return count


def role_candidate_accept(
    *, actor: Any, candidate: RoleCandidate, key: str, name: str, description: str = ""
) -> AcceptResult:
    """Create the role (or use the identical existing one) and consolidate: every person who
    still holds the whole set directly gets one role grant, then their direct grants for the
    set are revoked. Audited (the role, each grant, and this acceptance)."""
    from apps.access import services as access_services
    from apps.access.models import Entitlement, Grant
    from apps.access.services.common import scope_for
    from apps.identity.models import User

    tenant = candidate.tenant
    _require_admin(actor, tenant)
    with scope_for(tenant), transaction.atomic():
        locked = RoleCandidate.objects.select_for_update().get(pk=candidate.pk)
        if locked.status != CandidateStatus.PROPOSED:
            raise Conflict(
                _("This candidate was %(status)s already.")
                % {"status": locked.get_status_display()},
                code="candidate_decided",
            )
        ents = list(Entitlement.objects.for_tenant(tenant).filter(pk__in=locked.entitlement_ids))
        if len(ents) != len(locked.entitlement_ids):
            raise Conflict(
                _("Some entitlements of this candidate no longer exist; run the mining again."),
                code="candidate_stale",
            )
        if locked.matches_role_id:
            role = locked.matches_role
        else:
            role = access_services.role_create(
                actor=actor,
                tenant=tenant,
                key=key,
                name=name,
                entitlements=ents,
                description=description,
            )
        ent_ids = set(locked.entitlement_ids)
        held: dict[int, list[int]] = {}
        for grant_id, user_id, ent_id in (
            Grant.objects.for_tenant(tenant)
            .filter(
                user_id__in=locked.user_ids,
                entitlement_id__in=ent_ids,
                revoked_at__isnull=True,
                suspended_at__isnull=True,
                expires_at__isnull=True,
                source__in=ELIGIBLE_SOURCES,
            )
            .values_list("pk", "user_id", "entitlement_id")
        ):
            held.setdefault(user_id, []).append(grant_id)
            held.setdefault(-user_id, []).append(ent_id)
        complete = [u for u in locked.user_ids if set(held.get(-u, [])) >= ent_ids]
        users = list(User.objects.filter(pk__in=complete, is_active=True).order_by("pk"))
        note = _("Role mining: replaces direct grants of %(n)d entitlements (candidate %(id)d)") % {
            "n": len(ent_ids),
            "id": locked.pk,
        }
        created, refused = _create_role_grants(
            actor=actor, tenant=tenant, role=role, users=users, note=note
        )
        replaced = [g for u in created for g in held.get(u, [])]
        revoked = _revoke(
            actor=actor,
            tenant=tenant,
            grant_ids=replaced,
            reason=_("Consolidated into role %(role)s") % {"role": role.name},
        )
        now = timezone.now()
        RoleCandidate.objects.filter(pk=locked.pk).update(
            status=CandidateStatus.ACCEPTED,
            role=role,
            decided_at=now,
            decided_by=actor,
            result={
                "people": len(created),
                "grants_revoked": revoked,
                "refused": [{"user": u, "reason": r} for u, r in refused][:100],
            },
        )
        audit_event_record(
            action="analytics.role_candidate.accepted",
            actor=actor,
            tenant=tenant,
            target=locked,
            after={"role": role.key, "role_id": role.pk},
            details={
                "entitlements": sorted(ent_ids),
                "people": len(created),
                "grants_created": len(created),
                "grants_revoked": revoked,
                "refused": len(refused),
            },
        )
        candidate.refresh_from_db()
    return AcceptResult(
        role=role,
        people=len(created),
        grants_created=len(created),
        grants_revoked=revoked,
        refused=refused,
    )


def role_candidate_dismiss(*, actor: Any, candidate: RoleCandidate, reason: str = "") -> None:
    from apps.access.services.common import scope_for

    _require_admin(actor, candidate.tenant)
    with scope_for(candidate.tenant_id), transaction.atomic():
        updated = RoleCandidate.objects.filter(
            pk=candidate.pk, status=CandidateStatus.PROPOSED
        ).update(status=CandidateStatus.DISMISSED, decided_at=timezone.now(), decided_by=actor)
        if not updated:
            raise Conflict(_("This candidate was decided already."), code="candidate_decided")
        audit_event_record(
            action="analytics.role_candidate.dismissed",
            actor=actor,
            tenant=candidate.tenant_id,
            target=candidate,
            details={"reason": reason[:500]},
        )
