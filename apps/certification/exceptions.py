"""Refusals of certification: DomainError subclasses whose message says what to do."""

from __future__ import annotations

from apps.core.exceptions import DomainError


class CertificationError(DomainError):
    status_code = 400


class ScopeEmpty(CertificationError):
    """The campaign's scope has no grant to review."""


class CampaignClosed(CertificationError):
    """The campaign is not open for decisions (closed, or not launched yet)."""

    status_code = 409


class NotAssigned(CertificationError):
    """The item is not assigned to the person acting."""

    status_code = 403


class AlreadyDecided(CertificationError):
    status_code = 409


class LastAdminRule(CertificationError):
    """A revoke would leave the tenant without an admin."""

    status_code = 409


class NotAllowed(CertificationError):
    status_code = 403
