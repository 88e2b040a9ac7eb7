"""Writes of incident response (every one transactional, permission-checked and audited)."""

from apps.incidents.services.common import IncidentConflict, IncidentError, require_oversight
from apps.incidents.services.incidents import (
    incident_note_add,
    incident_open,
    incident_owners_set,
    incident_postmortem_record,
    incident_scope_set,
    incident_status_set,
    incident_subject_add,
    incident_tenant_add,
    snapshot_take,
)
from apps.incidents.services.notifications import (
    JURISDICTIONS,
    notification_draft,
    notification_reminders_due,
    notification_send,
    notifications_send_due,
)
from apps.incidents.services.policy import policy_change_apply
from apps.incidents.services.restore import (
    RestoreMode,
    accounts_reenable,
    grants_restore,
    incident_signoff_record,
    isolation_lift,
    review_campaign_create,
)
from apps.incidents.services.suspension import (
    SuspensionPreview,
    suspension_execute,
    suspension_preview,
)

__all__ = [
    "JURISDICTIONS",
    "IncidentConflict",
    "IncidentError",
    "RestoreMode",
    "SuspensionPreview",
    "accounts_reenable",
    "grants_restore",
    "incident_note_add",
    "incident_open",
    "incident_owners_set",
    "incident_postmortem_record",
    "incident_scope_set",
    "incident_signoff_record",
    "incident_status_set",
    "incident_subject_add",
    "incident_tenant_add",
    "isolation_lift",
    "notification_draft",
    "notification_reminders_due",
    "notification_send",
    "notifications_send_due",
    "policy_change_apply",
    "require_oversight",
    "review_campaign_create",
    "snapshot_take",
    "suspension_execute",
    "suspension_preview",
]
