"""Writes of access analytics (events, detection, alerts, findings, role mining, settings)."""

from apps.certification.analytics.services.alerts import (
    TriageAction,
    alert_notify,
    alert_triage,
    alerts_notify_due,
)
from apps.certification.analytics.services.detection import (
    anomalies_detect,
    haversine_km,
    settings_for,
)
from apps.certification.analytics.services.events import (
    access_event_record,
    access_events_record_bulk,
    geo_locate,
)
from apps.certification.analytics.services.findings import findings_compute, findings_refresh
from apps.certification.analytics.services.mining import (
    mine,
    role_candidate_accept,
    role_candidate_dismiss,
    role_mining_run,
)
from apps.certification.analytics.services.settings import analytics_settings_save

__all__ = [
    "TriageAction",
    "access_event_record",
    "access_events_record_bulk",
    "alert_notify",
    "alert_triage",
    "alerts_notify_due",
    "analytics_settings_save",
    "anomalies_detect",
    "findings_compute",
    "findings_refresh",
    "geo_locate",
    "haversine_km",
    "mine",
    "role_candidate_accept",
    "role_candidate_dismiss",
    "role_mining_run",
    "settings_for",
]
