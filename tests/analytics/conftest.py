"""Analytics tests reuse the access tests' small catalog (tests/access/conftest.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.access.conftest import Catalog, catalog  # noqa: F401 - fixture re-export

BERLIN = ZoneInfo("Europe/Berlin")
# apps/licenses/data/geo_ip_offline.csv (the default offline geolocation table)
IP_BERLIN = "192.0.2.10"
IP_MUNICH = "100.66.0.7"
IP_PARIS = "100.64.0.9"
IP_NEW_YORK = "198.51.100.5"
IP_SYDNEY = "203.0.113.20"


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in December 2026, Berlin local (2026-12-01 is a Tuesday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def record(tenant_a: Any) -> Any:
    from apps.certification.analytics.services import access_event_record

    def _record(user: Any, kind: str = "read", **fields: Any) -> Any:
        return access_event_record(tenant=tenant_a, kind=kind, user=user, **fields)

    return _record


__all__ = ["BERLIN", "Catalog", "berlin"]
