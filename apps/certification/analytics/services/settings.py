"""The tenant's analytics settings (thresholds), changed by its admins; audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict

from apps.certification.analytics.models import AnalyticsSettings
from apps.certification.analytics.services.detection import settings_for
from apps.certification.analytics.services.mining import _require_admin
from apps.core.audit.services import audit_event_record

EDITABLE = (
    "unused_days",
    "standing_max_days",
    "business_start",
    "business_end",
    "business_days",
    "travel_km",
    "travel_minutes",
    "export_rows",
    "export_bytes",
    "export_window_minutes",
    "auth_failures",
    "auth_failure_minutes",
    "email_min_severity",
    "webhook_alerts",
    "mining_min_support",
)


def _plain(row: AnalyticsSettings) -> dict[str, Any]:
    return {k: str(v) for k, v in model_to_dict(row, fields=EDITABLE).items()}


def analytics_settings_save(
    *, actor: Any, tenant: Any, values: dict[str, Any]
) -> AnalyticsSettings:
    from apps.access.services.common import scope_for

    _require_admin(actor, tenant)
    with scope_for(tenant), transaction.atomic():
        row = settings_for(tenant)
        before = _plain(row)
        for name in EDITABLE:
            if name in values:
                setattr(row, name, values[name])
        row.full_clean(exclude=["tenant"])
        row.save()
        after = _plain(row)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if changed:
            audit_event_record(
                action="analytics.settings.changed",
                actor=actor,
                tenant=tenant,
                target=row,
                before={k: before[k] for k in changed},
                after=changed,
            )
    return row
