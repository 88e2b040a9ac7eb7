"""API scopes: what an API key or OAuth2 client may do. Handlers call `require_scope`."""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

USERS_READ = "users:read"
USERS_WRITE = "users:write"
GRANTS_READ = "grants:read"
GRANTS_WRITE = "grants:write"
REQUESTS_READ = "requests:read"
REQUESTS_WRITE = "requests:write"
DECISIONS = "decisions"
LICENSES_READ = "licenses:read"
AUDIT_READ = "audit:read"
WEBHOOKS_MANAGE = "webhooks:manage"

SCOPES = {
    USERS_READ: _("Read the tenant's users and memberships"),
    USERS_WRITE: _("Onboard users (account, template roles, licences)"),
    GRANTS_READ: _("Read grants (who holds what, until when)"),
    GRANTS_WRITE: _("Create and revoke grants"),
    REQUESTS_READ: _("Read access requests"),
    REQUESTS_WRITE: _("Create access requests"),
    DECISIONS: _("Ask the policy engine for access decisions"),
    LICENSES_READ: _("Read licence pools and seats"),
    AUDIT_READ: _("Read the tenant's audit events"),
    WEBHOOKS_MANAGE: _("Manage webhook endpoints"),
}

SCOPE_CHOICES = [(name, format_lazy("{} — {}", name, label)) for name, label in SCOPES.items()]
READ_SCOPES = frozenset(s for s in SCOPES if s.endswith(":read"))

# A signed-in person calling the API has the scopes their role in the tenant implies.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "customer_admin": frozenset(SCOPES),
    "delegated_admin": frozenset(SCOPES),
    "approver": frozenset({USERS_READ, GRANTS_READ, REQUESTS_READ, REQUESTS_WRITE, DECISIONS}),
    "reviewer": frozenset({USERS_READ, GRANTS_READ, REQUESTS_READ, DECISIONS}),
    "member": frozenset({REQUESTS_READ, REQUESTS_WRITE, DECISIONS}),
}


def scopes_clean(values: object) -> list[str]:
    """Known scopes, de-duplicated, in catalogue order; raises ValueError for unknown ones."""
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, list | tuple | set | frozenset):
        raise ValueError("scopes must be a list")
    wanted = {str(v) for v in values}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    return [s for s in SCOPES if s in wanted]
