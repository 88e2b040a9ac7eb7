"""Seat allocation and reclaim, waiting lists, the reserve draw and pool alerts.

Never over capacity, under any concurrency: an allocation is one conditional UPDATE
(`used = used + 1 WHERE used < limit`), which PostgreSQL serialises on the pool row, and the
seat row is inserted in the same transaction; a check constraint keeps `used <= capacity` and a
partial unique constraint keeps one active seat per user and product, so even a bug elsewhere
cannot over-allocate or double-allocate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError, NotFound, PermissionDenied
from apps.core.tenancy import tenant_context, unscoped
from apps.licenses.conf import conf
from apps.licenses.models import (
    AlertKind,
    LicenseAlert,
    LicensePool,
    Product,
    Seat,
    SeatSource,
    WaitingListEntry,
    WaitingStatus,
)
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant


class UnknownProduct(DomainError):
    status_code = 422

    def __init__(self, key: str) -> None:
        super().__init__(
            _("There is no product %(key)s in this tenant.") % {"key": key},
            code="unknown_product",
        )


class PoolExhausted(Conflict):
    def __init__(self, pool: LicensePool) -> None:
        super().__init__(
            _("The licence pool %(pool)s has no free seat (%(used)d of %(capacity)d in use).")
            % {"pool": pool.name, "used": pool.used, "capacity": pool.capacity},
            code="pool_exhausted",
        )
        self.pool = pool


# --- who may ----------------------------------------------------------------------------------


def actor_may_manage(*, actor: Any, tenant: Tenant) -> bool:
    """Tenant admins, operators, the tenant's own integrations (scope checked by the API)
    and the system (actor None: sweepers)."""
    if actor is None:
        return True
    principal_tenant = getattr(actor, "tenant", None)
    if principal_tenant is not None and hasattr(actor, "scopes"):
        return bool(principal_tenant.pk == tenant.pk)
    if not getattr(actor, "is_authenticated", False) or not getattr(actor, "is_active", True):
        return False
    if getattr(actor, "is_superuser", False):
        return True
    with unscoped(reason="licences: is the actor an admin of the tenant"):
        return Membership.objects.filter(
            tenant=tenant, user=actor, role__in=ADMIN_ROLES, is_active=True
        ).exists()


def require_manager(*, actor: Any, tenant: Tenant) -> None:
    if not actor_may_manage(actor=actor, tenant=tenant):
        raise PermissionDenied(_("Only the tenant's admins may manage licences."))


# --- pools -------------------------------------------------------------------------------------


def pool_for(*, tenant: Tenant, product_key: str, location: str = "") -> LicensePool:
    """The pool that serves `product_key` at `location`: the location's own pool, else the
    product's default pool (empty location). Reserve pools are never chosen."""
    with tenant_context(tenant):
        pools = list(
            LicensePool.objects.filter(
                product__key=product_key,
                product__is_active=True,
                is_reserve=False,
                closed_at__isnull=True,
            ).select_related("product")
        )
    if not pools:
        with tenant_context(tenant):
            if not Product.objects.filter(key=product_key, is_active=True).exists():
                raise UnknownProduct(product_key)
        raise DomainError(
            _("The product %(key)s has no open licence pool.") % {"key": product_key},
            code="no_pool",
        )
    wanted = location.strip().lower()
    for pool in pools:
        if wanted and pool.location.lower() == wanted:
            return pool
    for pool in pools:
        if not pool.location:
            return pool
    if len(pools) == 1:
        return pools[0]
    raise DomainError(
        _("The product %(key)s has no pool for the location %(location)s.")
        % {"key": product_key, "location": location or "—"},
        code="no_pool_for_location",
    )


@transaction.atomic
def pool_create(
    *,
    actor: Any,
    tenant: Tenant,
    product: Product,
    name: str,
    capacity: int,
    location: str = "",
    **fields: Any,
) -> LicensePool:
    require_manager(actor=actor, tenant=tenant)
    with tenant_context(tenant):
        pool = LicensePool.objects.create(
            tenant=tenant,
            product=product,
            name=name,
            capacity=capacity,
            location=location,
            **fields,
        )
        audit_event_record(
            action="license_pool.created",
            actor=actor,
            target=pool,
            after={"product": product.key, "capacity": capacity, "location": location},
        )
    return pool


@transaction.atomic
def product_create(
    *, actor: Any, tenant: Tenant, key: str, name: str, description: str = ""
) -> Product:
    require_manager(actor=actor, tenant=tenant)
    with tenant_context(tenant):
        if Product.objects.filter(key=key).exists():
            raise DomainError(_("A product with this key exists already."), code="duplicate")
        product = Product.objects.create(tenant=tenant, key=key, name=name, description=description)
        audit_event_record(
            action="license_product.created", actor=actor, target=product, after={"key": key}
        )
    return product


@transaction.atomic
def pool_set_capacity(*, actor: Any, pool: LicensePool, capacity: int, reason: str) -> LicensePool:
    tenant = pool.tenant
    require_manager(actor=actor, tenant=tenant)
    with tenant_context(tenant):
        locked = LicensePool.objects.select_for_update().get(pk=pool.pk)
        if capacity < locked.used:
            raise DomainError(
                _("The capacity cannot go below the %(used)d seats in use.")
                % {"used": locked.used},
                code="capacity_below_use",
            )
        before = locked.capacity
        LicensePool.objects.filter(pk=pool.pk).update(capacity=capacity)
        locked.capacity = capacity
        audit_event_record(
            action="license_pool.capacity_changed",
            actor=actor,
            target=locked,
            before={"capacity": before},
            after={"capacity": capacity},
            details={"reason": reason},
        )
        _alerts_refresh(locked)
        if capacity > before:
            waitlist_serve(pool=locked)
    return locked


# --- allocation ------------------------------------------------------------------------------


def _eligible(pool: LicensePool, role: str | None) -> bool:
    roles = pool.eligible_roles or []
    return not roles or role in roles


_CLAIM_SQL = (
    "UPDATE licenses_licensepool SET used = used + 1 "
    "WHERE id = %s AND tenant_id = %s AND closed_at IS NULL AND NOT is_reserve AND ("
    "(NOT hard_stop AND used < capacity) OR "
    "(hard_stop AND used < (capacity * utilisation_cap_percent) / 100)) "
    "RETURNING used, capacity, utilisation_cap_percent, hard_stop"
)


def _claim_one(pool: LicensePool) -> bool:
    """The one write that hands out a seat: a conditional UPDATE on the pool row (PostgreSQL
    serialises concurrent ones on the row lock; the loser re-checks `used < limit` after the
    winner commits). RETURNING gives the new counters without another query. Integer division
    on both databases: floor(capacity * cap / 100) seats up to the cap."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [pool.pk, pool.tenant_id])
        row = cursor.fetchone()
    if row is None:
        return False
    pool.used, pool.capacity, pool.utilisation_cap_percent, pool.hard_stop = row
    return True


_POOL_CLAIM_SQL = (
    "UPDATE licenses_licensepool p SET used = p.used + 1 FROM licenses_product pr "
    "WHERE pr.id = p.product_id AND p.tenant_id = %(tenant)s AND p.id = ("
    " SELECT c.id FROM licenses_licensepool c"
    " JOIN licenses_product cp ON cp.id = c.product_id"
    " WHERE c.tenant_id = %(tenant)s AND cp.key = %(key)s AND cp.is_active"
    " AND NOT c.is_reserve AND c.closed_at IS NULL"
    " AND ((%(loc)s <> '' AND lower(c.location) = %(loc)s) OR c.location = '')"
    " ORDER BY (%(loc)s <> '' AND lower(c.location) = %(loc)s) DESC, c.id LIMIT 1)"
    " AND p.closed_at IS NULL AND NOT p.is_reserve AND ("
    "(NOT p.hard_stop AND p.used < p.capacity) OR "
    "(p.hard_stop AND p.used < (p.capacity * p.utilisation_cap_percent) / 100)) "
    "RETURNING {columns}, pr.id, pr.key, pr.name"
)
_pool_claim_plans: dict[str, tuple[str, list[Any], list[str]]] = {}


def _pool_claim_plan(conn: Any) -> tuple[str, list[Any], list[str]]:
    plan = _pool_claim_plans.get(conn.vendor)
    if plan is None:
        fields = list(LicensePool._meta.concrete_fields)
        columns = ", ".join(f"p.{conn.ops.quote_name(f.column)}" for f in fields)
        converters = []
        for f in fields:
            col = f.get_col("p")
            converters.append((col, conn.ops.get_db_converters(col) + col.get_db_converters(conn)))
        plan = (_POOL_CLAIM_SQL.format(columns=columns), converters, [f.attname for f in fields])
        _pool_claim_plans[conn.vendor] = plan
    return plan


def pool_claim(*, tenant: Tenant, product_key: str, location: str = "") -> LicensePool | None:
    """The hot path of onboarding on PostgreSQL: choose the pool as `pool_for` does (the
    location's own pool, else the product's default pool) and take one seat of it, in ONE
    statement (the same conditional UPDATE as `_claim_one`, so the same guarantee: never over
    the limit, serialised on the pool row). Returns the pool with its new counters and its
    product loaded, or None when that did not work out for any reason (no such product or
    pool, a location served by a single other pool, the pool full): the caller then takes the
    careful path (`pool_for` + `seat_allocate`), which says precisely why. Call inside the
    transaction that inserts the seat; the caller's `seat_allocate(..., claimed=True)` does."""
    if connection.vendor != "postgresql":
        return None
    sql, converters, names = _pool_claim_plan(connection)
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(
            sql, {"tenant": tenant.pk, "key": product_key, "loc": location.strip().lower()}
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (col, funcs) in zip(row[: len(names)], converters, strict=True):
        for func in funcs:
            value = func(value, col, connection)
        values.append(value)
    pool = LicensePool.from_db(connection.alias, names, values)
    product_id, key, name = row[len(names) :]
    product = Product(id=product_id, tenant_id=tenant.pk, key=key, name=name, is_active=True)
    product._state.adding = False
    product._state.db = connection.alias
    LicensePool._meta.get_field("product").set_cached_value(pool, product)
    return pool


def seat_allocate(
    *,
    actor: Any,
    tenant: Tenant,
    user: Any,
    pool: LicensePool,
    source: str = SeatSource.MANUAL,
    idempotency_key: str = "",
    role: str | None = None,
    check_permission: bool = True,
    new_user: bool = False,
    savepoint: bool = True,
    audit: bool = True,
    claimed: bool = False,
) -> Seat:
    """One seat of `pool` for `user`. Idempotent: the user's existing active seat of the
    product (or the seat made under the same idempotency key) is returned as it is.
    Raises PoolExhausted when the pool (or its hard-stop cap) is full. `audit=False` only for
    callers that record the seat in their own event in the same transaction (the joiner's
    `user.joined` lists the seats and pools). `claimed=True`: `pool` came from `pool_claim`,
    which took the seat already, for a user created in this transaction; a refusal here (not
    eligible) must roll back the caller's whole transaction, so no savepoint is allowed."""
    if claimed and (savepoint or not new_user or not transaction.get_connection().in_atomic_block):
        raise ValueError("claimed=True: a new user, inside the caller's transaction, no savepoint")
    if check_permission:
        require_manager(actor=actor, tenant=tenant)
    with tenant_context(tenant), transaction.atomic(savepoint=savepoint):
        if idempotency_key and not new_user:
            earlier = Seat.objects.filter(idempotency_key=idempotency_key).first()
            if earlier is not None:
                if earlier.user_id != user.pk or earlier.product_id != pool.product_id:
                    raise Conflict(
                        _("This idempotency key was used for another seat."),
                        code="idempotency_conflict",
                    )
                return earlier
        # A user created in this transaction has no seat yet: skip the look-up (hot path).
        existing = (
            None
            if new_user
            else Seat.objects.filter(
                product_id=pool.product_id, user=user, released_at__isnull=True
            ).first()
        )
        if existing is not None:
            return existing
        if role is None:
            role = Membership.objects.filter(user=user).values_list("role", flat=True).first() or ""
        if not _eligible(pool, role):
            raise DomainError(
                _("People with the role %(role)s may not hold a seat of %(pool)s.")
                % {"role": role or "—", "pool": pool.name},
                code="not_eligible",
            )
        if not claimed and not _claim_one(pool):
            pool.refresh_from_db(fields=["used", "capacity"])
            raise PoolExhausted(pool)
        now = timezone.now()
        seat = Seat.objects.create(
            tenant=tenant,
            pool=pool,
            product_id=pool.product_id,
            user=user,
            source=source,
            idempotency_key=idempotency_key,
            allocated_at=now,
            allocated_by=actor if getattr(actor, "_meta", None) else None,
        )
        if audit:
            audit_event_record(
                action="seat.allocated",
                actor=actor,
                target=seat,
                after={"pool": pool.name, "user": getattr(user, "email", ""), "source": source},
            )
        _alerts_after_allocation(pool)
    return seat


def seat_release(*, actor: Any, seat: Seat, reason: str, serve_waiting: bool = True) -> bool:
    """Give a seat back to its pool (idempotent: False when it was released already)."""
    tenant = seat.tenant
    with tenant_context(tenant), transaction.atomic():
        now = timezone.now()
        released = Seat.objects.filter(pk=seat.pk, released_at__isnull=True).update(
            released_at=now, release_reason=reason[:200]
        )
        if not released:
            return False
        LicensePool.objects.filter(pk=seat.pool_id, used__gt=0).update(used=F("used") - 1)
        seat.released_at = now
        seat.release_reason = reason[:200]
        audit_event_record(
            action="seat.released",
            actor=actor,
            target=seat,
            before={"active": True},
            after={"active": False},
            details={"reason": reason, "user_id": seat.user_id, "pool_id": seat.pool_id},
        )
        pool = LicensePool.objects.get(pk=seat.pool_id)
        _alerts_refresh(pool)
        if serve_waiting:
            waitlist_serve(pool=pool)
    return True


# --- waiting list ------------------------------------------------------------------------------


def _priority_for(pool: LicensePool, role: str) -> int:
    priorities = pool.role_priorities or {}
    try:
        return int(priorities.get(role, 100))
    except (TypeError, ValueError):
        return 100


def waitlist_enqueue(
    *, actor: Any, tenant: Tenant, user: Any, pool: LicensePool, role: str | None = None
) -> WaitingListEntry:
    """Put `user` on the pool's waiting list (idempotent per product)."""
    with tenant_context(tenant), transaction.atomic():
        existing = WaitingListEntry.objects.filter(
            product_id=pool.product_id, user=user, status=WaitingStatus.WAITING
        ).first()
        if existing is not None:
            return existing
        if role is None:
            role = Membership.objects.filter(user=user).values_list("role", flat=True).first() or ""
        entry = WaitingListEntry.objects.create(
            tenant=tenant,
            pool=pool,
            product_id=pool.product_id,
            user=user,
            priority=_priority_for(pool, role),
        )
        audit_event_record(
            action="seat.waitlisted",
            actor=actor,
            target=entry,
            after={
                "pool": pool.name,
                "user": getattr(user, "email", ""),
                "priority": entry.priority,
            },
        )
    return entry


def waitlist_cancel(*, actor: Any, entry: WaitingListEntry, reason: str) -> bool:
    with tenant_context(entry.tenant), transaction.atomic():
        done = WaitingListEntry.objects.filter(pk=entry.pk, status=WaitingStatus.WAITING).update(
            status=WaitingStatus.CANCELLED
        )
        if done:
            audit_event_record(
                action="seat.waitlist_cancelled",
                actor=actor,
                target=entry,
                details={"reason": reason},
            )
    return bool(done)


def waitlist_serve(*, pool: LicensePool, limit: int = 500) -> int:
    """Give free seats to the people waiting, best priority first, then first come. Runs
    whenever seats are released or added (and from the sweeper, as a safety net)."""
    served = 0
    tenant = Tenant.objects.get(pk=pool.tenant_id)
    with tenant_context(tenant), transaction.atomic():
        entries = list(
            WaitingListEntry.objects.select_for_update(skip_locked=True)
            .filter(pool=pool, status=WaitingStatus.WAITING)
            .select_related("user")
            .order_by("priority", "requested_at", "pk")[:limit]
        )
        for entry in entries:
            try:
                with transaction.atomic():
                    seat = seat_allocate(
                        actor=None,
                        tenant=tenant,
                        user=entry.user,
                        pool=pool,
                        source=SeatSource.WAITING_LIST,
                        check_permission=False,
                    )
            except PoolExhausted:
                break
            except DomainError:
                WaitingListEntry.objects.filter(pk=entry.pk).update(status=WaitingStatus.CANCELLED)
                continue
            WaitingListEntry.objects.filter(pk=entry.pk).update(
                status=WaitingStatus.SERVED, served_at=timezone.now(), seat=seat
            )
            served += 1
    return served


def waitlists_serve_due() -> int:
    """Sweeper: serve every pool that has both free seats and people waiting."""
    served = 0
    with unscoped(reason="licences sweeper: pools with free seats and a waiting list"):
        pool_ids = list(
            LicensePool.objects.filter(
                closed_at__isnull=True,
                is_reserve=False,
                waiting__status=WaitingStatus.WAITING,
            )
            .filter(used__lt=F("capacity"))
            .values_list("pk", flat=True)
            .distinct()
        )
        pools = list(LicensePool.objects.filter(pk__in=pool_ids))
    for pool in pools:
        served += waitlist_serve(pool=pool)
    return served


# --- reserve -----------------------------------------------------------------------------------


def reserve_draw(*, actor: Any, pool: LicensePool, seats: int, reason: str) -> int:
    """Move up to `seats` seats of capacity from the product's reserve pool into `pool`, then
    serve its waiting list. Returns the number moved (0 when the reserve is empty)."""
    tenant = Tenant.objects.get(pk=pool.tenant_id)
    require_manager(actor=actor, tenant=tenant)
    if seats <= 0:
        return 0
    with tenant_context(tenant), transaction.atomic():
        reserve = (
            LicensePool.objects.select_for_update()
            .filter(product_id=pool.product_id, is_reserve=True, closed_at__isnull=True)
            .first()
        )
        if reserve is None:
            raise DomainError(_("This product has no reserve pool."), code="no_reserve")
        moved = min(seats, reserve.capacity - reserve.used)
        if moved <= 0:
            return 0
        LicensePool.objects.filter(pk=reserve.pk).update(capacity=F("capacity") - moved)
        LicensePool.objects.filter(pk=pool.pk).update(capacity=F("capacity") + moved)
        audit_event_record(
            action="license_pool.reserve_drawn",
            actor=actor,
            target=pool,
            after={"seats": moved, "reserve": reserve.name},
            details={"reason": reason},
        )
        pool.refresh_from_db()
        _alerts_refresh(pool)
        waitlist_serve(pool=pool)
    return moved


def reserve_draw_due() -> int:
    """The controlled reserve job: exhausted pools (that allow it) with people waiting get
    at most LICENSES_RESERVE_DRAW_MAX seats per run from their product's reserve."""
    cap = int(conf("LICENSES_RESERVE_DRAW_MAX"))
    moved = 0
    with unscoped(reason="licences sweeper: exhausted pools with a waiting list"):
        candidates = list(
            LicensePool.objects.filter(
                closed_at__isnull=True,
                is_reserve=False,
                allow_reserve_draw=True,
                used__gte=F("capacity"),
                waiting__status=WaitingStatus.WAITING,
            ).distinct()
        )
        waiting = {
            p.pk: WaitingListEntry.objects.filter(pool=p, status=WaitingStatus.WAITING).count()
            for p in candidates
        }
    for pool in candidates:
        try:
            moved += reserve_draw(
                actor=None,
                pool=pool,
                seats=min(cap, waiting.get(pool.pk, 0)),
                reason="reserve job: pool exhausted with people waiting",
            )
        except DomainError:
            continue
    return moved


# --- reclaim ---------------------------------------------------------------------------------


def _release_all(actor: Any, seats: list[Seat], reason: str) -> int:
    count = 0
    for seat in seats:
        if seat_release(actor=actor, seat=seat, reason=reason):
            count += 1
    return count


def seats_reclaim_for_user(
    *, actor: Any, user: Any, tenant: Tenant | None = None, reason: str
) -> int:
    """Leaver / deactivation: every active seat of `user` goes back to its pool (waiting
    lists are served) and the user's waiting-list entries are cancelled. All tenants when
    `tenant` is None. Returns the number of seats released. Idempotent."""
    if tenant is None:
        with unscoped(reason="leaver: reclaim the user's seats in every tenant"):
            tenant_ids = set(
                Seat.objects.filter(user=user, released_at__isnull=True).values_list(
                    "tenant_id", flat=True
                )
            ) | set(
                WaitingListEntry.objects.filter(
                    user=user, status=WaitingStatus.WAITING
                ).values_list("tenant_id", flat=True)
            )
        tenants = list(Tenant.objects.filter(pk__in=tenant_ids))
    else:
        tenants = [tenant]
    total = 0
    for t in tenants:
        with tenant_context(t), transaction.atomic():
            seats = list(
                Seat.objects.filter(user=user, released_at__isnull=True).select_related("tenant")
            )
            total += _release_all(actor, seats, reason)
            for entry in WaitingListEntry.objects.filter(user=user, status=WaitingStatus.WAITING):
                entry.tenant = t
                waitlist_cancel(actor=actor, entry=entry, reason=reason)
    return total


def seats_reclaim_on_role_change(*, actor: Any, tenant: Tenant, user: Any, role: str) -> int:
    """Mover: seats of pools the new role is not eligible for go back to their pools."""
    with tenant_context(tenant), transaction.atomic():
        seats = [
            s
            for s in Seat.objects.filter(user=user, released_at__isnull=True).select_related(
                "pool", "tenant"
            )
            if not _eligible(s.pool, role)
        ]
        return _release_all(
            actor, seats, f"role changed to {role}: not eligible for this pool any more"
        )


def seats_reclaim_contract_ended(*, today: date | None = None) -> int:
    """Sweeper: pools bound to a contract that has ended are closed and their seats reclaimed."""
    today = today or timezone.localdate()
    total = 0
    with unscoped(reason="licences sweeper: pools of ended contracts"):
        pools = list(
            LicensePool.objects.filter(
                closed_at__isnull=True, contract__isnull=False, contract__ends_on__lt=today
            ).select_related("tenant", "contract")
        )
    for pool in pools:
        with tenant_context(pool.tenant), transaction.atomic():
            seats = list(
                Seat.objects.filter(pool=pool, released_at__isnull=True).select_related("tenant")
            )
            for seat in seats:
                seat_release(
                    actor=None,
                    seat=seat,
                    reason=f"contract {pool.contract} ended",
                    serve_waiting=False,
                )
                total += 1
            LicensePool.objects.filter(pk=pool.pk).update(closed_at=timezone.now())
            WaitingListEntry.objects.filter(pool=pool, status=WaitingStatus.WAITING).update(
                status=WaitingStatus.CANCELLED
            )
            audit_event_record(
                action="license_pool.closed",
                target=pool,
                details={"reason": "contract ended", "seats_reclaimed": len(seats)},
            )
    return total


# --- alerts -------------------------------------------------------------------------------------


def _alert_open(pool: LicensePool | None, tenant_id: int, kind: str, message: str) -> bool:
    """Open an alert unless one of the kind is open already; True when it is new."""
    try:
        with transaction.atomic():
            alert = LicenseAlert.objects.create(
                tenant_id=tenant_id, pool=pool, kind=kind, message=message[:300]
            )
    except IntegrityError:
        return False
    audit_event_record(
        action=f"license_alert.{kind}", target=alert, after={"message": alert.message}
    )
    alert_id = alert.pk
    transaction.on_commit(lambda: _alert_notify(alert_id, tenant_id))
    return True


def _alert_resolve(pool: LicensePool | None, kind: str, tenant_id: int) -> None:
    LicenseAlert.objects.filter(
        tenant_id=tenant_id, pool=pool, kind=kind, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())


def _alerts_after_allocation(pool: LicensePool) -> None:
    """Cheap on the hot path: only the allocation that crosses a line opens an alert."""
    cap_line = pool.capacity * pool.utilisation_cap_percent
    if pool.used * 100 >= cap_line and (pool.used - 1) * 100 < cap_line:
        _alert_open(
            pool,
            pool.tenant_id,
            AlertKind.POOL_CAP,
            _("%(pool)s is at %(pct)s %% of its capacity (cap %(cap)d %%).")
            % {
                "pool": pool.name,
                "pct": pool.utilisation_percent,
                "cap": pool.utilisation_cap_percent,
            },
        )
    if pool.used >= pool.allocation_limit:
        _alert_open(
            pool,
            pool.tenant_id,
            AlertKind.POOL_EXHAUSTED,
            _("%(pool)s has no free seat left.") % {"pool": pool.name},
        )


def _alerts_refresh(pool: LicensePool) -> None:
    if pool.over_cap:
        _alerts_after_allocation_force(pool)
    else:
        _alert_resolve(pool, AlertKind.POOL_CAP, pool.tenant_id)
    if pool.used < pool.allocation_limit:
        _alert_resolve(pool, AlertKind.POOL_EXHAUSTED, pool.tenant_id)


def _alerts_after_allocation_force(pool: LicensePool) -> None:
    if not LicenseAlert.objects.filter(
        pool=pool, kind=AlertKind.POOL_CAP, resolved_at__isnull=True
    ).exists():
        _alert_open(
            pool,
            pool.tenant_id,
            AlertKind.POOL_CAP,
            _("%(pool)s is at %(pct)s %% of its capacity (cap %(cap)d %%).")
            % {
                "pool": pool.name,
                "pct": pool.utilisation_percent,
                "cap": pool.utilisation_cap_percent,
            },
        )


def pool_alerts_refresh(pool: LicensePool) -> None:
    """Open or resolve the cap / exhausted alerts of a pool whose counters changed in bulk."""
    _alerts_refresh(pool)
    if pool.used >= pool.allocation_limit and not pool.is_reserve:
        _alert_open(
            pool,
            pool.tenant_id,
            AlertKind.POOL_EXHAUSTED,
            _("%(pool)s has no free seat left.") % {"pool": pool.name},
        )


def alert_open_for_tenant(*, tenant_id: int, kind: str, message: str) -> bool:
    return _alert_open(None, tenant_id, kind, message)


def alert_resolve_for_tenant(*, tenant_id: int, kind: str) -> None:
    _alert_resolve(None, kind, tenant_id)


def _alert_notify(alert_id: int, tenant_id: int) -> None:
    """Email the tenant's admins (in their language) about a new alert; never raises."""
    from apps.licenses.notify import alert_notify

    alert_notify(alert_id=alert_id, tenant_id=tenant_id)


@dataclass(frozen=True)
class SeatCounts:
    allocated: int
    released: int


def seat_counts_since(*, pool: LicensePool, since: Any) -> SeatCounts:
    return SeatCounts(
        allocated=Seat.objects.filter(pool=pool, allocated_at__gte=since).count(),
        released=Seat.objects.filter(pool=pool, released_at__gte=since).count(),
    )


def seat_get(*, tenant: Tenant, seat_id: int) -> Seat:
    with tenant_context(tenant):
        seat = Seat.objects.filter(pk=seat_id).select_related("tenant", "pool").first()
    if seat is None:
        raise NotFound(_("No such seat."))
    return seat


__all__ = [
    "PoolExhausted",
    "UnknownProduct",
    "pool_claim",
    "pool_for",
    "reserve_draw",
    "seat_allocate",
    "seat_release",
    "seats_reclaim_for_user",
]
