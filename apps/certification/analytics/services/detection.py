"""Anomaly detection over access events, in batches.

`anomalies_detect` claims up to `limit` events not looked at yet (oldest first), loads the
per-person state of everyone in the batch with one query, runs the rules in memory in time
order, then writes the alerts, the state and the events' `detected_at` with a handful of bulk
statements — so the cost per event is microseconds of Python plus its share of a few bulk
statements (bench/bench_analytics.py). One detector runs at a time (a PostgreSQL advisory lock
held for the batch's transaction): the per-person state is read and written without races.

Rules (thresholds per tenant, AnalyticsSettings):
* outside business hours in the tenant's time zone (one alert per person and local day);
* a country not seen before for that person (the first country is the baseline);
* impossible travel: two accesses more than `travel_km` (2,000 km) apart within
  `travel_minutes` (10 minutes), great-circle (haversine) distance;
* bulk export: rows or bytes exported within a window above the threshold (once a window);
* repeated failed authentication: `auth_failures` within the window (once a window).
"""

from __future__ import annotations

import json
import logging
import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.certification.analytics.models import (
    SEVERITY_RANK,
    AccessEvent,
    AlertKind,
    AnalyticsSettings,
    AnomalyAlert,
    EventKind,
    Severity,
    UserAccessProfile,
)
from apps.core.tenancy import unscoped

logger = logging.getLogger("custos.analytics")

BATCH = 5_000
ADVISORY_LOCK_KEY = 0x637573_616E61  # "cus" "ana": one detector at a time
EARTH_RADIUS_KM = 6371.0
MAX_COUNTRIES = 50
TOUCH_EVERY = timedelta(hours=1)  # Grant.last_used_at is refreshed at most this often
PROFILE_FIELDS = [
    "countries",
    "last_at",
    "last_lat",
    "last_lon",
    "last_place",
    "fail_window_start",
    "fail_count",
    "export_window_start",
    "export_rows",
    "export_bytes",
    "export_alerted",
    "offhours_alerted_on",
    "events_seen",
]
EVENT_FIELDS = (
    "id",
    "tenant_id",
    "user_id",
    "principal",
    "at",
    "kind",
    "ip",
    "country",
    "city",
    "lat",
    "lon",
    "rows",
    "bytes",
    "grant_id",
    "entitlement_id",
)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat = p2 - p1
    dlon = math.radians(lon2 - lon1)
    h = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass
class TenantRules:
    tz: zoneinfo.ZoneInfo
    conf: AnalyticsSettings
    days: frozenset[int]
    travel: timedelta
    export_window: timedelta
    fail_window: timedelta
    email_rank: int


@dataclass
class DetectResult:
    events: int = 0
    alerts: int = 0
    busy: bool = False
    alert_ids: list[int] = field(default_factory=list)


def settings_for(tenant: Any) -> AnalyticsSettings:
    """The tenant's settings row, or an unsaved one holding the defaults."""
    tenant_id = getattr(tenant, "pk", tenant)
    row = AnalyticsSettings.objects.for_tenant(tenant_id).first()
    return row if row is not None else AnalyticsSettings(tenant_id=tenant_id)


def _rules(tenant_ids: set[int]) -> dict[int, TenantRules]:
    from apps.tenants.models import Tenant

    rows = {s.tenant_id: s for s in AnalyticsSettings.objects.filter(tenant_id__in=tenant_ids)}
    result = {}
    for tenant_id, tz_name in Tenant.objects.filter(pk__in=tenant_ids).values_list(
        "pk", "time_zone"
    ):
        conf = rows.get(tenant_id) or AnalyticsSettings(tenant_id=tenant_id)
        try:
            tz = zoneinfo.ZoneInfo(tz_name or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("UTC")
        result[tenant_id] = TenantRules(
            tz=tz,
            conf=conf,
            days=frozenset(int(c) for c in conf.business_days if c.isdigit()),
            travel=timedelta(minutes=conf.travel_minutes),
            export_window=timedelta(minutes=conf.export_window_minutes),
            fail_window=timedelta(minutes=conf.auth_failure_minutes),
            email_rank=SEVERITY_RANK.get(conf.email_min_severity, 2),
        )
    return result


def _lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite serialises writers anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        return bool(cursor.fetchone()[0])


class _Detector:
    def __init__(self, rules: dict[int, TenantRules], now: datetime) -> None:
        self.rules = rules
        self.now = now
        self.alerts: list[AnomalyAlert] = []

    def alert(
        self,
        ev: dict[str, Any],
        kind: str,
        severity: str,
        rules: TenantRules,
        **details: Any,
    ) -> None:
        notify = SEVERITY_RANK[severity] >= rules.email_rank
        self.alerts.append(
            AnomalyAlert(
                tenant_id=ev["tenant_id"],
                kind=kind,
                severity=severity,
                user_id=ev["user_id"],
                event_id=ev["id"],
                details={"event_kind": ev["kind"], "ip": ev["ip"] or "", **details},
                raised_at=self.now,
                occurred_at=ev["at"],
                notify_at=self.now if notify else None,
            )
        )

    def run(self, ev: dict[str, Any], p: UserAccessProfile) -> None:
        rules = self.rules[ev["tenant_id"]]
        conf = rules.conf
        at: datetime = ev["at"]
        p.events_seen += 1
        if ev["kind"] == EventKind.AUTH_FAILED:
            if p.fail_window_start is None or at - p.fail_window_start > rules.fail_window:
                p.fail_window_start, p.fail_count = at, 0
            p.fail_count += 1
            if p.fail_count == conf.auth_failures:
                self.alert(
                    ev,
                    AlertKind.AUTH_FAILURES,
                    Severity.HIGH,
                    rules,
                    count=p.fail_count,
                    window_minutes=conf.auth_failure_minutes,
                )
            return
        local = at.astimezone(rules.tz)
        within_hours = local.weekday() in rules.days and (
            conf.business_start <= local.time() < conf.business_end
        )
        if not within_hours and p.offhours_alerted_on != local.date():
            p.offhours_alerted_on = local.date()
            risky = ev["kind"] in (EventKind.EXPORT, EventKind.ADMIN, EventKind.WRITE)
            self.alert(
                ev,
                AlertKind.OFF_HOURS,
                Severity.MEDIUM if risky else Severity.LOW,
                rules,
                local_at=local.replace(tzinfo=None).isoformat(timespec="minutes"),
                time_zone=str(rules.tz),
            )
        country = ev["country"]
        if country:
            known = list(p.countries or [])
            if country not in known:
                if known:
                    self.alert(
                        ev,
                        AlertKind.NEW_COUNTRY,
                        Severity.MEDIUM,
                        rules,
                        country=country,
                        place=ev["city"],
                        known=sorted(known),
                    )
                p.countries = ([*known, country])[-MAX_COUNTRIES:]
        lat, lon = ev["lat"], ev["lon"]
        if lat is not None and lon is not None:
            if p.last_at is not None and p.last_lat is not None and p.last_lon is not None:
                gap = abs(at - p.last_at)
                if gap <= rules.travel:
                    km = haversine_km(p.last_lat, p.last_lon, lat, lon)
                    if km > conf.travel_km:
                        self.alert(
                            ev,
                            AlertKind.IMPOSSIBLE_TRAVEL,
                            Severity.HIGH if km < 2 * conf.travel_km else Severity.CRITICAL,
                            rules,
                            km=round(km),
                            minutes=round(gap.total_seconds() / 60, 1),
                            **{"from": p.last_place or "?", "to": ev["city"] or country or "?"},
                        )
            if p.last_at is None or at >= p.last_at:
                p.last_at, p.last_lat, p.last_lon = at, lat, lon
                p.last_place = (ev["city"] or country or "")[:80]
        if ev["kind"] == EventKind.EXPORT:
            if p.export_window_start is None or at - p.export_window_start > rules.export_window:
                p.export_window_start, p.export_rows, p.export_bytes = at, 0, 0
                p.export_alerted = False
            p.export_rows += int(ev["rows"] or 0)
            p.export_bytes += int(ev["bytes"] or 0)
            if not p.export_alerted and (
                p.export_rows >= conf.export_rows or p.export_bytes >= conf.export_bytes
            ):
                p.export_alerted = True
                self.alert(
                    ev,
                    AlertKind.BULK_EXPORT,
                    Severity.HIGH,
                    rules,
                    rows=p.export_rows,
                    mb=round(p.export_bytes / 1_048_576, 1),
                    window_minutes=conf.export_window_minutes,
                )


def _profiles(events: list[dict[str, Any]]) -> dict[tuple[int, int], UserAccessProfile]:
    pairs = {(e["tenant_id"], e["user_id"]) for e in events if e["user_id"] is not None}
    if not pairs:
        return {}
    users = {u for _, u in pairs}
    tenants = {t for t, _ in pairs}
    found = {
        (p.tenant_id, p.user_id): p
        for p in UserAccessProfile.objects.filter(user_id__in=users, tenant_id__in=tenants)
    }
    for pair in pairs - found.keys():
        found[pair] = UserAccessProfile(tenant_id=pair[0], user_id=pair[1], countries=[])
    return found


_UPSERT_SQL = (
    "INSERT INTO analytics_useraccessprofile (tenant_id, user_id, countries, last_at, last_lat, "
    "last_lon, last_place, fail_window_start, fail_count, export_window_start, export_rows, "
    "export_bytes, export_alerted, offhours_alerted_on, events_seen) "
    "SELECT t, u, c::jsonb, la, lat, lon, lp, fws, fc, ews, er, eb, ea, oh, es FROM unnest("
    "%s::bigint[], %s::bigint[], %s::text[], %s::timestamptz[], %s::float8[], %s::float8[], "
    "%s::text[], %s::timestamptz[], %s::bigint[], %s::timestamptz[], %s::bigint[], "
    "%s::bigint[], %s::bool[], %s::date[], %s::bigint[]) "
    "AS v(t, u, c, la, lat, lon, lp, fws, fc, ews, er, eb, ea, oh, es) "
    "ON CONFLICT (tenant_id, user_id) DO UPDATE SET countries = EXCLUDED.countries, "
    "last_at = EXCLUDED.last_at, last_lat = EXCLUDED.last_lat, last_lon = EXCLUDED.last_lon, "
    "last_place = EXCLUDED.last_place, fail_window_start = EXCLUDED.fail_window_start, "
    "fail_count = EXCLUDED.fail_count, export_window_start = EXCLUDED.export_window_start, "
    "export_rows = EXCLUDED.export_rows, export_bytes = EXCLUDED.export_bytes, "
    "export_alerted = EXCLUDED.export_alerted, "
    "offhours_alerted_on = EXCLUDED.offhours_alerted_on, events_seen = EXCLUDED.events_seen"
)


def _profiles_save(rows: list[UserAccessProfile]) -> None:
    """Write the batch's profiles in one statement: on PostgreSQL an upsert over arrays (15
    parameters, whatever the batch size); elsewhere Django's upsert per 1,000 rows."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        columns: list[list[Any]] = [[] for _ in range(15)]
        for p in rows:
            values = (
                p.tenant_id,
                p.user_id,
                json.dumps(p.countries or []),
                p.last_at,
                p.last_lat,
                p.last_lon,
                p.last_place,
                p.fail_window_start,
                p.fail_count,
                p.export_window_start,
                p.export_rows,
                p.export_bytes,
                p.export_alerted,
                p.offhours_alerted_on,
                p.events_seen,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT_SQL, columns)
        return
    for p in rows:
        p.pk = None  # conflict on (tenant, user), never on the id
    UserAccessProfile.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["tenant", "user"],
        update_fields=PROFILE_FIELDS,
    )


def _events_mark(ids: list[int], now: datetime) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE analytics_accessevent SET detected_at = %s WHERE id = ANY(%s::bigint[])",
                [now, ids],
            )
        return
    for start in range(0, len(ids), 2000):
        AccessEvent.objects.filter(id__in=ids[start : start + 2000]).update(detected_at=now)


def anomalies_detect(*, limit: int = BATCH, now: datetime | None = None) -> DetectResult:
    """Run the rules over the next batch of events; returns how many were looked at."""
    now = now or timezone.now()
    result = DetectResult()
    with unscoped(reason="anomaly detection: a batch of events of every tenant"):
        with transaction.atomic():
            if not _lock():
                result.busy = True
                return result
            events = list(
                AccessEvent.objects.filter(detected_at__isnull=True)
                .order_by("id")
                .values(*EVENT_FIELDS)[:limit]
            )
            if not events:
                return result
            events.sort(key=lambda e: (e["at"], e["id"]))
            rules = _rules({e["tenant_id"] for e in events})
            profiles = _profiles(events)
            detector = _Detector(rules, now)
            for ev in events:
                if ev["user_id"] is None or ev["tenant_id"] not in rules:
                    continue
                detector.run(ev, profiles[(ev["tenant_id"], ev["user_id"])])
            _profiles_save(list(profiles.values()))
            _label_alerts(detector.alerts)
            created = AnomalyAlert.objects.bulk_create(detector.alerts)
            _events_mark([e["id"] for e in events], now)
            if created:
                from apps.certification.analytics.services.alerts import alerts_raised

                alerts_raised(alerts=created, rules={k: v.conf for k, v in rules.items()})
            result.events = len(events)
            result.alerts = len(created)
            result.alert_ids = [a.pk for a in created]
        _grants_touch(events, now)
    return result


def _label_alerts(alerts: list[AnomalyAlert]) -> None:
    """Put the person's name in the details (alerts outlive renames; the audit needs it)."""
    from apps.identity.models import User

    ids = {a.user_id for a in alerts if a.user_id}
    if not ids:
        return
    labels = {
        pk: (email, name)
        for pk, email, name in User.objects.filter(pk__in=ids).values_list(
            "pk", "email", "full_name"
        )
    }
    for a in alerts:
        email, name = labels.get(a.user_id or 0, ("", ""))
        a.details["person"] = f"{name} <{email}>" if name else email


def _grants_touch(events: list[dict[str, Any]], now: datetime) -> int:
    """Refresh Grant.last_used_at (through the access service) for grants the events used:
    named directly, or held for the entitlement an application reported. At most once an hour
    per grant, so a busy person does not turn every access into an UPDATE."""
    from apps.access.models import Grant, RoleEntitlement
    from apps.access.services import grant_touch

    named: dict[int, datetime] = {}
    wanted: dict[tuple[int, int], set[int]] = {}
    for e in events:
        if e["kind"] == EventKind.AUTH_FAILED:
            continue
        if e["grant_id"]:
            named[e["grant_id"]] = max(named.get(e["grant_id"], e["at"]), e["at"])
        elif e["entitlement_id"] and e["user_id"]:
            wanted.setdefault((e["tenant_id"], e["user_id"]), set()).add(e["entitlement_id"])
    cutoff = now - TOUCH_EVERY
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff)
    touched = 0
    with unscoped(reason="grant usage from access events of several tenants"):
        grants = list(Grant.objects.filter(stale, pk__in=list(named)).only("pk", "tenant_id"))
        if wanted:
            users = {u for _, u in wanted}
            ents = set().union(*wanted.values())
            role_ents: dict[int, set[int]] = {}
            for role_id, ent_id in RoleEntitlement.objects.filter(
                entitlement_id__in=ents
            ).values_list("role_id", "entitlement_id"):
                role_ents.setdefault(role_id, set()).add(ent_id)
            candidates = Grant.objects.filter(
                stale,
                Q(entitlement_id__in=ents) | Q(role_id__in=list(role_ents)),
                user_id__in=users,
                revoked_at__isnull=True,
                suspended_at__isnull=True,
            ).only("pk", "tenant_id", "user_id", "entitlement_id", "role_id")
            for g in candidates:
                held = {g.entitlement_id} if g.entitlement_id else role_ents.get(g.role_id, set())
                if held & wanted.get((g.tenant_id, g.user_id), set()):
                    grants.append(g)
        seen: set[int] = set()
        for g in grants:
            if g.pk in seen:
                continue
            seen.add(g.pk)
            try:
                grant_touch(grant=g, at=named.get(g.pk, now))
                touched += 1
            except Exception:  # usage bookkeeping never fails the batch
                logger.warning("could not record use of grant %s", g.pk)
    return touched
