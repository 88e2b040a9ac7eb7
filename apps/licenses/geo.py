"""Where an IP address and a declared location are, for the signup distance check.

The default `OfflineGeoProvider` reads two small CSV tables shipped in apps/licenses/data (the
documentation address ranges and a few cities): enough for tests and the demo. Production plugs
in a real GeoIP database by pointing LICENSES_GEO_PROVIDER at a class with the same two methods
(e.g. a MaxMind GeoLite2 reader) — see docs/licenses.md.
"""

from __future__ import annotations

import csv
import ipaddress
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from django.utils.module_loading import import_string

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class GeoPoint:
    label: str
    country: str
    lat: float
    lon: float


class GeoProvider(Protocol):
    def locate_ip(self, ip: str) -> GeoPoint | None: ...

    def locate_place(self, place: str) -> GeoPoint | None: ...


def _rows(name: str) -> list[list[str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [r for r in csv.reader(handle) if r and not r[0].startswith("#")]


class OfflineGeoProvider:
    def __init__(self) -> None:
        self.networks = [
            (ipaddress.ip_network(r[0]), GeoPoint(r[1], r[2], float(r[3]), float(r[4])))
            for r in _rows("geo_ip_offline.csv")
        ]
        self.places = {
            r[0].strip().lower(): GeoPoint(r[0], r[1], float(r[2]), float(r[3]))
            for r in _rows("geo_places.csv")
        }

    def locate_ip(self, ip: str) -> GeoPoint | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for network, point in self.networks:
            if address.version == network.version and address in network:
                return point
        return None

    def locate_place(self, place: str) -> GeoPoint | None:
        name = place.split(",")[0].strip().lower()
        return self.places.get(name)


@cache
def _provider(path: str) -> GeoProvider:
    return import_string(path)()  # type: ignore[no-any-return]


def geo_provider() -> GeoProvider:
    from apps.licenses.conf import conf

    return _provider(str(conf("LICENSES_GEO_PROVIDER")))


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))
