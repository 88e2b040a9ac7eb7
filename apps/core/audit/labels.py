"""Human, translated names of audit actions (the log stores the stable machine name, e.g.
"membership.added"; pages show "Member added" in the reader's language). Actions without an
entry fall back to their machine name."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ACTION_LABELS: dict[str, Promise] = {
    "login.succeeded": _("Signed in"),
    "login.failed": _("Sign-in failed"),
    "login.mfa_failed": _("Second factor failed"),
    "login.locked": _("Sign-in locked"),
    "logout": _("Signed out"),
    "mfa.enrolled": _("Second factor enrolled"),
    "mfa.reset": _("Second factor reset"),
    "mfa.backup_codes_generated": _("Backup codes generated"),
    "password.changed": _("Password changed"),
    "password.reset_requested": _("Password reset requested"),
    "sessions.revoked": _("Sessions ended"),
    "preferences.changed": _("Preferences changed"),
    "user.created": _("User created"),
    "user.changed": _("User changed"),
    "user.joined": _("User joined"),
    "user.disabled": _("User disabled"),
    "user.enabled": _("User enabled"),
    "tenant.created": _("Tenant created"),
    "tenant.status_changed": _("Tenant status changed"),
    "contract.created": _("Contract created"),
    "environment.created": _("Environment created"),
    "membership.added": _("Member added"),
    "membership.removed": _("Member removed"),
    "membership.reactivated": _("Member reactivated"),
    "membership.role_changed": _("Member's role changed"),
    "audit.searched": _("Audit log searched"),
    "audit.exported": _("Audit log exported"),
    "access_request.approved": _("Access request approved"),
    "access_request.revoked": _("Access request revoked"),
    "access.grant.created": _("Access granted"),
    "access.grant.revoked": _("Access revoked"),
    "access.grant.expired": _("Access expired"),
    "seat.allocated": _("Licence seat allocated"),
    "seat.released": _("Licence seat released"),
    "api_key.created": _("API key created"),
    "api_key.revoked": _("API key revoked"),
    "api_key.rotated": _("API key rotated"),
}


def action_label(action: str) -> str:
    """The reader's-language name of `action`, or `action` itself when it has none."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action
