"""Shared pieces of the federation services: errors, permission check, defaults."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils.translation import gettext as _

from apps.core.exceptions import DomainError, PermissionDenied
from apps.core.tenancy import tenant_context
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant

REPLAY_DRIFT = timedelta(minutes=5)
METADATA_MAX_BYTES = 2 * 1024 * 1024

# Internal profile fields and the IdP attribute names tried when no mapping is configured.
DEFAULT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "mail",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ),
    "name": ("name", "displayName", "cn", "urn:oid:2.16.840.1.113730.3.1.241"),
    "department": ("department", "urn:oid:2.5.4.11", "ou"),
    "title": ("title", "jobTitle"),
    "region": ("region",),
    "cost_centre": ("cost_centre", "costCenter", "cost_center"),
    "manager": ("manager", "manager_email"),
}
PROFILE_FIELDS = tuple(DEFAULT_ATTRIBUTES)


class FederationError(DomainError):
    """A federated sign-in or a configuration change was refused."""

    status_code = 400


class FederatedSignInRefused(FederationError):
    status_code = 403

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(
            message
            or _(
                "Sign-in through your identity provider was refused. Ask your administrator "
                "to check the connection, or try again."
            ),
            code=reason,
        )
        self.reason = reason


def _require_admin(actor: Any, tenant: Tenant) -> None:
    if getattr(actor, "is_superuser", False):
        return
    with tenant_context(tenant):
        ok = Membership.objects.filter(
            user_id=getattr(actor, "pk", None), role__in=ADMIN_ROLES, is_active=True
        ).exists()
    if not ok:
        raise PermissionDenied(_("Only this tenant's administrators may change federation."))
