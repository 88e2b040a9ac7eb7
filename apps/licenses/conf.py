"""Settings of the licences and onboarding app, with their defaults (seed material: 50 req/s
per tenant, 250 req/s overall, batches of 100, 3 attempts with backoff up to 5 s, 90 % pool
caps, tightened signup checks above 5,000 a day, > 2,000 km within 10 minutes)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "LICENSES_TENANT_RATE": 50,  # provisioning requests per second and tenant
    "LICENSES_TENANT_BURST": 50,
    "LICENSES_GLOBAL_RATE": 250,  # ... and for all tenants together
    "LICENSES_GLOBAL_BURST": 250,
    "LICENSES_QUEUE_ALERT_THRESHOLD": 500,
    "LICENSES_BATCH_SIZE": 100,
    "LICENSES_RETRY_ATTEMPTS": 3,
    "LICENSES_RETRY_BASE_SECONDS": 0.5,
    "LICENSES_RETRY_MAX_SECONDS": 5.0,
    "LICENSES_JOB_LEASE_SECONDS": 120,
    "LICENSES_IDEMPOTENCY_STALE_SECONDS": 120,
    "LICENSES_IDEMPOTENCY_RETENTION_HOURS": 48,
    "LICENSES_RESERVE_DRAW_MAX": 25,
    "LICENSES_FORECAST_WINDOW_HOURS": 24,
    "LICENSES_REVIEW_SLA_HOURS": 4,
    "LICENSES_SIGNUPS_TIGHTEN_PER_DAY": 5000,
    "LICENSES_GEO_DISTANCE_KM": 2000,
    "LICENSES_GEO_WINDOW_MINUTES": 10,
    "LICENSES_CLUSTER_WINDOW_MINUTES": 30,
    "LICENSES_CLUSTER_THRESHOLD": 3,
    "LICENSES_REVIEW_SCORE": 40,
    "LICENSES_REVIEW_SCORE_TIGHTENED": 20,
    "LICENSES_DISPOSABLE_URL": "",
    "LICENSES_DISPOSABLE_FILE": "",  # refreshed list; default VAR_DIR/licenses/disposable.txt
    "LICENSES_GEO_PROVIDER": "apps.licenses.geo.OfflineGeoProvider",
    "LICENSES_IMPORT_MAX_ROWS": 100_000,
    "LICENSES_IMPORT_MAX_BYTES": 20 * 1024 * 1024,
    "LICENSES_IMPORT_BATCH": 200,
    "LICENSES_IMPORT_INLINE": False,  # run confirmed imports in the request (tests, demo)
    "LICENSES_DRAIN_INTERVAL_SECONDS": 2,
    "LICENSES_NOTIFY": "mail",  # "mail" (after commit), "off"
    "LICENSES_WELCOME_BUFFER_SIZE": 1,  # people per welcome-mail message (1: per transaction)
    "LICENSES_WELCOME_MAX_AGE_SECONDS": 2.0,
}


def conf(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
