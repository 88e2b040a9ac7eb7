"""Recording access events: one INSERT per event (or one bulk INSERT for a reported batch);
the detector picks them up in batches (apps.certification.analytics.services.detection).

Where an event comes from: the portal and API middleware and the sign-in signals
(apps.certification.analytics.hooks), and the customer's applications through
`POST /api/v1/t/<tenant>/access-events` (they know what a person read, wrote or exported).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.core.cache import cache as django_cache
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.access.services.common import scope_for
from apps.certification.analytics.models import AccessEvent, EventChannel, EventKind
from apps.core.exceptions import DomainError

logger = logging.getLogger("custos.analytics")

DEFAULT_GEO_PROVIDER = "apps.licenses.geo.OfflineGeoProvider"
KICK_KEY = "custos:analytics:detect-kick"


@dataclass(frozen=True, slots=True)
class Place:
    label: str
    country: str
    lat: float
    lon: float


@cache
def _geo(path: str) -> Any:
    return import_string(path)()


def geo_locate(ip: str) -> Place | None:
    """Where an IP address is, through the configured provider (the licences app's offline
    table by default; production points ANALYTICS_GEO_PROVIDER at a GeoIP database)."""
    if not ip:
        return None
    try:
        point = _geo(getattr(settings, "ANALYTICS_GEO_PROVIDER", DEFAULT_GEO_PROVIDER)).locate_ip(
            ip
        )
    except Exception:  # a broken geo database must not stop recording
        logger.warning("geolocation failed for an address")
        return None
    if point is None:
        return None
    return Place(str(point.label), str(point.country), float(point.lat), float(point.lon))


def detection_kick() -> None:
    """Ask for a detection run soon after commit, at most once a second per cache (the beat
    sweeper runs anyway: a lost kick delays detection by one sweep interval, never forever)."""
    if not getattr(settings, "ANALYTICS_DETECT_ON_RECORD", True):
        return
    if not django_cache.add(KICK_KEY, 1, timeout=1):
        return

    def send() -> None:
        try:
            from apps.certification.analytics.tasks import anomalies_detect_task

            anomalies_detect_task.delay()
        except Exception:  # the broker being away must not break the caller
            logger.warning("could not queue anomaly detection; the sweeper will run it")

    transaction.on_commit(send)


class EventInvalid(DomainError):
    status_code = 422


def _clean_kind(kind: str) -> str:
    if kind not in EventKind.values:
        raise EventInvalid(f"unknown event kind {kind!r}", code="event_kind")
    return kind


def _build(
    *,
    tenant_id: int,
    kind: str,
    user: Any = None,
    principal: str = "",
    channel: str = EventChannel.PORTAL,
    at: datetime | None = None,
    ip: str = "",
    country: str = "",
    lat: float | None = None,
    lon: float | None = None,
    place: str = "",
    environment: Any = None,
    entitlement: Any = None,
    grant: Any = None,
    environment_id: int | None = None,
    entitlement_id: int | None = None,
    rows: int | None = None,
    size: int | None = None,
    detail: str = "",
) -> AccessEvent:
    if not country or lat is None or lon is None:
        located = geo_locate(ip)
        if located is not None:
            country = country or located.country
            lat = located.lat if lat is None else lat
            lon = located.lon if lon is None else lon
            place = place or located.label
    return AccessEvent(
        tenant_id=tenant_id,
        user=user if getattr(user, "pk", None) else None,
        principal=principal[:120],
        at=at or timezone.now(),
        kind=_clean_kind(kind),
        channel=channel,
        ip=ip or None,
        country=(country or "")[:2].upper(),
        city=place[:80],
        lat=lat,
        lon=lon,
        environment_id=getattr(environment, "pk", environment_id),
        entitlement_id=getattr(entitlement, "pk", entitlement_id),
        grant_id=getattr(grant, "pk", None),
        rows=rows,
        bytes=size,
        detail=detail[:200],
    )


def access_event_record(*, tenant: Any, kind: str, **fields: Any) -> AccessEvent:
    """Record one access in `tenant` (keyword fields: user, principal, channel, at, ip,
    country, lat, lon, place, environment, entitlement, grant, rows, size, detail). Not audited:
    the event log is the record; what it triggers (alerts) is."""
    tenant_id = int(getattr(tenant, "pk", tenant))
    event = _build(tenant_id=tenant_id, kind=kind, **fields)
    with scope_for(tenant):
        event.save(force_insert=True)
    detection_kick()
    return event


def access_events_record_bulk(*, tenant: Any, events: list[dict[str, Any]]) -> int:
    """Record a batch reported by an application in one INSERT."""
    tenant_id = int(getattr(tenant, "pk", tenant))
    rows = [_build(tenant_id=tenant_id, **spec) for spec in events]
    with scope_for(tenant), transaction.atomic():
        AccessEvent.objects.bulk_create(rows, batch_size=1000)
    detection_kick()
    return len(rows)
