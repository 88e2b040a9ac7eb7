"""The joiner: onboarding one person into a tenant, all or nothing.

    create (or find) the user -> membership -> provisioning-template roles (apps.access)
    -> licence seats (apps.licenses) -> notify (after commit)

One transaction per person: if any step refuses (pool exhausted, unknown product, the person
is a member already, a disposable address ...) nothing of that person exists afterwards. Used
by the portal, the Django admin, the API (`POST /api/v1/tenants/<t>/users`), bulk imports,
approved self-service signups and the throttled provisioning queue's drain.

Also here, because they orchestrate the joiner: `joiner_submit` (token buckets: run now or
queue), `joiner_queue_drain` (the queue's sweeper: batches, retries with backoff),
`joiner_import_run` (a bulk file, batch by batch, row by row) and the signup entry points.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record, audit_events_record_bulk
from apps.core.exceptions import Conflict, DomainError
from apps.core.tenancy import tenant_context
from apps.identity.models import User, UserKind
from apps.licenses.conf import conf
from apps.licenses.disposable import is_disposable
from apps.licenses.fastsql import insert_ignoring_conflict
from apps.licenses.models import (
    IdempotencyRecord,
    JobStatus,
    ProvisioningJob,
    Seat,
    SeatSource,
    SignupCase,
    SignupDecision,
    WaitingListEntry,
)
from apps.licenses.notify import welcome_queue
from apps.licenses.services import imports as import_services
from apps.licenses.services import provisioning as queue_services
from apps.licenses.services import risk as risk_services
from apps.licenses.services.idempotency import idempotency_complete
from apps.licenses.services.seats import (
    PoolExhausted,
    pool_claim,
    pool_for,
    require_manager,
    seat_allocate,
    waitlist_enqueue,
)
from apps.licenses.throttle import backoff_seconds
from apps.tenants import services as tenant_services
from apps.tenants.models import Membership, Tenant, TenantRole

logger = logging.getLogger("custos.lifecycle")
T = TypeVar("T")

WHEN_FULL_CHOICES = ("reject", "wait")


class DisposableEmail(DomainError):
    status_code = 422

    def __init__(self, email: str) -> None:
        super().__init__(
            _("%(domain)s is a disposable email domain; use a permanent address.")
            % {"domain": email.rsplit("@", 1)[-1]},
            code="disposable_email",
        )


@dataclass
class JoinerRequest:
    email: str
    full_name: str = ""
    role: str = TenantRole.MEMBER
    department: str = ""
    title: str = ""
    country: str = ""
    language: str = ""
    location: str = ""
    products: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    when_full: str = "reject"  # or "wait": join the waiting list instead of failing

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> JoinerRequest:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["products"] = list(values.get("products") or [])
        values["attributes"] = dict(values.get("attributes") or {})
        return cls(**values)

    def as_payload(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "full_name": self.full_name,
            "role": self.role,
            "department": self.department,
            "title": self.title,
            "country": self.country,
            "language": self.language,
            "location": self.location,
            "products": list(self.products),
            "attributes": dict(self.attributes),
            "when_full": self.when_full,
        }

    def template_attributes(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "title": self.title,
            "role": self.role,
            "location": self.location,
            "country": self.country,
            **self.attributes,
        }


@dataclass
class JoinerResult:
    user: Any
    membership: Membership
    created_user: bool
    grants: list[Any] = field(default_factory=list)
    seats: list[Seat] = field(default_factory=list)
    waiting: list[WaitingListEntry] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {
            "id": self.user.pk,
            "email": self.user.email,
            "full_name": self.user.full_name,
            "role": self.membership.role,
            "created_user": self.created_user,
            "grants": [getattr(g, "pk", None) for g in self.grants],
            "seats": [
                {"id": s.pk, "product": s.pool.product.key, "pool": s.pool.name} for s in self.seats
            ],
            "waiting": [
                {"id": w.pk, "product": w.pool.product.key, "pool": w.pool.name}
                for w in self.waiting
            ],
        }


# --- validation -------------------------------------------------------------------------------


def joiner_clean(*, tenant: Tenant, request: JoinerRequest) -> JoinerRequest:
    """Normalise and refuse what cannot be onboarded (specific codes, 422)."""
    email = (request.email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise DomainError(
            _("“%(email)s” is not an email address.") % {"email": email}, code="invalid_email"
        ) from exc
    if request.role not in TenantRole.values:
        raise DomainError(
            _("There is no role %(role)s.") % {"role": request.role}, code="unknown_role"
        )
    if request.when_full not in WHEN_FULL_CHOICES:
        raise DomainError(_("when_full is reject or wait."), code="invalid_when_full")
    if queue_services.policy_for(tenant).reject_disposable_email and is_disposable(email):
        raise DisposableEmail(email)
    products: list[str] = []
    for key in request.products:
        key = str(key).strip().lower()
        if key and key not in products:
            products.append(key)
    request.email = email
    request.products = products
    request.country = (request.country or "").strip().upper()[:2]
    request.language = (request.language or "").strip().lower()[:10]
    request.full_name = (request.full_name or "").strip()[:200]
    return request


# --- the joiner ---------------------------------------------------------------------------------


def _templates_apply(
    *, actor: Any, tenant: Tenant, user: Any, attributes: dict[str, Any]
) -> list[Any]:
    """Provisioning-template roles from apps.access (agreed interface `templates_apply`)."""
    try:
        access_services = importlib.import_module("apps.access.services")
    except ImportError:  # the access app has no services yet
        return []
    apply = getattr(access_services, "templates_apply", None)
    if apply is None:
        return []
    return list(apply(actor=actor, tenant=tenant, user=user, attributes=attributes) or [])


def _user_for(*, tenant: Tenant, request: JoinerRequest) -> tuple[Any, bool]:
    """The account to onboard: a new one (created here), or an existing customer account that
    is not a member of this tenant yet."""
    new = User(
        email=request.email,  # lower-cased by joiner_clean, as User.save() would
        full_name=request.full_name,
        country=request.country,
        language=request.language if request.language in ("en", "de", "fr") else "",
        time_zone=tenant.time_zone,
    )
    # No password: they set one through "forgot password" (welcome mail) or sign in through
    # their IdP. (An unusable password costs nothing; hashing one would cost ~100 ms.)
    new.set_unusable_password()
    # The usual case, a new person, in one statement (PostgreSQL): INSERT … ON CONFLICT DO
    # NOTHING RETURNING id. A conflict (the email exists, or a concurrent request inserted it
    # and committed) writes nothing and continues below with the existing account.
    if connection.vendor == "postgresql" and insert_ignoring_conflict(new):
        return new, True
    # Emails are stored lower-cased (User.save) and `request.email` is too: an exact match
    # uses the unique index (iexact would scan the table).
    user = User.objects.filter(email=request.email).first()
    if user is not None:
        if user.kind != UserKind.CUSTOMER or not user.is_active:
            raise Conflict(
                _("%(email)s cannot be onboarded here (disabled or vendor account).")
                % {"email": request.email},
                code="user_unavailable",
            )
        if Membership.objects.filter(user=user).exists():  # tenant-scoped
            raise Conflict(
                _("%(email)s is a member of this tenant already.") % {"email": request.email},
                code="already_member",
            )
        return user, False
    new.save()
    return new, True


def _apply(
    *,
    actor: Any,
    tenant: Tenant,
    request: JoinerRequest,
    source: str,
    idempotency_key: str = "",
    notify: bool = True,
) -> JoinerResult:
    """The steps, inside the caller's transaction and tenant context."""
    user, created = _user_for(tenant=tenant, request=request)
    if created:
        # A brand-new account cannot be a member yet: one INSERT, recorded in `user.joined`
        # below (role, department) instead of a second event.
        membership = Membership.objects.create(
            tenant=tenant,
            user=user,
            role=request.role,
            department=request.department[:100],
            title=request.title[:100],
        )
    else:
        membership = tenant_services.membership_add(
            actor=actor,
            tenant=tenant,
            user=user,
            role=request.role,
            department=request.department[:100],
            title=request.title[:100],
        )
    attributes = request.template_attributes()
    # Most tenants have no template for most people: one SELECT tells, instead of the access
    # app's savepoint + SELECT + release.
    grants = (
        _templates_apply(actor=actor, tenant=tenant, user=user, attributes=attributes)
        if _templates_may_match(
            tenant=tenant, attributes=attributes, roles_for=_template_roles_lookup()
        )
        else []
    )
    seats: list[Seat] = []
    waiting: list[WaitingListEntry] = []
    # Pools last: the pool row's lock is then held only for the end of the transaction.
    for key in request.products:
        if created and request.when_full != "wait":
            # Hot path: pool choice and seat claim in one statement (PostgreSQL); None sends
            # us down the careful path below, which explains a refusal precisely.
            claimed = pool_claim(tenant=tenant, product_key=key, location=request.location)
            if claimed is not None:
                seats.append(
                    seat_allocate(
                        actor=actor,
                        tenant=tenant,
                        user=user,
                        pool=claimed,
                        source=source,
                        idempotency_key=f"{idempotency_key}:{key}" if idempotency_key else "",
                        role=request.role,
                        check_permission=False,
                        new_user=True,
                        audit=False,
                        savepoint=False,
                        claimed=True,
                    )
                )
                continue
        pool = pool_for(tenant=tenant, product_key=key, location=request.location)
        try:
            seats.append(
                seat_allocate(
                    actor=actor,
                    tenant=tenant,
                    user=user,
                    pool=pool,
                    source=source,
                    idempotency_key=f"{idempotency_key}:{key}" if idempotency_key else "",
                    role=request.role,
                    check_permission=False,
                    new_user=created,
                    audit=False,  # recorded in `user.joined` below (seat ids and pools)
                    # Refusing rolls the whole person back anyway: no savepoint needed.
                    savepoint=request.when_full == "wait",
                )
            )
        except PoolExhausted:
            if request.when_full != "wait":
                raise
            waiting.append(
                waitlist_enqueue(
                    actor=actor, tenant=tenant, user=user, pool=pool, role=request.role
                )
            )
    audit_event_record(
        action="user.joined",
        actor=actor,
        target=user,
        after={
            "email": user.email,
            "role": request.role,
            "membership": membership.pk,
            "department": membership.department,
            "seats": [
                {"seat": s.pk, "product": s.pool.product.key, "pool": s.pool_id} for s in seats
            ],
            "waiting": [w.pool.product.key for w in waiting],
            "grants": len(grants),
        },
        details={"source": source, "created_user": created},
    )
    result = JoinerResult(
        user=user,
        membership=membership,
        created_user=created,
        grants=grants,
        seats=seats,
        waiting=waiting,
    )
    if created and notify:
        welcome_queue(tenant=tenant, welcomes=[(user.pk, [s.pool.product.name for s in seats])])
    return result


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: lock/serialisation failures, a dropped connection, and the
    unique-email race (the retry then answers `already_member` cleanly)."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, IntegrityError)


def with_retries[T](fn: Callable[[], T], *, attempts: int | None = None, sleep: bool = True) -> T:
    """Run `fn` (one whole transaction) up to LICENSES_RETRY_ATTEMPTS times on transient
    database errors, backing off exponentially (capped at LICENSES_RETRY_MAX_SECONDS)."""
    attempts = attempts or int(conf("LICENSES_RETRY_ATTEMPTS"))
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (OperationalError, IntegrityError) as exc:
            if attempt >= attempts or not _transient(exc):
                raise
            logger.info("joiner attempt %d failed (%s); retrying", attempt, type(exc).__name__)
            if sleep and not isinstance(exc, IntegrityError):
                time.sleep(backoff_seconds(attempt) / 5)
    raise AssertionError("unreachable")


def joiner_run(
    *,
    actor: Any,
    tenant: Tenant,
    request: JoinerRequest,
    source: str = SeatSource.JOINER,
    idempotency_key: str = "",
    idempotency_record: IdempotencyRecord | None = None,
    check_permission: bool = True,
    notify: bool = True,
) -> JoinerResult:
    """Onboard one person, all or nothing (retrying transient database errors)."""
    if check_permission:
        require_manager(actor=actor, tenant=tenant)
    request = joiner_clean(tenant=tenant, request=request)

    def attempt() -> JoinerResult:
        with tenant_context(tenant), transaction.atomic():
            result = _apply(
                actor=actor,
                tenant=tenant,
                request=request,
                source=source,
                idempotency_key=idempotency_key,
                notify=notify,
            )
            if idempotency_record is not None:
                idempotency_complete(
                    record=idempotency_record, status=201, body=result.as_response()
                )
            return result

    try:
        return with_retries(attempt)
    except IntegrityError as exc:
        raise Conflict(
            _("%(email)s was onboarded by a concurrent request.") % {"email": request.email},
            code="already_member",
        ) from exc


# --- throttled entry point and the queue -------------------------------------------------------


@dataclass
class Submitted:
    status: str  # "created" or "queued"
    result: JoinerResult | None = None
    job: ProvisioningJob | None = None
    retry_after: float = 0.0

    def as_response(self) -> tuple[int, dict[str, Any]]:
        if self.result is not None:
            return 201, self.result.as_response()
        assert self.job is not None
        return 202, {
            "status": "queued",
            "job_id": self.job.pk,
            "retry_after": round(self.retry_after, 3),
        }


def joiner_submit(
    *,
    actor: Any,
    tenant: Tenant,
    request: JoinerRequest,
    source: str,
    idempotency_key: str = "",
    idempotency_record: IdempotencyRecord | None = None,
) -> Submitted:
    """Run now when the tenant's and the global token buckets allow, otherwise queue the
    onboarding for the drain (202). Validation errors are raised either way, before queuing."""
    require_manager(actor=actor, tenant=tenant)
    request = joiner_clean(tenant=tenant, request=request)
    wait = queue_services.throttle_take(tenant=tenant)
    if wait <= 0:
        result = joiner_run(
            actor=actor,
            tenant=tenant,
            request=request,
            source=source,
            idempotency_key=idempotency_key,
            idempotency_record=idempotency_record,
            check_permission=False,
        )
        return Submitted("created", result=result)
    with tenant_context(tenant), transaction.atomic():
        job = queue_services.job_enqueue(
            actor=actor,
            tenant=tenant,
            payload=request.as_payload(),
            source=source,
            idempotency_key=idempotency_key,
            delay_seconds=wait,
        )
        submitted = Submitted("queued", job=job, retry_after=wait)
        if idempotency_record is not None:
            status, body = submitted.as_response()
            idempotency_complete(record=idempotency_record, status=status, body=body)
    return submitted


def joiner_queue_drain(*, limit: int | None = None) -> dict[str, int]:
    """The queue's sweeper: claim a batch of due jobs and onboard each, within the token
    buckets. Permanent refusals fail the job (admins see it); transient errors back off
    exponentially (3 attempts, at most 5 s apart by default)."""
    counts = {"done": 0, "retry": 0, "failed": 0, "deferred": 0}
    for job in queue_services.jobs_claim_due(limit=limit):
        tenant = job.tenant
        wait = queue_services.throttle_take(tenant=tenant)
        if wait > 0:
            with tenant_context(tenant):
                ProvisioningJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.PENDING,
                    lease_until=None,
                    next_attempt_at=timezone.now() + timedelta(seconds=wait),
                )
            counts["deferred"] += 1
            continue
        try:
            result = joiner_run(
                actor=job.requested_by,
                tenant=tenant,
                request=JoinerRequest.from_payload(job.payload),
                source=job.source,
                idempotency_key=job.idempotency_key,
                check_permission=False,
            )
        except DomainError as exc:
            queue_services.job_retry_or_fail(job=job, error=exc.message, transient=False)
            counts["failed"] += 1
            continue
        except (OperationalError, IntegrityError) as exc:
            status = queue_services.job_retry_or_fail(
                job=job, error=type(exc).__name__, transient=True
            )
            counts["retry" if status == JobStatus.PENDING else "failed"] += 1
            continue
        queue_services.job_finish(job=job, user=result.user)
        counts["done"] += 1
    return counts


# --- bulk import -------------------------------------------------------------------------------


def joiner_import_run(*, import_id: int) -> dict[str, int] | None:
    """Run a confirmed import: rows in batches (one transaction per batch, a savepoint per
    row so each person is all or nothing), progress committed after every batch, a result
    file at the end. Each batch takes one token of the tenant's provisioning bucket."""
    imp = import_services.import_claim(import_id=import_id)
    if imp is None:
        return None
    tenant = imp.tenant
    try:
        rows, read_errors = import_services.file_read(filename=imp.filename, data=bytes(imp.source))
        checked = import_services.rows_check(
            tenant=tenant, rows=rows, errors=read_errors, simulate_pools=False
        )
    except DomainError as exc:
        import_services.import_fail(imp=imp, error=exc.message)
        return None
    emails = {n: str(raw.get("email") or "") for n, raw in rows}
    results: list[dict[str, Any]] = []
    failed = 0
    for number, problems in checked.errors.items():
        failed += 1
        results.append(
            {
                "row": number,
                "email": emails.get(number, ""),
                "status": "failed",
                "error_code": problems[0]["code"],
                "error": "; ".join(p["message"] for p in problems),
            }
        )
    created = 0
    batch_size = int(conf("LICENSES_IMPORT_BATCH"))
    actor = imp.created_by
    for start in range(0, len(checked.specs), batch_size):
        batch = checked.specs[start : start + batch_size]
        while (wait := queue_services.throttle_take(tenant=tenant)) > 0:
            time.sleep(min(wait, 1.0))
        batch_results: list[dict[str, Any]] | None
        try:
            with tenant_context(tenant), transaction.atomic():
                batch_results = _import_batch_bulk(actor=actor, tenant=tenant, batch=batch)
        except IntegrityError:  # a concurrent onboarding of one of these people
            batch_results = None
        if batch_results is None:
            with tenant_context(tenant), transaction.atomic():
                batch_results = _import_rows_one_by_one(actor=actor, tenant=tenant, batch=batch)
        created += sum(1 for r in batch_results if r["status"] == "created")
        failed += sum(1 for r in batch_results if r["status"] == "failed")
        results.extend(batch_results)
        import_services.import_progress(
            imp=imp, processed=created + failed, created=created, failed=failed
        )
    results.sort(key=lambda r: int(r["row"]))
    import_services.import_finish(imp=imp, results=results, created=created, failed=failed)
    return {"created": created, "failed": failed}


def _row_failed(spec: Any, code: str, message: str) -> dict[str, Any]:
    return {
        "row": spec.row,
        "email": spec.email,
        "status": "failed",
        "error_code": code,
        "error": message,
    }


def _row_created(spec: Any, user: Any, products: list[str]) -> dict[str, Any]:
    return {
        "row": spec.row,
        "email": spec.email,
        "status": "created",
        "user_id": user.pk,
        "seats": " ".join(products),
    }


def _import_rows_one_by_one(
    *, actor: Any, tenant: Tenant, batch: list[Any], source: str = SeatSource.IMPORT
) -> list[dict[str, Any]]:
    """The careful path: the joiner per row, each in a savepoint (all or nothing per person)."""
    results: list[dict[str, Any]] = []
    for spec in batch:
        request = JoinerRequest.from_payload(spec.as_payload())
        try:
            request = joiner_clean(tenant=tenant, request=request)
            with transaction.atomic():
                result = _apply(actor=actor, tenant=tenant, request=request, source=source)
        except DomainError as exc:
            results.append(_row_failed(spec, exc.code, exc.message))
            continue
        except IntegrityError:
            results.append(
                _row_failed(
                    spec,
                    "already_member",
                    _("%(email)s was onboarded by a concurrent request.") % {"email": spec.email},
                )
            )
            continue
        results.append(_row_created(spec, result.user, [s.pool.product.key for s in result.seats]))
    return results


def _import_batch_bulk(
    *, actor: Any, tenant: Tenant, batch: list[Any], source: str = SeatSource.IMPORT
) -> list[dict[str, Any]] | None:
    """The fast path for a batch of new people (the usual import): the pools involved are
    locked once, seats are counted out in row order (a row gets all its seats or none: a full
    pool fails exactly the rows that would overflow it), then users, memberships and seats are
    inserted in bulk and each person gets their `user.joined` audit event. Returns None (the
    caller then goes row by row) when a row needs the careful path: an existing account."""
    from django.contrib.auth.hashers import make_password

    from apps.licenses.models import LicensePool
    from apps.licenses.services.seats import pool_alerts_refresh

    results: list[dict[str, Any]] = []
    cleaned: list[tuple[Any, JoinerRequest]] = []
    for spec in batch:
        try:
            request = joiner_clean(
                tenant=tenant, request=JoinerRequest.from_payload(spec.as_payload())
            )
        except DomainError as exc:
            results.append(_row_failed(spec, exc.code, exc.message))
            continue
        cleaned.append((spec, request))
    if User.objects.filter(email__in=[r.email for _spec, r in cleaned]).exists():
        return None
    pools: dict[tuple[str, str], Any] = {}
    wanted: list[tuple[Any, JoinerRequest, list[Any]]] = []
    for spec, request in cleaned:
        try:
            row_pools = []
            for key in request.products:
                cache_key = (key, request.location.strip().lower())
                if cache_key not in pools:
                    pools[cache_key] = pool_for(
                        tenant=tenant, product_key=key, location=request.location
                    )
                row_pools.append(pools[cache_key])
        except DomainError as exc:
            results.append(_row_failed(spec, exc.code, exc.message))
            continue
        wanted.append((spec, request, row_pools))
    pool_ids = sorted({p.pk for row in wanted for p in row[2]})
    locked = {
        p.pk: p
        for p in LicensePool.objects.select_for_update()
        .filter(pk__in=pool_ids)
        .select_related("product")
        .order_by("pk")
    }
    free = {pk: (0 if p.closed_at or p.is_reserve else p.free) for pk, p in locked.items()}
    accepted: list[tuple[Any, JoinerRequest, list[Any]]] = []
    for spec, request, row_pools in wanted:
        full = next((p for p in row_pools if free[p.pk] <= 0), None)
        if full is not None:
            exhausted = PoolExhausted(locked[full.pk])
            results.append(_row_failed(spec, exhausted.code, exhausted.message))
            continue
        for p in row_pools:
            free[p.pk] -= 1
        accepted.append((spec, request, [locked[p.pk] for p in row_pools]))
    for pk, pool in locked.items():
        taken = (0 if pool.closed_at or pool.is_reserve else pool.free) - free[pk]
        if taken:
            LicensePool.objects.filter(pk=pk).update(used=F("used") + taken)
            pool.used += taken
    now = timezone.now()
    users = User.objects.bulk_create(
        [
            User(
                email=request.email,
                full_name=request.full_name,
                country=request.country,
                language=request.language if request.language in ("en", "de", "fr") else "",
                time_zone=tenant.time_zone,
                password=make_password(None),
                date_joined=now,
            )
            for _spec, request, _pools in accepted
        ]
    )
    Membership.objects.bulk_create(
        [
            Membership(
                tenant=tenant,
                user=user,
                role=request.role,
                department=request.department[:100],
                title=request.title[:100],
            )
            for user, (_spec, request, _pools) in zip(users, accepted, strict=True)
        ]
    )
    seats = Seat.objects.bulk_create(
        [
            Seat(
                tenant=tenant,
                pool=pool,
                product_id=pool.product_id,
                user=user,
                source=source,
                allocated_at=now,
                allocated_by=actor if getattr(actor, "_meta", None) else None,
            )
            for user, (_spec, _request, row_pools) in zip(users, accepted, strict=True)
            for pool in row_pools
        ]
    )
    seats_of: dict[int, list[Seat]] = {}
    for seat in seats:
        seats_of.setdefault(seat.user.pk, []).append(seat)
    welcomes: list[tuple[int, list[str]]] = []
    roles_cache: dict[tuple[tuple[str, str], ...], bool] = {}
    roles_for = _template_roles_lookup()
    # The `user.joined` events go to the chain in bulk (one head lock and one INSERT for the
    # run), flushed before a template gives someone roles so the chain keeps the order of the
    # one-by-one path (that person's grant events, then their `user.joined`).
    joined: list[dict[str, Any]] = []
    for user, (spec, request, _pools) in zip(users, accepted, strict=True):
        attributes = request.template_attributes()
        attr_key = tuple(sorted((k, str(v)) for k, v in attributes.items()))
        if attr_key not in roles_cache:
            roles_cache[attr_key] = _templates_may_match(
                tenant=tenant, attributes=attributes, roles_for=roles_for
            )
        grants: list[Any] = []
        if roles_cache[attr_key]:
            audit_events_record_bulk(tenant=tenant, events=joined)
            joined = []
            grants = _templates_apply(actor=actor, tenant=tenant, user=user, attributes=attributes)
        mine = seats_of.get(user.pk, [])
        joined.append(
            {
                "action": "user.joined",
                "actor": actor,
                "target": user,
                "after": {
                    "email": user.email,
                    "role": request.role,
                    "seats": [
                        {"seat": s.pk, "product": s.pool.product.key, "pool": s.pool_id}
                        for s in mine
                    ],
                    "grants": len(grants),
                },
                "details": {"source": source, "created_user": True, "bulk": True},
            }
        )
        results.append(_row_created(spec, user, [s.pool.product.key for s in mine]))
        welcomes.append((user.pk, [s.pool.product.name for s in mine]))
    audit_events_record_bulk(tenant=tenant, events=joined)
    welcome_queue(tenant=tenant, welcomes=welcomes)
    for pool in locked.values():
        pool_alerts_refresh(pool)
    return results


def _template_roles_lookup() -> Callable[..., Any] | None:
    try:
        access_services = importlib.import_module("apps.access.services")
    except ImportError:
        return None
    return getattr(access_services, "template_roles_for", None)


# Whether the tenant has an active provisioning template at all, as plain SQL (tenant scope and
# row-level security apply as to any statement): ~0.1 ms against ~1 ms for the ORM query of
# `template_roles_for`, and most tenants onboard most people without one.
_ACTIVE_TEMPLATE_SQL = "SELECT 1 FROM {table} WHERE tenant_id = %s AND active LIMIT 1"


def _templates_may_match(
    *, tenant: Tenant, attributes: dict[str, Any], roles_for: Callable[..., Any] | None
) -> bool:
    """False only when no provisioning template can give this person roles: none is active in
    the tenant (one lean SELECT), or the access app's own matcher finds none."""
    if roles_for is None:
        return True
    if connection.vendor == "postgresql":
        from django.apps import apps as django_apps

        try:
            model = django_apps.get_model("access", "ProvisioningTemplate")
        except LookupError:
            model = None
        if model is not None:
            with tenant_context(tenant), connection.cursor() as cursor:
                cursor.execute(
                    _ACTIVE_TEMPLATE_SQL.format(
                        table=connection.ops.quote_name(model._meta.db_table)
                    ),
                    [tenant.pk],
                )
                if cursor.fetchone() is None:
                    return False
    return bool(roles_for(tenant=tenant, attributes=attributes))


# --- batches through the API -------------------------------------------------------------------

BATCH_MAX = 200
_CONFLICT_CODES = frozenset({"pool_exhausted", "already_member", "user_unavailable"})


@dataclass
class _BatchSpec:
    row: int
    email: str
    payload: dict[str, Any]

    def as_payload(self) -> dict[str, Any]:
        return self.payload


@dataclass
class BatchResult:
    items: list[dict[str, Any]]
    created: int
    failed: int

    def as_response(self) -> dict[str, Any]:
        return {"created": self.created, "failed": self.failed, "items": self.items}


def _batch_item(row: dict[str, Any], users: dict[int, Any]) -> dict[str, Any]:
    if row["status"] == "created":
        user = users.get(row["user_id"])
        return {
            "index": row["row"],
            "status": 201,
            "id": row["user_id"],
            "email": user.email if user is not None else row["email"],
            "seats": [p for p in str(row.get("seats") or "").split() if p],
            "error": None,
        }
    code = str(row.get("error_code") or "invalid")
    return {
        "index": row["row"],
        "status": 409 if code in _CONFLICT_CODES else 422,
        "id": None,
        "email": row["email"],
        "seats": [],
        "error": {"code": code, "message": row.get("error", "")},
    }


def joiner_batch_run(
    *,
    actor: Any,
    tenant: Tenant,
    payloads: list[dict[str, Any]],
    source: str = SeatSource.API,
    idempotency_record: IdempotencyRecord | None = None,
) -> BatchResult:
    """Onboard up to BATCH_MAX people in one call (`POST /tenants/<t>/users/batch`): each
    person all or nothing, the batch not (every item answers for itself: 201, 409 or 422).
    New people take the import's set-based path (pools locked once, bulk inserts, one audit
    event each); a batch with an existing account, or with people who asked to wait for a
    full pool, goes person by person. The batch takes one token of the provisioning buckets
    (like an import batch); when none is left it raises Throttled (the API answers 429 with
    Retry-After)."""
    require_manager(actor=actor, tenant=tenant)
    if not payloads or len(payloads) > BATCH_MAX:
        raise DomainError(
            _("A batch holds 1 to %(max)d people.") % {"max": BATCH_MAX}, code="invalid_batch"
        )
    wait = queue_services.throttle_take(tenant=tenant)
    if wait > 0:
        raise Throttled(wait)
    specs = [
        _BatchSpec(row=i, email=str(p.get("email") or "").strip().lower(), payload=p)
        for i, p in enumerate(payloads)
    ]
    careful = any(p.get("when_full") == "wait" for p in payloads)

    def finish(rows: list[dict[str, Any]]) -> BatchResult:
        ids = [r["user_id"] for r in rows if r["status"] == "created"]
        users = User.objects.in_bulk(ids) if ids else {}
        items = [_batch_item(r, users) for r in sorted(rows, key=lambda r: int(r["row"]))]
        result = BatchResult(
            items=items,
            created=sum(1 for i in items if i["status"] == 201),
            failed=sum(1 for i in items if i["status"] != 201),
        )
        if idempotency_record is not None:
            idempotency_complete(record=idempotency_record, status=200, body=result.as_response())
        return result

    if not careful:
        try:
            with tenant_context(tenant), transaction.atomic():
                rows = _import_batch_bulk(actor=actor, tenant=tenant, batch=specs, source=source)
                if rows is not None:
                    return finish(rows)
        except IntegrityError:  # a concurrent onboarding of one of these people
            pass
    with tenant_context(tenant), transaction.atomic():
        return finish(
            _import_rows_one_by_one(actor=actor, tenant=tenant, batch=specs, source=source)
        )


class Throttled(DomainError):
    status_code = 429

    def __init__(self, wait: float) -> None:
        super().__init__(
            _("Over the tenant's provisioning rate; retry in %(seconds).1f s.") % {"seconds": wait},
            code="throttled",
        )
        self.retry_after = wait


# --- self-service signups ----------------------------------------------------------------------


def signup_submit(
    *,
    actor: Any,
    tenant: Tenant,
    data: risk_services.SignupInput,
    request: JoinerRequest,
) -> tuple[SignupCase, JoinerResult | None]:
    """Assess a signup; a low-risk one is onboarded at once, the rest wait for review."""
    require_manager(actor=actor, tenant=tenant)
    request.email = data.email
    request = joiner_clean_for_signup(tenant=tenant, request=request)
    case = risk_services.signup_assess(
        tenant=tenant,
        data=risk_services.SignupInput(**{**data.__dict__, "request": request.as_payload()}),
    )
    if case.decision != SignupDecision.AUTO_APPROVED:
        return case, None
    with tenant_context(tenant), transaction.atomic():
        result = joiner_run(
            actor=actor,
            tenant=tenant,
            request=request,
            source=SeatSource.SIGNUP,
            check_permission=False,
        )
        risk_services.signup_link_user(case=case, user=result.user)
    return case, result


def joiner_clean_for_signup(*, tenant: Tenant, request: JoinerRequest) -> JoinerRequest:
    """Like joiner_clean, except that a disposable address is a risk signal to review, not a
    refusal."""
    email = (request.email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise DomainError(
            _("“%(email)s” is not an email address.") % {"email": email}, code="invalid_email"
        ) from exc
    request.email = email
    request.role = TenantRole.MEMBER  # self-service signups never choose their role
    return request


def signup_approve(*, actor: Any, case: SignupCase, note: str = "") -> JoinerResult:
    """A reviewer approves: decision and onboarding in one transaction."""
    tenant = Tenant.objects.get(pk=case.tenant_id)
    request = JoinerRequest.from_payload({**case.request, "email": case.email})
    request.role = TenantRole.MEMBER
    with tenant_context(tenant), transaction.atomic():
        risk_services.signup_decide(
            actor=actor, case=case, decision=SignupDecision.APPROVED, note=note
        )
        # A reviewer approving overrides the disposable-address refusal on purpose.
        result = _apply(actor=actor, tenant=tenant, request=request, source=SeatSource.SIGNUP)
        risk_services.signup_link_user(case=case, user=result.user)
    return result
