"""Refusals of the access model: DomainError subclasses whose message names the rule."""

from __future__ import annotations

from apps.core.exceptions import DomainError


class AccessValidationError(DomainError):
    """Input that cannot make a grant (no subject, two targets, ends before it starts...)."""

    status_code = 400


class PolicyViolation(DomainError):
    """A standing-access, tenant-status or same-tenant rule refuses the grant."""

    status_code = 400


class SodViolation(PolicyViolation):
    """A separation-of-duties rule in deny mode refuses the grant."""

    status_code = 409


class RuleInvalid(DomainError):
    """An ABAC rule that does not parse (the message says where and why)."""

    status_code = 400
